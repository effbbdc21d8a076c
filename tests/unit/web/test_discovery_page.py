"""The word discovery page over HTTP, over real discovery data (two runs through the deployed
entry points on a folder source, bundles loaded from a CSV, mappings stored through the
store's contract): what it shows equals what the stores hold (runs and their word counts,
the newest run's status, each bundle's coverage, the relevance histogram, whose bins add up
to every mapping); unknown runs and bundles are a 404 page, hostile addresses a 4xx and
never a traceback, and nothing is shown before sign-in."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from contexts import PROVIDER_KEYS
from discovery_support import deliver, make_clip_folder
from labelling_support import web_app

from shared.bootstrap import build_context
from shared.config import Settings
from shared.discovery.bundles import load_bundles
from shared.discovery.runs import RUNS, DiscoveryRequest, start_run
from shared.discovery.status import run_status
from shared.discovery.store import (
    SCORE_BINS,
    WORD_TO_VIDEO,
    WORDS,
    MappingRecord,
    create_mapping,
    register_words,
)
from shared.learning import invite

BUNDLES_CSV = (
    "bundle,word,language\n"
    "TOEFL Beginner,abandon,en\n"
    "TOEFL Beginner,ability,en\n"
    "TOEFL Beginner,brave,en\n"
    "TOEFL Beginner,zebra,en\n"
    "TOEFL Beginner,quixotic,en\n"
    "Business English,ability,en\n"
    "Business English,give up,en\n"
)
# scores on every edge of the tenths, to a word of a bundle and to one of no bundle
EXTRA = [("give up", s) for s in (0.0, 0.1, 0.35, 0.5999, 0.6, 0.95, 1.0)] + [("café", 0.42)]


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


def seed(services: Any, folder: Any) -> list[str]:
    """Two runs, the bundles, and mappings on the edges of the tenths; the runs' ids."""
    first = start_run(
        services,
        DiscoveryRequest(words=("abandon", "ability", "brave", "zebra"), source=str(folder)),
        rate=None,
    )
    deliver(services)
    second = start_run(services, DiscoveryRequest(words=("brave",), source=str(folder)), rate=None)
    deliver(services)
    bundles = folder.parent / "bundles.csv"
    bundles.write_text(BUNDLES_CSV)
    load_bundles(services.documents, bundles)
    register_words(services.documents, [("café", "en")])
    for index, (word, score) in enumerate(EXTRA):
        outcome = create_mapping(
            services.documents,
            MappingRecord(word, "en", f"vtest{index}", score, "metadata", None, False, "test"),
        )
        assert outcome == "created"
    return [first.run, second.run]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Any, str, requests.Session, list[str]]]:
    root = tmp_path_factory.mktemp("discovery-page")
    folder = make_clip_folder(root / "clips")
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROVIDER_KEYS:
            patch.delenv(variable, raising=False)
        settings = Settings(
            _env_file=None,
            home=root / "home",
            log_level="CRITICAL",
            min_backoff_seconds=0.01,
            max_backoff_seconds=0.05,
        )
        services = build_context(settings)
        try:
            runs = seed(services, folder)
            with web_app(services) as base:
                yield services, base, signed_in(base, invite(services.documents, "viv")), runs
        finally:
            services.close()


def tenth(score: float) -> int:
    return min(SCORE_BINS - 1, int(score * SCORE_BINS))


def stored_mappings(documents: Any) -> list[dict[str, Any]]:
    return [m.data for m in documents.iter_collection(WORD_TO_VIDEO)]


def embedded(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="discovery-data" type="application/json">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))


