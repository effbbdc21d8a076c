"""The image-sets pages over HTTP, over sets made with the capability's own functions (``sets
add``'s upload, evaluations by the offline judge, an execution, a rollback, a failure): the
list holds what ``sets status`` reports (paged in id order, filtered by status, counted), the
sets never evaluated; a set's page holds its evaluation file (mix, verdicts, sheets, plan)
and its change documents, the sheets are the evaluations bucket's bytes; unknown or hostile
ids and query strings are a 4xx with one sentence, never a traceback; nothing is shown before
sign-in."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import requests
from labelling_support import web_app

from shared.adapters.models.offline_images import placeholder_png
from shared.core.errors import PermanentError
from shared.learning import invite
from shared.trainsets.evaluate import evaluate
from shared.trainsets.execute import changes_collection, rollback
from shared.trainsets.messages import SetEvaluation
from shared.trainsets.sets import add_folder, set_states

PHOTO, BW, COLOUR = "photorealistic", "bw_stylized", "color_stylized"
RUN = "20261203_181500_1a2b3c"
LATER = "20261204_090000_4d5e6f"


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


def add_set(services, root: Path, set_id: str, photos: int, greys: int, colours: int) -> None:
    """Upload a folder of placeholders the offline judge sorts by their style (``sets add``)."""
    folder = root / set_id
    folder.mkdir(parents=True)
    for category, count in ((PHOTO, photos), (BW, greys), (COLOUR, colours)):
        for n in range(count):
            picture = placeholder_png(category, f"{set_id} take {n}", 240, 180)
            (folder / f"{category}-{n:02d}.png").write_bytes(picture)
    added = add_folder(services, folder, set_id)
    assert len(added.uploaded) == photos + greys + colours


def evaluation_file(services, set_id: str) -> dict:
    bucket = services.settings.evaluations_bucket
    return json.loads(services.blobs.read(bucket, f"{set_id}_evaluation.json"))


def build_sets(services, root: Path) -> None:
    """balanced: on target; pending: off target, plan not applied; applied: the same mix,
    its plan executed; big: two sheets; broken: a failed evaluation; fresh: never
    evaluated; undone: executed, then rolled back."""
    add_set(services, root, "balanced", 13, 4, 3)
    add_set(services, root, "pending", 17, 1, 0)
    add_set(services, root, "applied", 17, 1, 0)
    add_set(services, root, "big", 20, 5, 2)
    add_set(services, root, "broken", 2, 1, 0)
    add_set(services, root, "fresh", 3, 0, 0)
    add_set(services, root, "undone", 6, 2, 0)
    for set_id in ("balanced", "pending", "big"):
        assert evaluate(services, SetEvaluation(set_id=set_id, run=RUN))[0] == "evaluated"
    for set_id in ("applied", "undone"):
        ask = SetEvaluation(set_id=set_id, run=RUN, execute=True)
        assert evaluate(services, ask)[0] == "executed"
    rollback(services, "undone")
    services.blobs.delete(services.settings.sets_bucket, "broken/bw_stylized-00.png")
    with pytest.raises(PermanentError, match="not in the bucket"):
        evaluate(services, SetEvaluation(set_id="broken", run=RUN))


@pytest.fixture
def site(make_services, tmp_path):
    services = make_services()
    build_sets(services, tmp_path / "folders")
    with web_app(services) as base:
        yield services, base, signed_in(base, invite(services.documents, "viv"))


EVALUATED = ["applied", "balanced", "big", "broken", "pending", "undone"]


def test_the_list_holds_what_sets_status_reports(site):
    services, base, viewer = site

    report = viewer.get(f"{base}/api/sets", timeout=10).json()

    assert [row["set_id"] for row in report["sets"]] == EVALUATED  # id order
    assert report["sets"] == json.loads(json.dumps(set_states(services, EVALUATED)))
    rows = {row["set_id"]: row for row in report["sets"]}
    assert rows["balanced"]["balanced"] is True
    assert (rows["pending"]["balanced"], rows["pending"]["delete"]) == (False, 4)
    assert rows["pending"]["generate"] == 6  # 13/4/3 of 20 from 17/1/0: +3 bw, +3 colour
    assert rows["applied"]["executed"]["operation"] == RUN
    assert (rows["applied"]["delete"], rows["applied"]["generate"]) == (0, 0)  # applied
    assert rows["broken"]["status"] == "failed"
    assert "broken/bw_stylized-00.png" not in rows["broken"]["error"]
    assert "bw_stylized-00.png" in rows["broken"]["error"]
    assert rows["undone"]["status"] == "rolled back"
    assert report["counts"] == {
        "all": 6,
        "evaluated": 4,
        "failed": 1,
        "evaluating": 0,
        "pending": 0,
        "rolled back": 1,
        "unbalanced": 2,
    }
    assert report["never_evaluated"] == ["fresh"]
    assert report["scanned_all"] is True
    assert report["next_cursor"] is None

    page = viewer.get(f"{base}/sets", timeout=10)
    assert page.status_code == 200
    assert 'aria-current="page">Image sets</a>' in page.text  # the navigation marks it
    for set_id in [*EVALUATED, "fresh"]:
        assert f'href="/sets/{set_id}"' in page.text
    assert html.escape(rows["broken"]["error"]) in page.text
    assert "17&nbsp;/&nbsp;1&nbsp;/&nbsp;0" in page.text  # the mix, in the categories' order
    assert f"operation {RUN}" in page.text

    failed = viewer.get(f"{base}/api/sets", params={"status": "failed"}, timeout=10).json()
    assert [row["set_id"] for row in failed["sets"]] == ["broken"]
    assert failed["never_evaluated"] == []  # the look at the bucket is the first page's


def test_the_list_is_paged_in_id_order(site):
    services, base, viewer = site
    for n in range(120):  # set documents only: enough for three pages
        status = "failed" if n % 3 == 0 else "evaluated"
        services.documents.set(
            f"trainsets/s{n:03d}", {"set_id": f"s{n:03d}", "status": status, "run": RUN}
        )
    wanted = sorted([*EVALUATED, *(f"s{n:03d}" for n in range(120))])

    seen: list[str] = []
    after = None
    for _ in range(10):
        params = {"after": after} if after else {}
        report = viewer.get(f"{base}/api/sets", params=params, timeout=10).json()
        assert len(report["sets"]) <= 50
        seen += [row["set_id"] for row in report["sets"]]
        after = report["next_cursor"]
        if after is None:
            break
    assert seen == wanted

    failed = viewer.get(f"{base}/api/sets", params={"status": "failed"}, timeout=10).json()
    assert failed["counts"]["failed"] == 41
    assert [row["set_id"] for row in failed["sets"]] == [
        "broken",
        *(f"s{n:03d}" for n in range(0, 120, 3)),
    ][:50]
    second = viewer.get(f"{base}/sets", params={"after": "s050"}, timeout=10)
    assert 'href="/sets/s051"' in second.text
    assert 'href="/sets/s050"' not in second.text
    assert 'rel="next"' in second.text
    assert "First page" in second.text


def test_a_sets_page_holds_its_evaluation_sheets_and_plan(site):
    services, base, viewer = site
    written = evaluation_file(services, "pending")

    review = viewer.get(f"{base}/api/sets/pending", timeout=10).json()

    assert review["evaluation"]["run"] == written["run"] == RUN
    assert review["evaluation"]["model"] == "offline-gpt-4.1-mini"
    fields = ("number", "file", "category", "quality")
    verdicts = [tuple(v[f] for f in fields) for v in review["verdicts"]]
    assert verdicts == [tuple(i[f] for f in fields) for i in written["images"]]
    mix = {c["name"]: (c["count"], c["percentage"], c["target"]) for c in review["categories"]}
    assert mix == {
        name: (written["counts"][name], written["percentages"][name], 100 * share)
        for name, share in written["target"].items()
    }
    assert [c["name"] for c in review["categories"]] == [PHOTO, BW, COLOUR]  # the mix's order
    assert [c["within"] for c in review["categories"]] == [False, False, False]  # 85/5/0 %
    assert review["plan_state"] == "pending"
    planned = written["plan"]["delete"]
    assert [v["file"] for v in review["plan_delete"]] == [d["file"] for d in planned]
    assert [v["delete_reason"] for v in review["plan_delete"]] == [
        d["reason"] for d in written["plan"]["delete"]
    ]
    assert review["plan_generate"] == written["plan"]["generate"] == {BW: 3, COLOUR: 3}
    assert [p["category"] for p in review["planned_prompts"]] == [BW] * 3 + [COLOUR] * 3
    assert all("pending" in p["prompt"] for p in review["planned_prompts"])  # the subject
    assert review["current"] is True
    assert review["operations"] == []
    assert review["sheets"] == [
        {"index": 0, "name": "pending_composite.jpg", "first": 1, "last": 18}
    ]

    page = viewer.get(f"{base}/sets/pending", timeout=10)
    assert page.status_code == 200
    for image in written["images"]:
        assert html.escape(image["file"]) in page.text
    for deletion in written["plan"]["delete"]:
        assert html.escape(deletion["reason"]) in page.text
    assert 'src="/sets/pending/composites/0.jpg"' in page.text
    assert 'alt="Contact sheet 1 of 1 of set pending: images 1 to 18' in page.text
    assert "vidcurate sets evaluate --set pending --execute" in page.text
    assert "/static/chart.umd.min.js" in page.text
    assert "/static/sets.js" in page.text
    assert viewer.get(f"{base}/static/sets.js", timeout=10).status_code == 200
    embedded = page.text.split('<script id="set-data" type="application/json">')[1]
    chart = json.loads(embedded.split("</script>")[0])
    assert chart["percentages"] == [written["percentages"][c] for c in (PHOTO, BW, COLOUR)]

    sheet = viewer.get(f"{base}/sets/pending/composites/0.jpg", timeout=10)
    assert sheet.status_code == 200
    assert sheet.headers["content-type"] == "image/jpeg"
    bucket = services.settings.evaluations_bucket
    assert sheet.content == services.blobs.read(bucket, "pending_composite.jpg")


def test_a_set_on_two_sheets_serves_both(site):
    services, base, viewer = site

    review = viewer.get(f"{base}/api/sets/big", timeout=10).json()

    assert [(s["name"], s["first"], s["last"]) for s in review["sheets"]] == [
        ("big_composite.jpg", 1, 25),
        ("big_composite_2.jpg", 26, 27),
    ]
    assert review["plan_state"] == "none"
    bucket = services.settings.evaluations_bucket
    for sheet in review["sheets"]:
        answer = viewer.get(f"{base}/sets/big/composites/{sheet['index']}.jpg", timeout=10)
        assert answer.content == services.blobs.read(bucket, sheet["name"])
    page = viewer.get(f"{base}/sets/big", timeout=10).text
    assert "images 26 to 27" in page
    assert viewer.get(f"{base}/sets/big/composites/2.jpg", timeout=10).status_code == 404


def test_the_changes_an_execution_made_and_a_rollback(site):
    services, base, viewer = site
    executed = set_states(services, ["applied"])[0]["executed"]
    stored = services.documents.query(changes_collection("applied"))

    review = viewer.get(f"{base}/api/sets/applied", timeout=10).json()

    assert review["plan_state"] == "applied"
    assert review["current"] is False  # the set changed: the generated images are in it
    assert sorted(review["added"]) == sorted(executed["generated"])
    assert sorted(review["removed"]) == sorted(executed["deleted"])
    (operation,) = review["operations"]
    assert operation["operation"] == RUN
    assert len(operation["changes"]) == len(stored) == review["changes_total"] == 10
    assert sorted(c["file"] for c in operation["changes"] if c["kind"] == "delete") == sorted(
        executed["deleted"]
    )
    assert sorted(c["file"] for c in operation["changes"] if c["kind"] == "generate") == sorted(
        executed["generated"]
    )
    assert (operation["deleted"], operation["generated"]) == (4, 6)
    assert review["manifest_images"] == 20
    assert review["generated_images"] == 6
    assert any(f"applied by operation {RUN}" in n for n in review["notices"])
    page = viewer.get(f"{base}/sets/applied", timeout=10).text
    assert f"Operation {RUN}" in page
    assert f"vidcurate sets rollback --set applied --operation {RUN}" in page
    for file in executed["generated"]:
        assert file in page

    undone = viewer.get(f"{base}/api/sets/undone", timeout=10).json()
    assert undone["state"]["status"] == "rolled back"
    assert undone["plan_state"] == "applied"
    assert {c["status"] for o in undone["operations"] for c in o["changes"]} == {"rolled_back"}
    assert any("rolled back" in n for n in undone["notices"])


def test_a_failed_and_a_never_evaluated_set(site):
    _services, base, viewer = site

    broken = viewer.get(f"{base}/api/sets/broken", timeout=10).json()
    assert broken["state"]["status"] == "failed"
    assert broken["evaluation"] is None
    assert broken["missing"] == ["bw_stylized-00.png"]
    assert any(n.startswith("The last evaluation failed: set broken:") for n in broken["notices"])
    page = viewer.get(f"{base}/sets/broken", timeout=10)
    assert page.status_code == 200
    assert "not in the bucket" in page.text

    fresh = viewer.get(f"{base}/api/sets/fresh", timeout=10).json()
    assert (fresh["state"]["status"], fresh["manifest_images"]) == ("never evaluated", 3)
    assert fresh["evaluation"] is None
    assert fresh["sheets"] == []
    page = viewer.get(f"{base}/sets/fresh", timeout=10)
    assert page.status_code == 200
    assert "never evaluated" in page.text
    assert viewer.get(f"{base}/sets/fresh/composites/0.jpg", timeout=10).status_code == 404

    found = viewer.get(f"{base}/sets", params={"find": " fresh "}, allow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, "/sets/fresh")


HOSTILE = [
    ("/sets/nosuch", 404),
    ("/api/sets/nosuch", 404),
    ("/sets/nosuch/composites/0.jpg", 404),
    ("/sets/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404),
    ("/api/sets/pending%0A", 404),
    ("/sets/.hidden", 404),
    ("/sets/" + "a" * 300, 404),
    ("/sets/..%2F..%2Fetc%2Fpasswd", 404),
    ("/api/sets/%00", 404),
    ("/sets/pending/composites/-1.jpg", 404),
    ("/sets/pending/composites/1.jpg", 404),
    ("/sets/pending/composites/99999999999999999999999.jpg", 404),
    ("/sets/pending/composites/x.jpg", 422),
    ("/sets?status=bogus", 422),
    ("/api/sets?status=%3Cb%3E", 422),
    ("/sets?after=..%2Fx", 422),
    ("/api/sets?after=" + "a" * 500, 422),
    ("/sets?find=%3Cscript%3E", 422),
    ("/sets?find=" + "b" * 300, 422),
]


def test_unknown_and_hostile_ids_and_queries_are_a_4xx_in_one_sentence(site):
    _services, base, viewer = site
    for path, status in HOSTILE:
        answer = viewer.get(f"{base}{path}", timeout=10, allow_redirects=False)

        assert answer.status_code == status, path
        assert "Traceback" not in answer.text, path
        assert "<script>" not in answer.text.lower().replace('<script src="/static/csrf.js">', "")
        if "/api/" in path:
            assert set(answer.json()) == {"error"}, path
    page = viewer.get(f"{base}/sets/nosuch", timeout=10)
    assert "no set &#39;nosuch&#39;: no manifest and never evaluated" in page.text


def test_nothing_before_sign_in(site):
    _services, base, _viewer = site
    for path in ("/api/sets", "/api/sets/pending"):
        assert requests.get(f"{base}{path}", timeout=10).status_code == 401
    for path in ("/sets", "/sets/pending", "/sets/pending/composites/0.jpg"):
        answer = requests.get(f"{base}{path}", timeout=10, allow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin"), path
