"""The blob store contract: local folders and Cloud Storage (fake-gcs-server) behave alike."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import pytest

from shared.core.errors import NotFoundError, PreconditionFailedError


def test_write_then_read_round_trips_bytes_and_metadata(blobs, bucket):
    # GIVEN an object written with a content type and metadata
    data = b'{"caption": "a dog runs"}\n\x00\xff'
    info = blobs.write(
        bucket, "cfg/task/v1_feedback.json", data, content_type="application/json",
        metadata={"source": "tool", "annotator": "a1"},
    )  # fmt: skip

    # THEN reading it and stat-ing it give back what was written
    assert blobs.read(bucket, "cfg/task/v1_feedback.json") == data
    stat = blobs.stat(bucket, "cfg/task/v1_feedback.json")
    for described in (info, stat):
        assert described.bucket == bucket
        assert described.name == "cfg/task/v1_feedback.json"
        assert described.size == len(data)
        assert described.content_type == "application/json"
        assert dict(described.metadata) == {"source": "tool", "annotator": "a1"}
        expected_md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest())
        assert described.md5_hash == expected_md5.decode()
        assert isinstance(described.updated, datetime)
        assert described.updated.tzinfo is not None
    assert stat.generation == info.generation


def test_default_content_type_and_no_metadata(blobs, bucket):
    info = blobs.write(bucket, "plain.bin", b"abc")

    assert info.content_type == "application/octet-stream"
    assert dict(blobs.stat(bucket, "plain.bin").metadata) == {}


def test_every_write_gets_a_new_generation(blobs, bucket):
    first = blobs.write(bucket, "a.json", b"1")
    second = blobs.write(bucket, "a.json", b"2")

    assert second.generation != first.generation
    assert second.generation > first.generation
    assert blobs.stat(bucket, "a.json").generation == second.generation
    assert blobs.read(bucket, "a.json") == b"2"


def test_generation_zero_creates_only_a_missing_object(blobs, bucket):
    # WHEN the object does not exist, if_generation_match=0 writes it
    created = blobs.write(bucket, "claim.json", b"mine", if_generation_match=0)
    assert blobs.read(bucket, "claim.json") == b"mine"

    # WHEN it exists, the same write fails and leaves it unchanged
    with pytest.raises(PreconditionFailedError):
        blobs.write(bucket, "claim.json", b"theirs", if_generation_match=0)
    assert blobs.read(bucket, "claim.json") == b"mine"
    assert blobs.stat(bucket, "claim.json").generation == created.generation


def test_matching_generation_writes_and_stale_generation_fails(blobs, bucket):
    first = blobs.write(bucket, "doc.json", b"v1")
    second = blobs.write(bucket, "doc.json", b"v2", if_generation_match=first.generation)
    assert blobs.read(bucket, "doc.json") == b"v2"

    with pytest.raises(PreconditionFailedError):
        blobs.write(bucket, "doc.json", b"v3", if_generation_match=first.generation)
    assert blobs.read(bucket, "doc.json") == b"v2"
    assert blobs.stat(bucket, "doc.json").generation == second.generation


def test_a_generation_precondition_on_a_missing_object_fails(blobs, bucket):
    with pytest.raises(PreconditionFailedError):
        blobs.write(bucket, "never.json", b"x", if_generation_match=12345)
    assert not blobs.exists(bucket, "never.json")


def test_list_by_prefix_in_name_order(blobs, bucket):
    for name in ("cfg/b/2.json", "cfg/a/1.json", "cfg/b/1.json", "other/x.json", "cfg.json"):
        blobs.write(bucket, name, name.encode())

    listed = list(blobs.list(bucket, "cfg/"))

    assert [info.name for info in listed] == ["cfg/a/1.json", "cfg/b/1.json", "cfg/b/2.json"]
    assert all(info.bucket == bucket for info in listed)
    assert [info.size for info in listed] == [len(info.name) for info in listed]
    everything = [info.name for info in blobs.list(bucket)]
    assert everything == sorted(everything)
    assert len(everything) == 5
    assert list(blobs.list(bucket, "nothing/")) == []


def test_list_orders_names_as_strings_across_folders(blobs, bucket):
    # a folder sorts as its name and "/": "a-b" and "a.txt" before "a/...", "ab" after
    names = ("ab", "a/c/d", "a.txt", "b", "a-b", "a/b", "a/é", "a/z")
    for name in names:
        blobs.write(bucket, name, b"x")

    assert [i.name for i in blobs.list(bucket)] == sorted(names)
    assert [i.name for i in blobs.list(bucket, "a")] == sorted(n for n in names if n < "b")
    assert [i.name for i in blobs.list(bucket, "a/")] == ["a/b", "a/c/d", "a/z", "a/é"]
    assert [i.name for i in blobs.list(bucket, "a/c")] == ["a/c/d"]
    first_two = []
    for info in blobs.list(bucket):
        first_two.append(info.name)
        if len(first_two) == 2:
            break
    assert first_two == sorted(names)[:2]


def test_delete_removes_the_object(blobs, bucket):
    blobs.write(bucket, "gone.json", b"x")

    blobs.delete(bucket, "gone.json")

    assert not blobs.exists(bucket, "gone.json")
    with pytest.raises(NotFoundError):
        blobs.read(bucket, "gone.json")


def test_delete_with_a_generation_precondition(blobs, bucket):
    info = blobs.write(bucket, "cond.json", b"x")

    with pytest.raises(PreconditionFailedError):
        blobs.delete(bucket, "cond.json", if_generation_match=info.generation + 1)
    assert blobs.exists(bucket, "cond.json")

    blobs.delete(bucket, "cond.json", if_generation_match=info.generation)
    assert not blobs.exists(bucket, "cond.json")


def test_missing_objects_raise_not_found(blobs, bucket):
    with pytest.raises(NotFoundError):
        blobs.read(bucket, "missing.json")
    with pytest.raises(NotFoundError):
        blobs.stat(bucket, "missing.json")
    with pytest.raises(NotFoundError):
        blobs.delete(bucket, "missing.json")


def test_exists(blobs, bucket):
    assert not blobs.exists(bucket, "maybe.json")
    blobs.write(bucket, "maybe.json", b"")
    assert blobs.exists(bucket, "maybe.json")
    assert blobs.stat(bucket, "maybe.json").size == 0
    assert blobs.read(bucket, "maybe.json") == b""


def test_open_read_streams_and_seeks_a_named_generation(blobs, bucket):
    data = bytes(range(256)) * 4096  # 1 MiB
    info = blobs.write(bucket, "clips/a.mp4", data, content_type="video/mp4")

    with blobs.open_read(bucket, "clips/a.mp4", generation=info.generation) as reader:
        assert reader.read(10) == data[:10]
        reader.seek(700_000)
        assert reader.read(5) == data[700_000:700_005]
        reader.seek(-3, 2)
        assert reader.read() == data[-3:]
        assert reader.seekable()
    with blobs.open_read(bucket, "clips/a.mp4") as reader:
        assert reader.read() == data
    with pytest.raises(NotFoundError, match=r"clips/missing\.mp4"):
        blobs.open_read(bucket, "clips/missing.mp4").__enter__()
    with pytest.raises(NotFoundError):
        blobs.open_read(bucket, "clips/a.mp4", generation=info.generation + 10**6).__enter__()


def test_reading_a_named_generation(blobs, bucket):
    # GIVEN an object with a live generation
    info = blobs.write(bucket, "gen/a.json", b"live")

    # THEN that generation reads, and a generation that never existed is not found
    assert blobs.read(bucket, "gen/a.json", generation=info.generation) == b"live"
    with pytest.raises(NotFoundError):
        blobs.read(bucket, "gen/a.json", generation=info.generation + 1_000_000)
    with pytest.raises(NotFoundError):
        blobs.read(bucket, "gen/missing.json", generation=1)
