"""Label documents, annotators, the frame index and the labelling service, on the local
stores."""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading

import pytest
from labelling_support import add_sampled_clips, label_first

from shared.learning import (
    Label,
    LabelConflictError,
    Labelling,
    LabelRejectedError,
    StaleQueueError,
    UnknownAnnotatorError,
    annotator_by_email,
    annotator_by_token,
    invite,
    label_path,
    load_frames,
    record_label,
    write_export,
)
from shared.learning.labels import MAX_HISTORY, labels_of

ANSWER = {"perspective": "first_person", "distance": "close"}


def _record(services, revision=0, classes=None, frame="t/clip00000/5000.jpg", annotator="ann"):
    return record_label(
        services.documents,
        annotator=annotator,
        frame_id=frame,
        label=Label(classes=classes or ANSWER),
        revision=revision,
        queue_version="v1",
        position=3,
    )


def test_a_changed_answer_keeps_its_history(services):
    first = _record(services)
    second = _record(services, revision=1, classes={**ANSWER, "distance": "far"})
    assert (first.revision, second.revision) == (1, 2)
    assert second.label.classes["distance"] == "far"
    assert len(second.history) == 1
    assert second.history[0]["classes"] == ANSWER
    assert second.history[0]["revision"] == 1
    stored = labels_of(services.documents, "ann")["t/clip00000/5000.jpg"]
    assert stored.revision == 2
    assert stored.history[0]["classes"] == ANSWER


def test_the_history_keeps_the_last_hundred_answers(services):
    classes = ("close", "medium", "far")
    for revision in range(MAX_HISTORY + 5):
        record = _record(services, revision, {**ANSWER, "distance": classes[revision % 3]})
    assert record.revision == MAX_HISTORY + 5
    assert len(record.history) == MAX_HISTORY
    assert record.history[-1]["revision"] == MAX_HISTORY + 4


def test_a_stale_revision_is_refused_and_nothing_is_written(services):
    _record(services)
    before = services.documents.get(label_path("ann", "t/clip00000/5000.jpg")).data
    with pytest.raises(LabelConflictError, match="revision 1, not 0") as caught:
        _record(services, revision=0, classes={**ANSWER, "distance": "far"})  # a replay
    assert caught.value.current is not None
    assert caught.value.current.label.classes == ANSWER
    assert services.documents.get(label_path("ann", "t/clip00000/5000.jpg")).data == before


def test_the_same_answer_again_is_not_a_change(services):
    first = _record(services)
    again = _record(services, revision=1)
    assert again.revision == first.revision == 1
    assert again.history == ()


