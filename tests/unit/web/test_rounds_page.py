"""The active-learning rounds pages over HTTP, over rounds the capability really ran: one
finished round (a small ResNet-18 on tiny synthetic frames, shared by the module's tests),
one that failed, one still running. The list and a round's page show what the round
documents and ``metrics.json`` hold; the plots and the queue's frames are the bucket's
bytes; an unknown round is a 404 page; hostile input is a 4xx, never a traceback; nothing
is shown before sign-in; no page reads a whole collection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
from labelling_support import web_app
from learning_support import add_shape_frames

from shared.bootstrap import build_context
from shared.config import Settings
from shared.learning import cohen_kappa, invite
from shared.learning.rounds import NotEnoughLabelsError, RoundConfig
from shared.learning.roundstore import read_json, record_round, round_path

torch = pytest.importorskip("torch")

from shared.learning.train import run_round  # noqa: E402

pytestmark = pytest.mark.xdist_group("torch")

SMALL = {"architecture": "resnet18", "image_size": 32, "batch_size": 16, "workers": 0,
         "epochs": 3, "lr": 1e-3, "top_k": 5, "min_per_class": 3}  # fmt: skip
PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Any, str, requests.Session]]:
    """Round 0 done, round 1 failed (too few labels for its setting), round 2 running."""
    root = tmp_path_factory.mktemp("rounds")
    with pytest.MonkeyPatch.context() as patch:
        for variable in PROVIDER_KEYS:
            patch.delenv(variable, raising=False)
        services = build_context(Settings(_env_file=None, home=root / "home", log_level="CRITICAL"))
        try:
            add_shape_frames(services, 6, labelled=0.67)  # 4 of 6 clips labelled
            assert (
                run_round(services, RoundConfig(round=0, **SMALL), root / "work").status == "done"
            )
            with pytest.raises(NotEnoughLabelsError):
                run_round(services, RoundConfig(round=1, **{**SMALL, "min_per_class": 50}), root)
            record_round(
                services,
                2,
                {"status": "running", "started_at": datetime.now(UTC), "device": "cuda"},
            )
            with web_app(services) as base:
                yield services, base, signed_in(base, invite(services.documents, "viv"))
        finally:
            services.close()


def documents(services) -> dict[int, dict[str, Any]]:
    return {d.data["round"]: d.data for d in services.documents.iter_collection("learning_rounds")}


def no_whole_collections(services, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"a page read a whole collection: {args}")

    monkeypatch.setattr(services.documents, "iter_collection", refuse)


def test_the_list_shows_every_round_document(site, monkeypatch):
    services, base, viewer = site
    stored = documents(services)
    no_whole_collections(services, monkeypatch)

    listed = viewer.get(f"{base}/api/rounds", timeout=10).json()

    assert [r["round"] for r in listed["rounds"]] == [2, 1, 0]  # the latest first
    assert listed["next_round"] == 1  # after the last finished round, as `learn round` picks
    for row in listed["rounds"]:
        doc = stored[row["round"]]
        assert row["status"] == doc["status"]
        assert row["device"] == doc["device"]
        assert row["error"] == doc.get("error")
        assert row["guidance"] == doc.get("guidance", [])
        assert row["queue_size"] == doc.get("queue_size")
        assert row["test"] == doc.get("summary", {})
        assert datetime.fromisoformat(row["started_at"]) == doc["started_at"]
    done, failed, running = stored[0], stored[1], stored[2]
    assert (done["status"], failed["status"], running["status"]) == ("done", "failed", "running")
    assert listed["rounds"][2]["seconds"] == pytest.approx(
        (done["finished_at"] - done["started_at"]).total_seconds(), abs=0.1
    )
    assert listed["chart"] == {
        "rounds": [0],
        "tasks": {t: [v["test_macro_f1"]] for t, v in done["summary"].items()},
    }

    page = viewer.get(f"{base}/rounds", timeout=10)
    assert page.status_code == 200
    assert '<a href="/rounds" aria-current="page">Rounds</a>' in page.text
    for number in (0, 1, 2):
        assert f'href="/rounds/{number}"' in page.text
    assert "not enough labelled frames" in page.text  # round 1's error
    for advice in done["guidance"]:
        assert advice in page.text
    for task, values in done["summary"].items():
        shown = f"{100 * values['test_accuracy']:.1f}&nbsp;%,&nbsp;{values['test_macro_f1']:.3f}"
        assert f"{task}:&nbsp;{shown}" in page.text
    assert 'id="chart-rounds"' in page.text
    chart = re.search(r'<script id="rounds-data" type="application/json">(.*?)</script>', page.text)
    assert chart is not None
    assert orjson.loads(chart.group(1)) == listed["chart"]
    # no inline script: every script is a file of the app or data
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag


def test_a_round_page_shows_its_metrics(site, monkeypatch):
    services, base, viewer = site
    metrics = read_json(services, round_path(0, "metrics.json"))
    queue = read_json(services, round_path(0, "queue.json"))
    no_whole_collections(services, monkeypatch)

    shown = viewer.get(f"{base}/api/rounds/0", timeout=10).json()

    assert shown["has_metrics"] is True
    assert shown["row"]["status"] == "done"
    assert shown["location"] == f"gs://{services.settings.models_bucket}/rounds/round_00/"
    assert shown["config"] == metrics["config"]
    assert shown["guidance"] == metrics["guidance"]
    assert (shown["examples"], shown["left_out"], shown["scored_frames"]) == (
        metrics["examples"], metrics["left_out"], metrics["scored_frames"],
    )  # fmt: skip
    assert shown["queue_head"] == metrics["queue_head"] == queue["frame_ids"][:10]
    schema = services.settings.label_schema.tasks
    assert [t["task"] for t in shown["tasks"]] == list(schema)  # the schema's order
    for task in shown["tasks"]:
        name = task["task"]
        assert task["classes"] == list(schema[name])
        assert task["classes_known"] is True
        assert task["history"] == metrics["history"][name]
        assert task["started_from"] == metrics["started_from"][name]
        assert task["annotators"] == metrics["kappa"][name]
        assert {p["name"] for p in task["plots"]} == {f"{name}_curves", f"{name}_confusion"}
        assert all(len(p["alt"]) > 40 for p in task["plots"])
        assert set(task["sets"]) == {"train", "validation", "test"}
        for set_name, values in task["sets"].items():
            stored = metrics["sets"][set_name][name]
            for key in ("accuracy", "macro_f1", "confusion", "frames"):
                assert values[key] == stored[key], (name, set_name, key)
            assert list(values["per_class"]) == list(schema[name])
            assert values["per_class"] == {c: stored["per_class"][c] for c in schema[name]}
            # the model's kappa: Cohen's kappa of the predictions against the agreed classes
            truth, said, n = {}, {}, 0
            for i, row in enumerate(stored["confusion"]):
                for j, count in enumerate(row):
                    for _ in range(count):
                        truth[str(n)], said[str(n)], n = str(i), str(j), n + 1
            expected = cohen_kappa(truth, said)
            assert values["kappa"]["frames"] == stored["frames"]
            if expected.kappa is None:
                assert values["kappa"]["kappa"] is None
            else:
                assert values["kappa"]["kappa"] == pytest.approx(expected.kappa)

    page = viewer.get(f"{base}/rounds/0", timeout=10)
    assert page.status_code == 200
    text = page.text
    for advice in metrics["guidance"]["advice"]:
        assert advice in text
    for task in shown["tasks"]:
        name = task["task"]
        test = task["sets"]["test"]
        assert f'id="metrics-{name}"' in text
        assert f'id="confusion-{name}"' in text
        assert f"{100 * test['accuracy']:.1f}&nbsp;%" in text
        assert f"{test['macro_f1']:.3f}" in text
        for plot in task["plots"]:
            src = f'src="/rounds/0/plots/{plot["name"]}.png" alt="{plot["alt"]}"'
            assert src.replace("'", "&#39;") in text
        table = rf'<table class="grid confusion" id="confusion-{name}">(.*?)</table>'
        confusion = re.search(table, text, re.S)
        assert confusion is not None
        cells = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', confusion.group(1))]
        assert cells == [n for row in test["confusion"] for n in row]
    for position, frame in enumerate(shown["queue_head"]):
        assert f'src="/rounds/0/queue/{position}"' in text
        assert frame in text
    assert "Traceback" not in text


def test_the_plots_and_the_queue_frames_are_the_buckets_bytes(site):
    services, base, viewer = site
    bucket = services.settings.models_bucket
    for task in services.settings.label_schema.tasks:
        for kind in ("curves", "confusion"):
            answer = viewer.get(f"{base}/rounds/0/plots/{task}_{kind}.png", timeout=10)
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/png"
            assert answer.content.startswith(b"\x89PNG")
            assert answer.content == services.blobs.read(
                bucket, round_path(0, f"plots/{task}_{kind}.png")
            )
    head = read_json(services, round_path(0, "metrics.json"))["queue_head"]
    assert head
    for position, frame in enumerate(head):
        answer = viewer.get(f"{base}/rounds/0/queue/{position}", timeout=10)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.content == services.blobs.read(services.settings.frames_bucket, frame)


def test_a_failed_and_a_running_round(site):
    services, base, viewer = site
    stored = documents(services)

    failed = viewer.get(f"{base}/api/rounds/1", timeout=10).json()
    assert failed["has_metrics"] is False
    assert failed["row"]["error"] == stored[1]["error"]
    assert failed["tasks"] == []
    page = viewer.get(f"{base}/rounds/1", timeout=10).text
    assert "This round failed: not enough labelled frames" in page
    assert "vidcurate learn round --round 1" in page

    running = viewer.get(f"{base}/rounds/2", timeout=10)
    assert running.status_code == 200
    assert "still running" in running.text
    assert ">cuda<" in running.text


@pytest.mark.parametrize(
    "path",
    [
        "/rounds/7",
        "/api/rounds/7",
        "/rounds/7/plots/perspective_curves.png",
        "/rounds/0/plots/colour_curves.png",
        "/rounds/1/plots/perspective_curves.png",
        "/rounds/0/queue/9",  # the queue's head has 5 frames
        "/rounds/2/queue/0",
    ],
)
def test_what_is_not_there_is_a_404(site, path):
    _services, base, viewer = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    assert answer.status_code == 404
    if path.startswith("/api/"):
        assert answer.json() == {"error": "there is no round 7: vidcurate learn round runs one"}
    elif path == "/rounds/7":
        assert "there is no round 7" in answer.text
        assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/rounds/-1",
        "/rounds/100",
        "/rounds/abc",
        "/rounds/1e3",
        "/rounds/0x1",
        "/rounds/%00",
        "/rounds/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/api/rounds/99999999999999999999999999",
        "/api/rounds/0.5",
        "/rounds/0/plots/..%2F..%2Fmetrics.png",
        "/rounds/0/plots/..%2Fqueue.png",
        "/rounds/0/plots/PERSPECTIVE_curves.png",
        "/rounds/0/plots/perspective_weights.png",
        "/rounds/0/plots/%3Cimg%20src%3Dx%3E_curves.png",
        "/rounds/0/plots/perspective_curves.jpg",
        "/rounds/0/queue/-1",
        "/rounds/0/queue/10",
        "/rounds/0/queue/abc",
        "/rounds/0/queue/..%2F..%2Fetc%2Fpasswd",
    ],
)
def test_hostile_input_is_refused_without_a_traceback(site, path):
    _services, base, viewer = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    assert 400 <= answer.status_code < 500, (path, answer.status_code)
    assert "Traceback" not in answer.text
    assert "<script>alert" not in answer.text
    assert "<img src=x>" not in answer.text


def test_a_round_without_readable_metrics_and_no_rounds_at_all(make_services):
    services = make_services()
    with web_app(services) as base:
        viewer = signed_in(base, invite(services.documents, "viv"))
        empty = viewer.get(f"{base}/rounds", timeout=10)
        assert empty.status_code == 200
        assert "No round yet" in empty.text
        assert "chart.umd.min.js" not in empty.text
        assert viewer.get(f"{base}/api/rounds", timeout=10).json() == {
            "rounds": [],
            "next_round": 0,
            "chart": {"rounds": [], "tasks": {}},
        }

        record_round(services, 3, {"status": "done", "started_at": datetime.now(UTC)})
        services.blobs.write(
            services.settings.models_bucket,
            round_path(3, "metrics.json"),
            b"{not json",
            content_type="application/json",
        )
        page = viewer.get(f"{base}/rounds/3", timeout=10)
        assert page.status_code == 200
        assert "missing or unreadable" in page.text
        assert viewer.get(f"{base}/api/rounds/3", timeout=10).json()["has_metrics"] is False
        assert viewer.get(f"{base}/rounds/3/queue/0", timeout=10).status_code == 404


def test_nothing_before_sign_in(site):
    _services, base, _viewer = site
    for path in ("/api/rounds", "/api/rounds/0"):
        assert requests.get(f"{base}{path}", timeout=10).status_code == 401
    for path in (
        "/rounds",
        "/rounds/0",
        "/rounds/0/plots/perspective_curves.png",
        "/rounds/0/queue/0",
    ):
        answer = requests.get(f"{base}{path}", timeout=10, allow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin"), path
