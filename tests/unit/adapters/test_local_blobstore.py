"""Local blob store behaviour beyond the port contract: notifications, folder watching,
atomic writes and preconditions across processes."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from shared.adapters.local import build_local_services
from shared.config import Settings
from shared.core.errors import NotFoundError, PermanentError, PreconditionFailedError
from shared.platform.runtime.catalog import storage_topic


@pytest.fixture
def stores(tmp_path):
    settings = Settings(home=tmp_path)
    blobs, _documents, bus = build_local_services(settings)
    bus.create_subscription("watch", storage_topic("bk"))
    return blobs, bus


def test_a_write_publishes_a_gcs_style_finalize_notification(stores):
    blobs, bus = stores

    info = blobs.write("bk", "cfg/task/v1_feedback.json", b"{}", content_type="application/json")

    (message,) = bus.pull("watch")
    assert message.attributes["eventType"] == "OBJECT_FINALIZE"
    assert message.attributes["payloadFormat"] == "JSON_API_V1"
    assert message.attributes["objectId"] == "cfg/task/v1_feedback.json"
    assert message.attributes["objectGeneration"] == str(info.generation)
    resource = json.loads(message.data)
    assert resource["bucket"] == "bk"
    assert resource["generation"] == str(info.generation)
    assert resource["contentType"] == "application/json"
    assert resource["md5Hash"] == info.md5_hash


def test_a_failed_precondition_changes_nothing_and_announces_nothing(stores):
    blobs, bus = stores
    blobs.write("bk", "a.txt", b"one")
    bus.ack("watch", [m.ack_id for m in bus.pull("watch")])

    with pytest.raises(PreconditionFailedError, match=r"gs://bk/a\.txt"):
        blobs.write("bk", "a.txt", b"two", if_generation_match=0)

    assert blobs.read("bk", "a.txt") == b"one"
    assert bus.pull("watch") == []
    assert os.listdir(blobs.root / ".tmp") == []  # the temp file was cleaned up


def test_files_dropped_by_another_program_are_registered_once(stores):
    blobs, bus = stores
    dropped = blobs.root / "bk" / "inbox" / "new.json"
    dropped.parent.mkdir(parents=True)
    dropped.write_text("{}")

    found = blobs.scan()
    again = blobs.scan()

    assert [f.name for f in found] == ["inbox/new.json"]
    assert again == []
    assert [m.attributes["objectId"] for m in bus.pull("watch")] == ["inbox/new.json"]
    assert blobs.stat("bk", "inbox/new.json").content_type == "application/json"


def test_a_file_changed_by_hand_gets_a_new_generation(stores):
    blobs, bus = stores
    first = blobs.write("bk", "a.txt", b"one")
    path = blobs.root / "bk" / "a.txt"
    path.write_bytes(b"changed by hand")
    past_ns = int(first.updated.timestamp() * 1e9) - 5_000_000_000
    os.utime(path, ns=(past_ns, past_ns))

    (changed,) = blobs.scan()

    assert changed.generation > first.generation
    assert changed.size == len(b"changed by hand")
    assert len(bus.pull("watch")) == 2


def test_files_still_being_written_wait_for_the_settle_window(stores):
    blobs, _bus = stores
    (blobs.root / "bk").mkdir(exist_ok=True)
    (blobs.root / "bk" / "busy.bin").write_bytes(b"partial")

    assert blobs.scan(settle_seconds=60) == []
    assert [f.name for f in blobs.scan(settle_seconds=0)] == ["busy.bin"]


@pytest.mark.parametrize("name", ["../escape", "a//b", "/abs", "a/./b", "bad\nname", ""])
def test_names_that_cannot_be_stored_locally_are_rejected(stores, name):
    blobs, _bus = stores
    with pytest.raises(PermanentError, match="object name"):
        blobs.write("bk", name, b"x")


def test_an_object_cannot_also_be_a_folder(stores):
    blobs, _bus = stores
    blobs.write("bk", "a", b"x")
    with pytest.raises(PermanentError, match="folder"):
        blobs.write("bk", "a/b", b"y")


def _create_once(home: str, worker: int, results) -> None:
    blobs, _documents, _bus = build_local_services(Settings(home=home))
    try:
        blobs.write("bk", "claim.txt", str(worker).encode(), if_generation_match=0)
        results.put(("won", worker))
    except PreconditionFailedError:
        results.put(("lost", worker))


def test_create_only_writes_race_across_processes_and_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_create_once, args=(str(tmp_path), i, results)) for i in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    outcomes = [results.get(timeout=5) for _ in procs]

    winners = [w for outcome, w in outcomes if outcome == "won"]
    assert len(winners) == 1
    blobs, _documents, _bus = build_local_services(Settings(home=tmp_path))
    assert blobs.read("bk", "claim.txt") == str(winners[0]).encode()


def test_create_only_fails_on_a_file_dropped_by_hand_before_it_is_registered(stores):
    blobs, _bus = stores
    (blobs.root / "bk").mkdir(exist_ok=True)
    (blobs.root / "bk" / "hand.txt").write_bytes(b"theirs")

    with pytest.raises(PreconditionFailedError, match="changed outside vidcurate"):
        blobs.write("bk", "hand.txt", b"mine", if_generation_match=0)

    assert blobs.read("bk", "hand.txt") == b"theirs"


def test_deleting_the_last_object_of_a_folder_frees_the_folder_name(stores):
    blobs, _bus = stores
    blobs.write("bk", "a/b/c.txt", b"x")

    blobs.delete("bk", "a/b/c.txt")
    blobs.write("bk", "a", b"now a file")

    assert blobs.read("bk", "a") == b"now a file"
    with pytest.raises(NotFoundError):
        blobs.delete("bk", "a/b/c.txt")


def test_a_special_file_in_a_bucket_folder_is_not_an_object(stores):
    blobs, _bus = stores
    (blobs.root / "bk").mkdir(exist_ok=True)
    os.mkfifo(blobs.root / "bk" / "pipe")

    assert blobs.scan() == []
    assert [info.name for info in blobs.list("bk")] == []


def test_a_delete_publishes_an_object_delete_notification_of_the_deleted_generation(stores):
    blobs, bus = stores
    info = blobs.write("bk", "cfg/task/v1_review.json", b"{}")
    bus.ack("watch", [m.ack_id for m in bus.pull("watch")])

    blobs.delete("bk", "cfg/task/v1_review.json")

    (message,) = bus.pull("watch")
    assert message.attributes["eventType"] == "OBJECT_DELETE"
    assert message.attributes["objectGeneration"] == str(info.generation)
    assert json.loads(message.data)["name"] == "cfg/task/v1_review.json"


def test_a_file_removed_by_hand_is_announced_as_deleted_by_the_next_scan(stores):
    blobs, bus = stores
    info = blobs.write("bk", "cfg/videos/list.jsonl", b"{}\n")
    bus.ack("watch", [m.ack_id for m in bus.pull("watch")])

    (blobs.root / "bk" / "cfg" / "videos" / "list.jsonl").unlink()
    blobs.scan()
    blobs.scan()  # a second scan finds nothing new

    (message,) = bus.pull("watch", max_messages=10)
    assert message.attributes["eventType"] == "OBJECT_DELETE"
    assert message.attributes["objectGeneration"] == str(info.generation)
    with pytest.raises(NotFoundError):
        blobs.stat("bk", "cfg/videos/list.jsonl")


def test_replaced_and_deleted_generations_stay_readable_like_a_versioned_bucket(stores):
    blobs, _bus = stores
    first = blobs.write("bk", "a.json", b"1")
    second = blobs.write("bk", "a.json", b"2")

    assert blobs.read("bk", "a.json", generation=second.generation) == b"2"
    assert blobs.read("bk", "a.json", generation=first.generation) == b"1"
    assert blobs.read("bk", "a.json") == b"2"
    assert [i.name for i in blobs.list("bk")] == ["a.json"]  # versions are not objects

    blobs.delete("bk", "a.json")

    assert blobs.read("bk", "a.json", generation=second.generation) == b"2"
    with pytest.raises(NotFoundError):
        blobs.read("bk", "a.json")
    with pytest.raises(NotFoundError, match="no noncurrent version"):
        blobs.read("bk", "a.json", generation=second.generation + 1)


def test_replaced_resume_checkpoints_keep_no_versions(tmp_path):
    """The models bucket's resume checkpoints (rewritten every epoch) keep no replaced
    generation, as its lifecycle rule deletes them in the cloud; its other objects and other
    buckets' objects of the same name keep theirs."""
    settings = Settings(home=tmp_path)
    blobs, _documents, _bus = build_local_services(settings)
    models = settings.models_bucket
    name = "rounds/round_00/checkpoints/distance_last.pt"
    first = blobs.write(models, name, b"epoch 1")
    kept = blobs.write(models, "rounds/round_00/checkpoints/distance_best.pt", b"best 1")
    other = blobs.write(settings.frames_bucket, name, b"a frames object")

    blobs.write(models, name, b"epoch 2")
    blobs.write(models, "rounds/round_00/checkpoints/distance_best.pt", b"best 2")
    blobs.write(settings.frames_bucket, name, b"replaced")
    blobs.delete(models, name)

    with pytest.raises(NotFoundError):
        blobs.read(models, name, generation=first.generation)
    assert not list((tmp_path / "buckets" / ".versions" / models).rglob("*_last.pt#*"))
    assert blobs.read(models, kept.name, generation=kept.generation) == b"best 1"
    assert (
        blobs.read(settings.frames_bucket, name, generation=other.generation) == b"a frames object"
    )