def test_the_report_equals_the_stores(site):
    services, base, viewer, run_ids = site
    documents = services.documents

    report = viewer.get(f"{base}/api/discovery", timeout=30).json()

    # the runs, newest first, with their words counted by status
    assert [r["run"] for r in report["runs"]] == list(reversed(run_ids))
    for run in report["runs"]:
        statuses = Counter(
            w.data["status"] for w in documents.iter_collection(f"{RUNS}/{run['run']}/words")
        )
        assert (run["searched"], run["failed"]) == (statuses["searched"], statuses["failed"])
        assert run["waiting"] == run["queued"] - run["searched"] - run["failed"] == 0
    # the newest run's status is what `discover status` prints
    latest = report["latest"]
    assert latest["record"]["run"] == run_ids[-1]
    assert latest["status"] == run_status(services, run_ids[-1]).model_dump(mode="json")

    # every mapping is in one bin, and each bin holds the mappings of its tenth
    mappings = stored_mappings(documents)
    histogram = report["histogram"]
    assert sum(b["mappings"] for b in histogram["bins"]) == histogram["mappings"]
    assert histogram["mappings"] == len(mappings) > len(EXTRA)
    assert histogram["outside"] == 0
    expected = Counter(tenth(m["relevance_score"]) for m in mappings)
    assert [b["mappings"] for b in histogram["bins"]] == [expected[i] for i in range(SCORE_BINS)]
    assert [(b["low"], b["high"]) for b in histogram["bins"]] == [
        (i / 10, (i + 1) / 10) for i in range(SCORE_BINS)
    ]

    # each bundle: its words, those with a mapping, its mappings and their tenths
    by_word = Counter((m["word"], m["language"]) for m in mappings)
    words = [w.data for w in documents.iter_collection(WORDS)]
    bundles = {b["bundle"]: b for b in report["bundles"]}
    assert set(bundles) == {"toefl-beginner", "business-english"}
    for name, shown in bundles.items():
        own = [w for w in words if name in w["bundles"]]
        covered = [w for w in own if by_word[(w["word"], w["language"])]]
        assert shown["words"] == len(own)
        assert shown["covered"] == len(covered) > 0
        assert shown["missing"] == len(own) - len(covered)
        assert shown["mappings"] == sum(by_word[(w["word"], w["language"])] for w in own)
        keys = {(w["word"], w["language"]) for w in own}
        tenths = Counter(tenth(m["relevance_score"]) for m in mappings
                         if (m["word"], m["language"]) in keys)  # fmt: skip
        assert shown["score_distribution"] == [tenths[i] for i in range(SCORE_BINS)]
        assert sum(shown["score_distribution"]) == shown["mappings"]
    assert set(bundles["toefl-beginner"]["missing_words"]) == {"quixotic", "zebra"}
    assert bundles["business-english"]["missing"] == 0