def test_two_tabs_answering_one_frame_make_one_label(services):
    # GIVEN two tabs that both show the frame unlabelled (revision 0)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def tab(distance: str) -> None:
        barrier.wait()
        try:
            _record(services, 0, {**ANSWER, "distance": distance})
            outcomes.append("written")
        except LabelConflictError:
            outcomes.append("refused")

    # WHEN eight answer at once
    threads = [
        threading.Thread(target=tab, args=(("close", "medium", "far")[i % 3],)) for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN one write wins, the others are told, and there is one document at revision 1
    assert sorted(outcomes) == ["refused"] * 7 + ["written"]
    assert services.documents.count("labels") == 1
    assert labels_of(services.documents, "ann")["t/clip00000/5000.jpg"].revision == 1


def test_labels_are_per_annotator(services):
    _record(services, annotator="ann")
    _record(services, annotator="ben")
    assert set(labels_of(services.documents, "ann")) == {"t/clip00000/5000.jpg"}
    assert services.documents.count("labels") == 2
    assert label_path("ann", "x") != label_path("ben", "x")
    assert label_path("a", "bc") != label_path("ab", "c")


def test_an_email_belongs_to_one_annotator_and_renewing_keeps_admin(services):
    invite(services.documents, "ann", email="ann@example.com", admin=True)
    with pytest.raises(ValueError, match="already ann's"):
        invite(services.documents, "ben", email="ANN@example.com")
    assert services.documents.get("annotators/ben") is None
    invite(services.documents, "ann")  # a new link, admin as before
    assert annotator_by_email(services.documents, "ann@example.com").admin
    invite(services.documents, "ann", admin=False)
    assert not annotator_by_email(services.documents, "ann@example.com").admin


def test_an_invitation_token_identifies_its_annotator_until_renewed(services):
    token = invite(services.documents, "ann", email="Ann@Example.com", admin=True)
    found = annotator_by_token(services.documents, token)
    assert found is not None
    assert found.name == "ann"
    assert found.admin
    assert annotator_by_email(services.documents, "ann@example.com").name == "ann"
    renewed = invite(services.documents, "ann")
    assert annotator_by_token(services.documents, token) is None
    assert annotator_by_token(services.documents, renewed).name == "ann"
    assert annotator_by_token(services.documents, "") is None
    assert annotator_by_token(services.documents, "x" * 300) is None
    stored = services.documents.get("annotators/ann").data
    assert token not in json.dumps(stored, default=str)  # only its hash is kept
    # an e-mail once given stays (a new link does not unregister the IAP identity)
    assert annotator_by_email(services.documents, "ann@example.com").name == "ann"


@pytest.mark.parametrize("name", ["", "-ann", "a" * 65, "ann/ben", "ann ben", "é"])
def test_bad_annotator_names_are_refused(services, name):
    with pytest.raises(ValueError, match="annotator name"):
        invite(services.documents, name)


def test_the_frame_index_reads_every_clip_with_frames_and_seals_one_batch(services):
    ids = add_sampled_clips(services, 3, 2, images=False)
    services.documents.set("clips/sampling", {"status": "sampling"})  # no frames yet
    services.documents.set("clips/odd", {"status": "done", "frames": [{"no": "path"}, 7]})
    index = load_frames(services.documents)
    assert set(index.batches) == set(ids)
    assert index.clips == 3
    assert set(index.batches.values()) == {0}  # registered together: one batch
    assert index.sealed == 1
    assert services.documents.count("label_batches") == 1
    again = load_frames(services.documents)  # nothing new: no new batch
    assert again.sealed == 1
    assert set(again.batches.values()) == {0}


def test_clips_registered_after_a_read_join_every_queue_at_its_end(make_services):
    services = make_services(label_refresh_seconds=0)
    first = add_sampled_clips(services, 6, 3, images=False)
    labelling = Labelling(services)
    before = {name: labelling.queue(name).frame_ids for name in ("ann", "ben")}
    # GIVEN more clips registered after the queues were shown, in two rounds
    second = add_sampled_clips(services, 4, 3, images=False, start=6)
    middle = {name: labelling.queue(name).frame_ids for name in ("ann", "ben")}
    third = add_sampled_clips(services, 4, 3, images=False, start=10)
    for name in ("ann", "ben"):
        after = labelling.queue(name).frame_ids
        # THEN nothing shown moves: each round appends its own batch
        assert after[: len(before[name])] == before[name]
        assert after[: len(middle[name])] == middle[name]
        assert set(after[len(before[name]) : len(middle[name])]) == set(second)
        assert set(after[len(middle[name]) :]) == set(third)
        # AND the extended queue is the queue a fresh process computes
        assert Labelling(services).queue(name).frame_ids == after
    assert services.documents.count("label_batches") == 3
    assert set(first) <= set(before["ann"])


def test_an_unchanged_read_keeps_the_index_and_the_queues(make_services):
    services = make_services(label_refresh_seconds=0)
    add_sampled_clips(services, 3, 3, images=False)
    labelling = Labelling(services)
    queue = labelling.queue("ann")
    index, _ = labelling.catalog.current()
    again, _ = labelling.catalog.current()
    assert again is index
    assert labelling.queue("ann") is queue  # not computed again


def test_two_readers_sealing_at_once_agree_on_the_batches(make_services):
    services = make_services()
    add_sampled_clips(services, 5, 2, images=False)
    results: list = []
    barrier = threading.Barrier(4)

    def read() -> None:
        barrier.wait()
        results.append(load_frames(services.documents))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert services.documents.count("label_batches") == 1
    assert all(dict(r.batches) == dict(results[0].batches) for r in results)


def test_frames_of_clips_registered_together_are_shuffled_across_clips(services):
    add_sampled_clips(services, 40, 3, images=False)
    invite(services.documents, "ann")
    queue = Labelling(services).queue("ann").frame_ids
    clips = [frame.rsplit("/", 1)[0] for frame in queue]
    same_clip_neighbours = sum(a == b for a, b in itertools.pairwise(clips))
    # 119 neighbour pairs; by chance about 119 * 2/119 = 2 share a clip, grouped 80 would
    assert same_clip_neighbours < 10


def test_resume_lands_on_the_first_unlabelled_position(services):
    add_sampled_clips(services, 5, 2, images=False)
    invite(services.documents, "ann")
    labelling = Labelling(services)
    queue = labelling.queue("ann")
    for position in (0, 1, 2, 4):
        labelling.answer(
            "ann",
            position=position,
            frame_id=queue.frame_ids[position],
            queue_version=queue.version,
            revision=0,
            classes=ANSWER,
        )
    assert labelling.resume("ann") == 3
    fresh = Labelling(services)  # another process: from the stored labels
    assert fresh.resume("ann") == 3
    assert fresh.view("ann", 3).record is None
    assert fresh.view("ann", 4).record.label.classes == ANSWER
    assert fresh.view("ann", 10) is None


def _answer(labelling, queue, position=0, frame_at=None, **changes):
    arguments = {
        "position": position,
        "frame_id": queue.frame_ids[position if frame_at is None else frame_at],
        "queue_version": queue.version,
        "revision": 0,
        "classes": ANSWER,
        **changes,
    }
    return labelling.answer("ann", **arguments)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"classes": {"perspective": "sideways", "distance": "far"}}, LabelRejectedError,
         "unknown class 'sideways'"),
        ({"classes": {"perspective": "overhead"}}, LabelRejectedError, "no class for distance"),
        ({"classes": {**ANSWER, "mood": "happy"}}, LabelRejectedError, "unknown task 'mood'"),
        ({"frame_id": "elsewhere/clip/5000.jpg"}, LabelRejectedError, "not in ann's queue"),
        ({"position": 1, "frame_at": 0}, StaleQueueError, "position 1"),
        ({"queue_version": "old"}, StaleQueueError, "queue changed"),
        ({"revision": 4}, LabelConflictError, "revision 0, not 4"),
        ({"classes": ANSWER, "unusable": True}, LabelRejectedError, "unusable frame takes no"),
    ],
)  # fmt: skip
def test_bad_answers_are_refused_with_nothing_written(services, changes, error, message):
    add_sampled_clips(services, 2, 2, images=False)
    invite(services.documents, "ann")
    labelling = Labelling(services)
    queue = labelling.queue("ann")
    with pytest.raises(error, match=message):
        _answer(labelling, queue, **changes)
    assert services.documents.count("labels") == 0


def test_an_unusable_frame_takes_no_class(services):
    add_sampled_clips(services, 1, 2, images=False)
    labelling = Labelling(services)
    queue = labelling.queue("ann")
    record = _answer(labelling, queue, classes={}, unusable=True)
    assert record.label.unusable
    assert record.label.classes == {}


def test_an_unknown_annotator_is_named(services):
    with pytest.raises(UnknownAnnotatorError, match="unknown annotator 'zed'"):
        Labelling(services).annotator("zed")


def test_status_counts_progress_and_agreement(services):
    add_sampled_clips(services, 4, 2, images=False)
    for name in ("ann", "ben"):
        invite(services.documents, name)
    invite(services.documents, "cat")  # invited, nothing labelled yet
    labelling = Labelling(services)
    for name in ("ann", "ben"):
        assert label_first(labelling, name, None, ANSWER) == 8
    status = labelling.status()
    by_name = {p.annotator: p for p in status.annotators}
    assert (by_name["ann"].labelled, by_name["ann"].total) == (8, 8)
    assert by_name["cat"].labelled == 0
    pair = status.agreement["perspective"].pairwise[("ann", "ben")]
    assert pair.frames == 8
    assert pair.observed == 1.0
    assert pair.kappa is None  # every rating the one class: kappa is undefined
    assert status.to_json()["agreement"]["distance"]["pairwise"]["ann|ben"]["frames"] == 8


def test_export_writes_a_row_per_label_in_both_formats(services):
    add_sampled_clips(services, 2, 2, images=False)
    labelling = Labelling(services)
    queue = labelling.queue("ann")
    _answer(labelling, queue, 0)
    _answer(labelling, queue, 1, classes={}, unusable=True)
    text = io.StringIO()
    assert write_export(labelling, text, "csv") == 2
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [r["annotator"] for r in rows] == ["ann", "ann"]
    by_frame = {r["frame"]: r for r in rows}
    labelled = by_frame[queue.frame_ids[0]]
    assert labelled["perspective"] == "first_person"
    assert labelled["distance"] == "close"
    assert labelled["video_key"] == queue.frame_ids[0].rsplit("/", 1)[0]
    assert labelled["timestamp_ms"] in {"5000", "15000"}
    assert by_frame[queue.frame_ids[1]]["unusable"] == "True"
    assert by_frame[queue.frame_ids[1]]["perspective"] == ""
    lines = io.StringIO()
    assert write_export(labelling, lines, "jsonl") == 2
    parsed = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert {p["frame"] for p in parsed} == set(queue.frame_ids[:2])
    assert all(p["queue_version"] == queue.version for p in parsed)


def test_the_active_learning_document_leads_every_queue_once(make_services):
    services = make_services(label_refresh_seconds=0)
    ids = add_sampled_clips(services, 5, 2, images=False)
    chosen = [ids[7], ids[2], "gone/clip/5000.jpg", ids[7]]
    services.documents.set("label_queues/current", {"version": "round-3", "frame_ids": chosen})
    labelling = Labelling(services)
    for name in ("ann", "ben"):
        queue = labelling.queue(name)
        assert queue.frame_ids[:2] == [ids[7], ids[2]]
        assert sorted(queue.frame_ids) == sorted(ids)  # each frame once
    before = labelling.queue("ann").version
    services.documents.set("label_queues/current", {"version": "round-4", "frame_ids": [ids[0]]})
    assert labelling.queue("ann").frame_ids[0] == ids[0]
    assert labelling.queue("ann").version != before  # a page of round 3 is now stale
    services.documents.set("label_queues/current", {"version": 5, "frame_ids": "x"})
    assert len(labelling.queue("ann")) == 10  # not a queue document: ignored


def test_a_reader_that_serves_no_queue_seals_no_batch(services):
    ids = add_sampled_clips(services, 2, 2, images=False)
    index = load_frames(services.documents, seal=False)
    assert set(index.batches) == set(ids)
    assert services.documents.count("label_batches") == 0