def test_the_pages_show_the_same_numbers(site):
    services, base, viewer, run_ids = site
    report = viewer.get(f"{base}/api/discovery", timeout=30).json()

    page = viewer.get(f"{base}/discovery", timeout=30)

    assert page.status_code == 200
    assert 'aria-current="page">Discovery<' in page.text
    for chart in ("chart-relevance", "chart-coverage"):
        assert f'id="{chart}"' in page.text
    assert "/static/discovery.js" in page.text
    assert "<script>" not in page.text  # no inline script (the policy allows none)
    assert viewer.get(f"{base}/static/discovery.js", timeout=10).status_code == 200
    charts = embedded(page.text)
    assert charts["histogram"]["counts"] == [b["mappings"] for b in report["histogram"]["bins"]]
    assert charts["histogram"]["labels"][0] == "0.0\u20130.1"
    assert charts["coverage"]["covered"] == [b["covered"] for b in report["bundles"]]
    assert charts["coverage"]["missing"] == [b["missing"] for b in report["bundles"]]
    for run in run_ids:
        assert f'href="/discovery/runs/{run}"' in page.text
    assert "quixotic" in page.text

    run = viewer.get(f"{base}/discovery/runs/{run_ids[0]}", timeout=30)
    assert run.status_code == 200
    status = run_status(services, run_ids[0])
    assert f"{status.done}/{status.queued} words done" in run.text
    assert "found no clip" in run.text  # zebra
    assert status.refusals
    for reason, count in status.refusals.items():  # why words were not mapped
        assert f'<td>{reason}</td><td class="num">{count}</td>' in run.text
    assert viewer.get(f"{base}/api/discovery/runs/{run_ids[0]}", timeout=30).json()[
        "status"
    ] == status.model_dump(mode="json")

    bundle = viewer.get(f"{base}/discovery/bundles/toefl-beginner", timeout=30)
    assert bundle.status_code == 200
    shown = viewer.get(f"{base}/api/discovery/bundles/toefl-beginner", timeout=30).json()
    assert shown == requests.get(f"{base}/v3/bundles/toefl-beginner/coverage", timeout=30).json()
    assert f'<dd id="bundle-words">{shown["words"]}</dd>' in bundle.text
    assert f'<dd id="bundle-mappings">{shown["mappings"]}</dd>' in bundle.text
    assert embedded(bundle.text)["histogram"]["counts"] == shown["score_distribution"]
    assert "quixotic, zebra" in bundle.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/discovery/runs/disc_19990101_000000_abcd", "no discovery run"),
        ("/discovery/bundles/no-such-bundle", "no bundle"),
        ("/api/discovery/runs/disc_19990101_000000_abcd", "no discovery run"),
        ("/api/discovery/bundles/no-such-bundle", "no bundle"),
    ],
)
def test_unknown_runs_and_bundles_are_not_found(site, path, message):
    _services, base, viewer, _runs = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    assert answer.status_code == 404
    if path.startswith("/api/"):
        assert message in answer.json()["error"]
    else:
        assert message in answer.text
        assert "<h1>Not found</h1>" in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/discovery/runs/%2E%2E",
        "/discovery/runs/__name__",
        "/discovery/runs/a%2Fb",
        "/discovery/runs/..%2F..%2Fwords",
        "/discovery/runs/%00",
        "/discovery/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/discovery/runs/" + "r" * 5000,
        "/discovery/bundles/%2E%2E",
        "/discovery/bundles/__x__",
        "/discovery/bundles/toefl-beginner%2F..",
        "/discovery/bundles/%E2%80%AE%0A",
        "/discovery/bundles/-",
        "/discovery/bundles/%3Cimg%20src%3Dx%3E",
        "/discovery/bundles/" + "b" * 5000,
        "/api/discovery/bundles/%00",
        "/api/discovery/runs/%27%20OR%201%3D1",
        "/discovery/runs/",
        "/discovery?x=%00",
    ],
)
def test_hostile_addresses_are_refused(site, path):
    _services, base, viewer, _runs = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    if path.startswith("/discovery?"):
        assert answer.status_code == 200  # an unknown parameter is ignored
    else:
        assert 400 <= answer.status_code < 500, answer.text[:300]
    assert "Traceback" not in answer.text
    assert "<script>alert" not in answer.text
    assert "<img src=x>" not in answer.text


def test_an_empty_store_and_what_a_run_recorded_are_shown_as_text(make_services):
    services = make_services()
    with web_app(services) as base:
        viewer = signed_in(base, invite(services.documents, "viv"))
        page = viewer.get(f"{base}/discovery", timeout=10)
        assert page.status_code == 200
        assert "No discovery run yet" in page.text
        assert "No bundle loaded" in page.text
        empty = viewer.get(f"{base}/api/discovery", timeout=10).json()
        assert empty["runs"] == []
        assert empty["latest"] is None
        assert [b["mappings"] for b in empty["histogram"]["bins"]] == [0] * SCORE_BINS

        # a word whose search failed, with markup in its reason: shown, as text
        plan = start_run(services, DiscoveryRequest(words=("brave",), source="clipcafe"), rate=None)
        services.documents.update(
            f"{RUNS}/{plan.run}/words/brave",
            {"status": "failed", "error": "<script>alert(1)</script> refused"},
        )
        run = viewer.get(f"{base}/discovery/runs/{plan.run}", timeout=10)
        assert run.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt; refused" in run.text
        assert "<script>alert" not in run.text
        summary = viewer.get(f"{base}/api/discovery", timeout=10).json()["runs"][0]
        assert (summary["failed"], summary["searched"], summary["waiting"]) == (1, 0, 0)


def test_nothing_before_sign_in(site):
    _services, base, _viewer, run_ids = site
    for path in ("/api/discovery", f"/api/discovery/runs/{run_ids[0]}",
                 "/api/discovery/bundles/toefl-beginner"):  # fmt: skip
        answer = requests.get(f"{base}{path}", timeout=10)
        assert answer.status_code == 401
        assert "error" in answer.json()
    for path in ("/discovery", f"/discovery/runs/{run_ids[0]}",
                 "/discovery/bundles/toefl-beginner", "/discovery/bundles/nope"):  # fmt: skip
        answer = requests.get(f"{base}{path}", timeout=10, allow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin")
