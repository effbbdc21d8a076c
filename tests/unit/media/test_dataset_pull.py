"""Pulling WebDataset tar shards of a Hub dataset into the videos bucket: the service, the
real huggingface_hub client (list_repo_files, hf_hub_download) and the Hub adapter's retry
layer, against the fake Hub (tests/hubfake.py) over real HTTP.

Shards are built here with tarfile, shaped like Egocentric-10K's (one ``.mp4`` and one
``.json`` with factory_id, worker_id and duration_sec per sample); the clips are a few bytes
that only look like MP4s: nothing decodes them.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hubfake import DEFAULT_TOKEN, FakeHub, hub_server_fixture  # noqa: F401 (fixture hub_server)
from pydantic import ValidationError

from shared.adapters.hf.shards import HfShardSource
from shared.bootstrap import Context, build_context
from shared.config import Settings
from shared.core.errors import PermanentError, TransientError
from shared.media.shards.errors import PullLimits, ShardCorruptError, ShardRejectedError
from shared.media.shards.messages import (
    SHARD_PULLS,
    SamplePick,
    ShardPullRequest,
    dataset_prefix,
    random_quotas,
)
from shared.media.shards.pull import (
    list_shards,
    pull_shard,
    request_shard_pulls,
    resolve_shards,
    select_shards,
)
from shared.media.shards.samples import MAX_METADATA_BYTES, sample_metadata
from shared.media.shards.store import (
    PullProgress,
    PullResult,
    shard_state,
    shard_state_path,
    shard_status,
)
from shared.media.shards.tar import MAX_EXTENDED_HEADER_BYTES
from shared.ports.datasets import DatasetAccessError, DatasetNotFoundError, ShardNotFoundError

DATASET = "acme/Egocentric-mini"
PREFIX = "acme--Egocentric-mini"
SHARD_0 = "factory_001/workers/worker_001/factory001_worker001_part00.tar"
SHARD_1 = "factory_001/workers/worker_002/factory001_worker002_part00.tar"
SHARD_2 = "factory_002/workers/worker_011/factory002_worker011_part00.tar"
WRONG_TOKEN = "hf_wrong_secret_value_0042"

Entry = tarfile.TarInfo | tuple[str, bytes]


# --- building shards ------------------------------------------------------------------------


def clip_bytes(key: str) -> bytes:
    """A few bytes with an MP4-like header; unique per key so MD5s differ."""
    return b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + key.encode() * 40


def sample_json(key: str, index: int) -> dict[str, Any]:
    worker = key.split("_")[1]
    return {
        "factory_id": "factory_001",
        "worker_id": worker.replace("worker", "worker_"),
        "duration_sec": 180.0 + index,
    }


def sample(key: str, index: int = 0, *, video_first: bool = False) -> list[Entry]:
    members: list[Entry] = [
        (f"{key}.json", json.dumps(sample_json(key, index)).encode()),
        (f"{key}.mp4", clip_bytes(key)),
    ]
    return members[::-1] if video_first else members


def keys(count: int, worker: str = "worker001") -> list[str]:
    return [f"factory001_{worker}_{i:05d}" for i in range(count)]


def shard_entries(count: int, worker: str = "worker001") -> list[Entry]:
    return [m for i, key in enumerate(keys(count, worker)) for m in sample(key, i)]


def make_tar(entries: Iterable[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
                continue
            name, data = entry
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def member_offsets(data: bytes) -> dict[str, tuple[int, int]]:
    """Each member's (header offset, data offset) in an uncompressed tar."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: (m.offset, m.offset_data) for m in tar.getmembers()}


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def hub(hub_server: FakeHub) -> FakeHub:
    return hub_server


def make_settings(hub: FakeHub, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "backend": "local",
        "hf_endpoint": hub.endpoint,
        "hf_token": DEFAULT_TOKEN,
        "hub_max_attempts": 3,
        "hub_max_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(hub: FakeHub, tmp_path: Path) -> Settings:
    return make_settings(hub, tmp_path / "home")


@pytest.fixture
def services(settings: Settings) -> Iterator[Context]:
    built = build_context(settings)
    yield built
    built.close()


@pytest.fixture
def sleeps() -> list[float]:
    """What the Hub retry layer waited (it never really sleeps in these tests)."""
    return []


@pytest.fixture
def source_for(sleeps: list[float]) -> Callable[[Settings], HfShardSource]:
    def make(settings: Settings) -> HfShardSource:
        return HfShardSource(settings, sleep=sleeps.append, backoff_seconds=0.01)

    return make


@pytest.fixture
def source(settings: Settings, source_for: Callable[[Settings], HfShardSource]) -> HfShardSource:
    return source_for(settings)


def publish(hub: FakeHub, files: dict[str, bytes], *, dataset: str = DATASET) -> None:
    hub.commit_as_user(dataset, files, summary="add shards")


def pull(
    services: Context, source: HfShardSource, shard: str = SHARD_0, **kwargs: Any
) -> PullResult:
    return pull_shard(services, DATASET, shard, source=source, **kwargs)


def stored(services: Context) -> dict[str, Any]:
    """Objects of the videos bucket by name."""
    bucket = services.settings.videos_bucket
    return {info.name: info for info in services.blobs.list(bucket)}


def generations(services: Context) -> dict[str, int]:
    return {name: info.generation for name, info in stored(services).items()}


def read(services: Context, name: str) -> bytes:
    return services.blobs.read(services.settings.videos_bucket, name)


def state(services: Context, shard: str = SHARD_0) -> dict[str, Any]:
    data = shard_state(services, DATASET, shard)
    assert data is not None
    return data


# --- listing and selecting ------------------------------------------------------------------


def test_shards_are_the_repos_tar_files_sorted_across_pages(hub, settings, source):
    # GIVEN a dataset repo with shards in folders, beside other files, listed in pages of 2
    publish(
        hub,
        {
            SHARD_2: make_tar(shard_entries(1)),
            SHARD_0: make_tar(shard_entries(1)),
            "README.md": b"# mini",
            SHARD_1: make_tar(shard_entries(1)),
            "factory_001/workers/worker_001/intrinsics.json": b"{}",
        },
    )
    hub.tree_page_size = 2

    # WHEN the shards are listed
    shards = list_shards(source, DATASET)

    # THEN every .tar file comes back, sorted, from every page
    assert shards == [SHARD_0, SHARD_1, SHARD_2]
    assert len(hub.requests_to(r"/tree/", "GET")) > 1


def test_shards_are_selected_by_index_or_name():
    shards = [SHARD_0, SHARD_1, SHARD_2]

    assert select_shards(DATASET, shards, ["1"]) == [SHARD_1]
    assert select_shards(DATASET, shards, [2, 0]) == [SHARD_2, SHARD_0]
    assert select_shards(DATASET, shards, [SHARD_1]) == [SHARD_1]
    assert select_shards(DATASET, shards, ["factory002_worker011_part00.tar"]) == [SHARD_2]
    assert select_shards(DATASET, shards, ["0", SHARD_0, 0]) == [SHARD_0]
    assert select_shards(DATASET, shards, [], all_shards=True) == shards


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (
            ["3"],
            "shard index 3 is out of range: acme/Egocentric-mini has 3 shard(s), indexes 0 to 2",
        ),
        (["nope.tar"], "acme/Egocentric-mini has no shard 'nope.tar'"),
        (["part00.tar"], "has no shard 'part00.tar'"),
        ([], "no shard of acme/Egocentric-mini selected"),
    ],
)
def test_selecting_a_shard_that_is_not_there_says_which(selectors, expected):
    with pytest.raises(ShardNotFoundError) as caught:
        select_shards(DATASET, [SHARD_0, SHARD_1, SHARD_2], selectors)
    assert expected in str(caught.value)


def test_a_file_name_shared_by_two_shards_must_be_given_as_a_path():
    shards = ["a/part00.tar", "b/part00.tar"]
    with pytest.raises(ShardNotFoundError, match="names 2 shards"):
        select_shards(DATASET, shards, ["part00.tar"])
    assert select_shards(DATASET, shards, ["b/part00.tar"]) == ["b/part00.tar"]


def test_shards_resolve_by_index_and_name_and_both_pull(hub, settings, services, source):
    # GIVEN two shards of different workers
    publish(
        hub,
        {
            SHARD_0: make_tar(shard_entries(2, "worker001")),
            SHARD_1: make_tar(shard_entries(3, "worker002")),
        },
    )

    # WHEN one is chosen by index and the other by file name, and both are pulled
    chosen = resolve_shards(source, DATASET, ["1", "factory001_worker001_part00.tar"])
    results = [pull(services, source, shard) for shard in chosen]

    # THEN each shard's clips are in the bucket
    assert chosen == [SHARD_1, SHARD_0]
    assert [r.clips_written for r in results] == [3, 2]
    names = stored(services)
    for key in keys(2, "worker001") + keys(3, "worker002"):
        assert f"{PREFIX}/{key}.mp4" in names


def test_a_dataset_without_tar_files_has_no_shards(hub, settings, source):
    publish(hub, {"README.md": b"# nothing", "data/train.parquet": b"PAR1"})
    with pytest.raises(ShardNotFoundError, match=r"has no \.tar shards \(2 file\(s\)"):
        list_shards(source, DATASET)


# --- the happy path -------------------------------------------------------------------------


def test_a_shard_lands_in_the_videos_bucket_with_metadata_and_sidecars(hub, services, source):
    # GIVEN a shard of three samples, one with its video before its JSON
    entries = [*sample(keys(3)[0], 0), *sample(keys(3)[1], 1, video_first=True)]
    entries += sample(keys(3)[2], 2)
    data = make_tar(entries)
    publish(hub, {SHARD_0: data})
    progress: list[PullProgress] = []

    # WHEN it is pulled
    result = pull(services, source, on_progress=progress.append)

    # THEN each sample is a clip with its JSON as metadata, and the JSON beside it
    objects = stored(services)
    assert sorted(objects) == sorted(
        f"{PREFIX}/{key}.{ext}" for key in keys(3) for ext in ("mp4", "json")
    )
    for index, key in enumerate(keys(3)):
        clip = objects[f"{PREFIX}/{key}.mp4"]
        assert clip.content_type == "video/mp4"
        assert read(services, clip.name) == clip_bytes(key)
        assert dict(clip.metadata) == {
            "factory_id": "factory_001",
            "worker_id": "worker_001",
            "duration_sec": str(180.0 + index),
        }
        sidecar = objects[f"{PREFIX}/{key}.json"]
        assert sidecar.content_type == "application/json"
        assert json.loads(read(services, sidecar.name)) == sample_json(key, index)
    assert result == PullResult(
        dataset=DATASET,
        shard=SHARD_0,
        prefix=PREFIX,
        outcome="pulled",
        samples=3,
        clips_written=3,
        sidecars_written=3,
        bytes_written=sum(len(clip_bytes(key)) for key in keys(3)),
    )
    # ... the shard is recorded as done with its counts
    doc = state(services)
    assert doc["status"] == "done"
    assert doc["dataset"] == DATASET
    assert doc["shard"] == SHARD_0
    assert doc["prefix"] == PREFIX
    assert doc["attempts"] == 1
    assert (doc["samples"], doc["clips_written"], doc["sidecars_written"]) == (3, 3, 3)
    assert doc["error"] is None
    assert doc["holder"] is None
    # ... progress went through the download, then the reading, to the end of the shard
    phases = [p.phase for p in progress]
    assert "downloading" in phases
    assert phases[-1] == "reading"
    assert phases.index("reading") > phases.index("downloading")
    downloaded = [p for p in progress if p.phase == "downloading"]
    assert downloaded[-1].bytes_done == downloaded[-1].bytes_total == len(data)
    assert progress[-1].bytes_done == progress[-1].bytes_total == len(data)
    assert progress[-1].clips_written == 3
    # ... and the download is gone
    assert not any((services.settings.home / "downloads").iterdir())


def test_sample_keys_keep_their_folders_and_other_video_types_their_content_type(
    hub, services, source
):
    # GIVEN a shard with folder members, "./" names, a compound extension and a .webm
    folder = tarfile.TarInfo("./clips")
    folder.type = tarfile.DIRTYPE
    entries: list[Entry] = [
        folder,
        ("./clips/a.json", b'{"n": 1}'),
        ("./clips/a.mp4", b"mp4 a"),
        ("clips/b.left.mp4", b"left b"),
        ("clips/b.webm", b"webm b"),
        ("notes", b"no extension: in no sample"),
    ]
    publish(hub, {SHARD_0: make_tar(entries)})

    # WHEN it is pulled
    result = pull(services, source)

    # THEN keys keep their folders, extensions are kept whole, types follow the extension
    objects = stored(services)
    assert sorted(objects) == [
        f"{PREFIX}/clips/a.json",
        f"{PREFIX}/clips/a.mp4",
        f"{PREFIX}/clips/b.left.mp4",
        f"{PREFIX}/clips/b.webm",
    ]
    assert objects[f"{PREFIX}/clips/a.mp4"].metadata == {"n": "1"}
    assert objects[f"{PREFIX}/clips/b.left.mp4"].content_type == "video/mp4"
    assert objects[f"{PREFIX}/clips/b.webm"].content_type == "video/webm"
    assert objects[f"{PREFIX}/clips/b.webm"].metadata == {}
    assert (result.samples, result.clips_written, result.sidecars_written) == (2, 3, 1)


def test_samples_without_a_video_are_skipped(hub, services, source):
    # GIVEN samples with only JSON, only text, and one complete sample
    entries: list[Entry] = [
        ("meta_only.json", b'{"factory_id": "f"}'),
        ("text_only.txt", b"hello"),
        *sample(keys(1)[0]),
    ]
    publish(hub, {SHARD_0: make_tar(entries)})

    result = pull(services, source)

    assert (result.samples, result.skipped, result.clips_written) == (3, 2, 1)
    assert sorted(stored(services)) == [f"{PREFIX}/{keys(1)[0]}.json", f"{PREFIX}/{keys(1)[0]}.mp4"]


def test_samples_that_cannot_be_stored_are_listed_and_the_rest_pulled(hub, services, source):
    # GIVEN a sample with broken JSON, one whose JSON is a list, one split in two places
    entries: list[Entry] = [
        ("bad.json", b"{not json"),
        ("bad.mp4", b"mp4"),
        ("listed.json", b"[1, 2]"),
        ("listed.mp4", b"mp4"),
        ("split.mp4", b"mp4"),
        *sample(keys(1)[0]),
        ("split.json", b"{}"),
    ]
    publish(hub, {SHARD_0: make_tar(entries)})

    result = pull(services, source)

    assert result.clips_written == 2  # the good one, and the first half of "split"
    assert len(result.errors) == 3
    assert "sample 'bad' not stored: its JSON is not valid JSON" in result.errors[0]
    assert "sample 'listed' not stored: its JSON is a JSON list, not an object" in result.errors[1]
    assert "sample 'split' not stored: its members are not next to each other" in result.errors[2]
    assert f"{PREFIX}/bad.mp4" not in stored(services)
    doc = state(services)
    assert doc["status"] == "done"
    assert doc["error_count"] == 3
    assert doc["errors"] == result.errors


def test_metadata_stringifies_scalars_encodes_nested_values_and_fits_gcs():
    metadata, omitted = sample_metadata(
        {"s": "x", "i": 3, "f": 1.5, "b": True, "n": None, "list": [1, "a"], "obj": {"k": 1}}
    )
    assert metadata == {
        "s": "x",
        "i": "3",
        "f": "1.5",
        "b": "True",
        "n": "null",
        "list": '[1,"a"]',
        "obj": '{"k":1}',
    }
    assert omitted == []

    big = "x" * (MAX_METADATA_BYTES - 100)
    metadata, omitted = sample_metadata({"caption": big, "too_long": "y" * 200, "id": "7"})
    assert metadata == {"caption": big, "id": "7"}
    assert omitted == ["too_long"]


def test_a_shard_pulled_once_is_not_pulled_again_unless_forced(hub, services, source):
    publish(hub, {SHARD_0: make_tar(shard_entries(3))})
    first = pull(services, source)
    before = generations(services)
    downloads = len(hub.requests_to(r"/resolve/", "GET"))

    # WHEN the same shard is pulled again (a redelivered message)
    again = pull(services, source)

    # THEN nothing is downloaded nor written, and the first pull's counts come back
    assert again.outcome == "already_done"
    assert again.clips_written == first.clips_written == 3
    assert len(hub.requests_to(r"/resolve/", "GET")) == downloads
    assert generations(services) == before

    # WHEN it is forced: it is read again, and every clip is found in place
    forced = pull(services, source, force=True)
    assert forced.outcome == "pulled"
    assert (forced.clips_written, forced.clips_present, forced.sidecars_present) == (0, 3, 3)
    assert generations(services) == before
    assert state(services)["attempts"] == 2


def test_a_changed_json_updates_the_metadata_of_a_clip_already_stored(hub, services, source):
    key = keys(1)[0]
    publish(hub, {SHARD_0: make_tar(sample(key))})
    pull(services, source)
    before = generations(services)

    publish(hub, {SHARD_0: make_tar([(f"{key}.json", b'{"worker_id": "w9"}'), sample(key)[1]])})
    result = pull(services, source, force=True)

    assert (result.clips_written, result.sidecars_written) == (1, 1)
    clip = stored(services)[f"{PREFIX}/{key}.mp4"]
    assert clip.metadata == {"worker_id": "w9"}
    assert clip.generation != before[clip.name]


# --- truncated shards and resuming ----------------------------------------------------------


def cut_inside_data(data: bytes, member: str) -> int:
    return member_offsets(data)[member][1] + 10


def cut_at_header(data: bytes, member: str) -> int:
    return member_offsets(data)[member][0]


def cut_inside_header(data: bytes, member: str) -> int:
    return member_offsets(data)[member][0] + 100


@pytest.mark.parametrize(
    ("cut", "broken_at", "why"),
    [
        (cut_inside_data, "factory001_worker001_00002.mp4", "ends inside this member"),
        (cut_at_header, "factory001_worker001_00002.mp4", "without its end-of-archive marker"),
        (cut_inside_header, "factory001_worker001_00002.mp4", "end-of-archive marker"),
    ],
    ids=["inside-member-data", "at-a-header", "inside-a-header"],
)
def test_a_truncated_shard_fails_cleanly_and_resumes_without_duplicates(
    hub, services, source, cut, broken_at, why
):
    # GIVEN a shard of five samples of which the Hub first holds a truncated copy
    full = make_tar(shard_entries(5))
    member = broken_at if cut is cut_inside_data else "factory001_worker001_00003.json"
    publish(hub, {SHARD_0: full[: cut(full, member)]})

    # WHEN it is pulled
    with pytest.raises(ShardCorruptError) as caught:
        pull(services, source)

    # THEN the error names the shard and where it broke off; the complete samples before it
    # are stored, the one cut short is not; the shard is recorded as failed
    error = caught.value
    assert isinstance(error, PermanentError)
    assert error.shard == SHARD_0
    assert error.member == broken_at
    assert SHARD_0 in str(error)
    assert why in str(error)
    first = generations(services)
    stored_keys = sorted({name.rsplit("/", 1)[1].split(".")[0] for name in first})
    assert stored_keys == keys(5)[:2]
    assert len(first) == 4
    doc = state(services)
    assert doc["status"] == "failed"
    assert doc["error_type"] == "ShardCorruptError"
    assert "truncated or corrupt" in doc["error"]
    assert doc["clips_written"] == 2
    assert doc["holder"] is None

    # WHEN the whole shard is on the Hub and it is pulled again
    publish(hub, {SHARD_0: full})
    result = pull(services, source)

    # THEN only the missing samples are written; the stored ones keep their generation
    assert (result.clips_written, result.clips_present) == (3, 2)
    assert (result.sidecars_written, result.sidecars_present) == (3, 2)
    after = generations(services)
    assert len(after) == 10
    assert {name: after[name] for name in first} == first
    doc = state(services)
    assert (doc["status"], doc["attempts"], doc["error"]) == ("done", 2, None)


def test_a_sample_cut_off_after_its_video_is_not_stored_without_its_json(hub, services, source):
    # GIVEN a shard whose last sample lists its video first and is cut before its JSON
    key = keys(1)[0]
    full = make_tar(sample(key, video_first=True))
    publish(hub, {SHARD_0: full[: cut_at_header(full, f"{key}.json")]})

    with pytest.raises(ShardCorruptError, match="without its end-of-archive marker"):
        pull(services, source)

    assert stored(services) == {}


def test_a_shard_without_its_end_marker_is_truncated(hub, services, source):
    full = make_tar(shard_entries(2))
    end = member_offsets(full)["factory001_worker001_00001.mp4"][1] + len(clip_bytes(keys(2)[1]))
    padded_end = (end + 511) // 512 * 512
    publish(hub, {SHARD_0: full[:padded_end]})

    with pytest.raises(ShardCorruptError, match="end-of-archive marker"):
        pull(services, source)
    assert len(stored(services)) == 2  # the first sample only


def test_garbage_after_a_member_is_corrupt_not_the_end(hub, services, source):
    full = make_tar(shard_entries(2))
    offset = cut_at_header(full, "factory001_worker001_00001.json")
    publish(hub, {SHARD_0: full[:offset] + b"\x07garbage" * 64 + full[offset + 512 :]})

    with pytest.raises(ShardCorruptError) as caught:
        pull(services, source)
    assert caught.value.member == "factory001_worker001_00000.mp4"


def test_a_file_that_is_not_a_tar_is_refused(hub, services, source):
    publish(hub, {SHARD_0: b"PK\x03\x04 a zip file, say" * 40})

    with pytest.raises(ShardCorruptError, match="at its start: not a tar archive"):
        pull(services, source)


# --- hostile members ------------------------------------------------------------------------


def char_device(name: str) -> tarfile.TarInfo:
    info = special(name, tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3
    return info


HOSTILE: list[tuple[str, Entry, str]] = [
    ("traversal", ("../escape.mp4", b"x"), "a '..' component"),
    ("nested-traversal", ("clips/../../escape.mp4", b"x"), "a '..' component"),
    ("absolute", ("/etc/escape.mp4", b"x"), "an absolute path"),
    ("windows-absolute", ("C:/escape.mp4", b"x"), "an absolute path"),
    ("backslash", ("..\\escape.mp4", b"x"), "a backslash"),
    ("control-characters", ("esc\nape.mp4", b"x"), "control characters"),
    ("symlink", special("link.mp4", tarfile.SYMTYPE, "/etc/passwd"), "a symbolic link"),
    (
        "hardlink",
        special("hard.mp4", tarfile.LNKTYPE, "factory001_worker001_00000.mp4"),
        "a hard link",
    ),
    ("device", char_device("null.mp4"), "a device file"),
    ("block-device", special("disk.mp4", tarfile.BLKTYPE), "a device file"),
    ("fifo", special("pipe.mp4", tarfile.FIFOTYPE), "a FIFO"),
]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [(entry, reason) for _, entry, reason in HOSTILE],
    ids=[case for case, _, _ in HOSTILE],
)
def test_hostile_members_are_refused_naming_the_member(hub, services, source, entry, reason):
    # GIVEN a shard with two good samples, then a hostile member
    name = entry.name if isinstance(entry, tarfile.TarInfo) else entry[0]
    publish(
        hub, {SHARD_0: make_tar([*shard_entries(2), entry, *sample("factory001_worker009_after")])}
    )

    # WHEN it is pulled
    with pytest.raises(ShardRejectedError) as caught:
        pull(services, source)

    # THEN the error names the shard, the member and why; nothing after it is read, the
    # samples completed before it stay, and the shard is recorded as failed with the reason
    error = caught.value
    assert error.member == name
    assert reason in error.reason
    assert repr(name) in str(error)
    assert SHARD_0 in str(error)
    assert f"{PREFIX}/{keys(2)[0]}.mp4" in stored(services)
    assert f"{PREFIX}/factory001_worker009_after.mp4" not in stored(services)
    assert not any("escape" in path for path in stored(services))
    assert not list(Path(services.settings.home).rglob("*escape*"))
    doc = state(services)
    assert doc["status"] == "failed"
    assert doc["error_type"] == "ShardRejectedError"
    assert reason in doc["error"]


@pytest.mark.parametrize(
    ("limits", "member", "reason"),
    [
        (
            PullLimits(max_members=3),
            "factory001_worker001_00001.mp4",
            "more than 3 members (max_members)",
        ),
        (
            PullLimits(max_member_bytes=200),
            "factory001_worker001_00000.mp4",
            "over the 200-byte limit per member (max_member_bytes)",
        ),
        (
            PullLimits(max_total_bytes=2000),
            "factory001_worker001_00001.mp4",
            "add up to more than 2000 bytes (max_total_bytes)",
        ),
        (
            PullLimits(max_sample_bytes=500),
            "factory001_worker001_00000.mp4",
            "more than 500 bytes of video and JSON (max_sample_bytes)",
        ),
        (
            PullLimits(max_json_bytes=20),
            "factory001_worker001_00000.json",
            "over the 20-byte limit (max_json_bytes)",
        ),
    ],
    ids=["members", "member-size", "total-size", "sample-size", "json-size"],
)
def test_shards_over_a_limit_are_refused(hub, services, source, limits, member, reason):
    publish(hub, {SHARD_0: make_tar(shard_entries(4))})

    with pytest.raises(ShardRejectedError) as caught:
        pull(services, source, limits=limits)

    assert caught.value.member == member
    assert reason in str(caught.value)
    assert state(services)["status"] == "failed"


def test_an_oversized_pax_header_is_refused_before_it_is_read(hub, services, source):
    info = tarfile.TarInfo("big-header.mp4")
    info.size = 1
    info.pax_headers = {"comment": "x" * (MAX_EXTENDED_HEADER_BYTES + 10)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x"))
    publish(hub, {SHARD_0: buffer.getvalue()})

    with pytest.raises(ShardRejectedError, match=r"an extended \(pax or long-name\) header"):
        pull(services, source)


def test_a_contiguous_file_member_counts_as_a_regular_file(hub, services, source):
    # CONTTYPE is a regular file for tar readers: taken, not refused
    info = special("odd.mp4", tarfile.CONTTYPE)
    info.size = 3
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(info, io.BytesIO(b"abc"))
    publish(hub, {SHARD_0: buffer.getvalue()})

    assert pull(services, source).clips_written == 1


# --- the Hub refusing -----------------------------------------------------------------------


def test_a_missing_dataset_is_reported_as_not_found(hub, services, settings, source):
    with pytest.raises(DatasetNotFoundError) as listing:
        list_shards(source, "acme/no-such-dataset")
    assert "acme/no-such-dataset: dataset not found (HTTP 404)" in str(listing.value)

    with pytest.raises(DatasetNotFoundError, match="dataset not found"):
        pull_shard(services, "acme/no-such-dataset", SHARD_0, source=source)
    data = shard_state(services, "acme/no-such-dataset", SHARD_0)
    assert data is not None
    assert data["status"] == "failed"
    assert data["error_type"] == "DatasetNotFoundError"


def test_a_missing_shard_is_reported(hub, services, source):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    with pytest.raises(ShardNotFoundError, match=f"downloading {SHARD_1} from {DATASET}: no such"):
        pull(services, source, SHARD_1)


def test_a_bad_token_is_reported_without_the_token(hub, tmp_path, source_for):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    settings = make_settings(hub, tmp_path / "bad", hf_token=WRONG_TOKEN)
    services = build_context(settings)
    try:
        with pytest.raises(DatasetAccessError) as listing:
            list_shards(source_for(settings), DATASET)
        with pytest.raises(DatasetAccessError) as pulling:
            pull_shard(services, DATASET, SHARD_0, source=source_for(settings))
        doc = shard_state(services, DATASET, SHARD_0)
    finally:
        services.close()

    for error in (listing.value, pulling.value):
        assert "the Hub rejected the token (HTTP 401)" in str(error)
        assert "set HF_TOKEN to a valid Hugging Face token" in str(error)
        assert WRONG_TOKEN not in str(error)
    assert doc is not None
    assert doc["status"] == "failed"
    assert WRONG_TOKEN not in json.dumps(doc, default=str)


def test_a_private_dataset_without_a_token_is_not_found_with_a_hint(hub, tmp_path, source_for):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    settings = make_settings(hub, tmp_path / "anon", hf_token=None)

    with pytest.raises(DatasetNotFoundError, match="set HF_TOKEN if it is private or gated"):
        list_shards(source_for(settings), DATASET)


def test_a_gated_dataset_says_to_accept_its_conditions(hub, services, settings, source):
    # GIVEN a gated dataset whose conditions the token's account has not accepted
    repo = hub.create_repo(DATASET, private=False, gated=True)
    publish(hub, {SHARD_0: make_tar(shard_entries(2))})

    # THEN its shards can be listed but not downloaded
    assert list_shards(source, DATASET) == [SHARD_0]
    with pytest.raises(DatasetAccessError) as caught:
        pull(services, source)
    assert "the dataset is gated (HTTP 403)" in str(caught.value)
    assert f"{hub.endpoint}/datasets/{DATASET}" in str(caught.value)

    # WHEN the conditions are accepted, the pull goes through
    repo.access_granted = True
    assert pull(services, source).clips_written == 2


def test_the_hub_is_retried_by_the_adapters_retry_layer(hub, services, source, sleeps):
    # GIVEN a Hub that answers the download with 503 once
    publish(hub, {SHARD_0: make_tar(shard_entries(2))})
    hub.fail_next(r"/resolve/", 503, method="GET")

    result = pull(services, source)

    assert result.clips_written == 2
    assert len(sleeps) == 1
    assert [r[2] for r in hub.requests_to(r"/resolve/", "GET")] == [503, 200]


def test_a_hub_that_stays_down_is_transient(hub, services, source):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    hub.fail_next(r"/resolve/", 503, times=10)

    with pytest.raises(TransientError, match="still failed after 3 attempt"):
        pull(services, source)
    assert state(services)["status"] == "failed"


# --- one pull at a time ---------------------------------------------------------------------


def test_a_shard_being_pulled_by_another_delivery_is_retried_later(hub, services, source):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    path = shard_state_path(DATASET, SHARD_0)
    live = datetime.now(UTC) + timedelta(minutes=5)
    services.documents.set(
        path,
        {"dataset": DATASET, "shard": SHARD_0, "status": "pulling", "holder": "msg-1",
         "lease_until": live, "attempts": 1},
    )  # fmt: skip

    with pytest.raises(TransientError, match="is being pulled by another delivery"):
        pull(services, source, holder="msg-2")

    # the same delivery, redelivered, takes its lease back
    assert pull(services, source, holder="msg-1").clips_written == 1


def test_an_abandoned_pull_is_taken_over(hub, services, source):
    publish(hub, {SHARD_0: make_tar(shard_entries(1))})
    expired = datetime.now(UTC) - timedelta(seconds=1)
    services.documents.set(
        shard_state_path(DATASET, SHARD_0),
        {"dataset": DATASET, "shard": SHARD_0, "status": "pulling", "holder": "crashed",
         "lease_until": expired, "attempts": 1},
    )  # fmt: skip

    result = pull(services, source, holder="msg-2")

    assert result.clips_written == 1
    assert state(services)["attempts"] == 2
    assert [row["status"] for row in shard_status(services, DATASET)] == ["done"]


# --- messages -------------------------------------------------------------------------------


def test_shard_pull_requests_are_published_one_per_shard(services):
    services.bus.create_subscription("test-dataset-shards", SHARD_PULLS.name)

    ids = request_shard_pulls(services, DATASET, [SHARD_0, SHARD_1], requested_by="cli")

    received = services.bus.pull("test-dataset-shards", max_messages=10)
    assert len(ids) == len(received) == 2
    requests = [ShardPullRequest.model_validate_json(m.data) for m in received]
    assert sorted(r.shard for r in requests) == [SHARD_0, SHARD_1]
    assert {r.dataset for r in requests} == {DATASET}
    assert {m.attributes["shard"] for m in received} == {SHARD_0, SHARD_1}


@pytest.mark.parametrize(
    "fields",
    [
        {"dataset": "not a repo", "shard": SHARD_0},
        {"dataset": DATASET, "shard": "../escape.tar"},
        {"dataset": DATASET, "shard": "/abs/shard.tar"},
        {"dataset": DATASET, "shard": "data.parquet"},
    ],
)
def test_bad_shard_pull_requests_are_refused(fields):
    with pytest.raises(ValidationError):
        ShardPullRequest(**fields)


def test_a_dataset_maps_to_a_reversible_prefix():
    assert dataset_prefix("builddotai/Egocentric-10K") == "builddotai--Egocentric-10K"
    with pytest.raises(PermanentError):
        dataset_prefix("builddotai/Egocentric--10K")


# --- the CLI --------------------------------------------------------------------------------


def test_cli_videos_pull_stores_the_clips_and_samples_their_frames(
    hub: FakeHub, tmp_path: Path
) -> None:
    from clips import make_clip  # noqa: PLC0415
    from typer.testing import CliRunner  # noqa: PLC0415

    from shared.cli.main import app  # noqa: PLC0415
    from shared.media.clips import clip_report  # noqa: PLC0415

    clip = tmp_path / "c.mp4"
    make_clip(clip, seconds=12, fps=10)
    entries: list[Entry] = []
    for index, key in enumerate(keys(2)):
        entries += [(f"{key}.mp4", clip.read_bytes()),
                    (f"{key}.json", json.dumps(sample_json(key, index)).encode())]  # fmt: skip
    publish(hub, {SHARD_0: make_tar(entries), SHARD_1: make_tar(shard_entries(1, "w2"))})
    home = tmp_path / "home"
    env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": DEFAULT_TOKEN, "COLUMNS": "250"}
    runner = CliRunner()

    first = runner.invoke(app, ["--home", str(home), "videos", "pull", "--dataset", DATASET,
                                "--shard", "0"], env=env)  # fmt: skip
    services = build_context(make_settings(hub, home))
    try:
        written = generations(services)
    finally:
        services.close()
    again = runner.invoke(app, ["--home", str(home), "videos", "pull", "--dataset", DATASET,
                                "--shard", "0"], env=env)  # fmt: skip
    by_default = runner.invoke(app, ["--home", str(home), "videos", "pull"],
                               env={**env, "VIDCURATE_HF_VIDEO_DATASET": DATASET})  # fmt: skip
    no_dataset = runner.invoke(app, ["--home", str(home), "videos", "pull"], env=env)
    missing = runner.invoke(app, ["--home", str(home), "videos", "pull", "--dataset",
                                  "acme/none", "--all"], env=env)  # fmt: skip

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    # without --dataset and --shard: the configured dataset's shard 0 (pulled already)
    assert by_default.exit_code == 0, by_default.output
    assert DATASET in by_default.output
    assert no_dataset.exit_code == 2
    assert "VIDCURATE_HF_VIDEO_DATASET" in no_dataset.output
    assert missing.exit_code == 1
    services = build_context(make_settings(hub, home))
    try:
        name = f"{PREFIX}/{keys(2)[0]}.mp4"
        report = clip_report(services, services.settings.videos_bucket, name)
        assert report is not None
        assert report["status"] == "done"
        assert [f["timestamp"] for f in report["frames"]] == [5.0]  # a 12 s clip
        assert report["metadata"] == sample_json(keys(2)[0], 0)  # its JSON types kept
        assert generations(services) == written  # the second pull wrote nothing
        assert len(written) == 4  # two clips and their JSON sidecars
        assert state(services)["status"] == "done"
        # only shard 0 was ever pulled: the default picked it, not every shard
        assert shard_state(services, DATASET, SHARD_1) is None
    finally:
        services.close()


def test_the_archives_own_folder_entry_is_not_a_hostile_member(hub, services, source):
    # GIVEN a shard made with `tar -C dir -cf shard.tar .`: its first member is "./"
    entries: list[Entry] = [special("./", tarfile.DIRTYPE), *shard_entries(2)]
    publish(hub, {SHARD_0: make_tar(entries)})

    result = pull(services, source)

    assert (result.outcome, result.clips_written) == ("pulled", 2)


def test_a_malformed_sparse_header_is_a_bad_shard_not_a_crash(hub, services, source):
    hostile = tarfile.TarInfo("clips/x.mp4")
    hostile.size = 4
    hostile.pax_headers = {"GNU.sparse.map": "abc", "GNU.sparse.size": "4"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in shard_entries(1):  # type: ignore[misc]
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        tar.addfile(hostile, io.BytesIO(b"abcd"))
    data = buffer.getvalue()
    publish(hub, {SHARD_0: data})

    with pytest.raises(PermanentError) as caught:
        pull(services, source)

    assert "clips/x.mp4" in str(caught.value) or SHARD_0 in str(caught.value)
    assert state(services)["status"] == "failed"


def test_json_nested_too_deep_is_a_sample_error_not_a_crash(hub, services, source):
    deep = b"[" * 100_000 + b"]" * 100_000
    key = keys(1)[0]
    publish(hub, {SHARD_0: make_tar([(f"{key}.mp4", clip_bytes(key)), (f"{key}.json", deep)])})

    result = pull(services, source)

    assert result.clips_written == 0
    assert "not valid JSON" in result.errors[0]


def test_a_shard_larger_than_allowed_is_refused_while_it_downloads(hub, tmp_path, source_for):
    publish(hub, {SHARD_0: make_tar(shard_entries(3))})
    settings = make_settings(hub, tmp_path / "home", max_shard_bytes=2048)
    services = build_context(settings)
    try:
        with pytest.raises(ShardRejectedError, match="max_shard_bytes") as caught:
            pull_shard(services, DATASET, SHARD_0, source=source_for(settings))

        assert caught.value.shard == SHARD_0
        assert stored(services) == {}  # refused before a single sample was read
        assert state(services)["status"] == "failed"
    finally:
        services.close()


# --- clips at random ------------------------------------------------------------------------


def test_random_quotas_and_picks_are_reproducible_and_nest():
    shards = [f"s{i}.tar" for i in range(7)]
    quotas = random_quotas(shards, 20, seed=5)
    assert sum(quotas.values()) == 20
    assert set(quotas) <= set(shards)
    assert random_quotas(shards, 20, seed=5) == quotas
    assert any(random_quotas(shards, 20, seed=s) != quotas for s in range(6, 10))
    pool = keys(30)
    three = SamplePick(count=3, seed=1).choose("s0.tar", pool)
    assert len(three) == 3
    assert three <= set(pool)
    assert SamplePick(count=3, seed=1).choose("s0.tar", reversed(pool)) == three
    assert three <= SamplePick(count=10, seed=1).choose("s0.tar", pool)  # a larger pick nests
    assert SamplePick(count=3, seed=1).choose("s1.tar", pool) != three  # each shard its own
    assert SamplePick(count=99, seed=1).choose("s0.tar", pool) == set(pool)


def test_a_pick_stores_only_its_samples_and_is_not_the_whole_shard(
    hub: FakeHub, services: Context, source: HfShardSource
) -> None:
    publish(hub, {SHARD_0: make_tar(shard_entries(10))})
    pick = SamplePick(count=3, seed=7)

    picked = pull(services, source, pick=pick)
    objects = stored(services)
    whole = pull(services, source)  # the whole shard is another pull

    chosen = pick.choose(SHARD_0, keys(10))
    assert {n for n in objects if n.endswith(".mp4")} == {f"{PREFIX}/{k}.mp4" for k in chosen}
    assert {n for n in objects if n.endswith(".json")} == {f"{PREFIX}/{k}.json" for k in chosen}
    assert (picked.samples, picked.clips_written, picked.available) == (3, 3, 10)
    assert shard_state(services, DATASET, SHARD_0, pick)["status"] == "done"
    assert (whole.outcome, whole.clips_written, whole.clips_present) == ("pulled", 7, 3)


def test_cli_pulls_n_clips_at_random_across_shards_and_tops_up_short_shards(
    hub: FakeHub, tmp_path: Path
) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from shared.cli.main import app  # noqa: PLC0415

    publish(hub, {SHARD_0: make_tar(shard_entries(4, "worker001")),
                  SHARD_1: make_tar(shard_entries(4, "worker002")),
                  SHARD_2: make_tar(shard_entries(4, "worker011"))})  # fmt: skip
    env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": DEFAULT_TOKEN, "COLUMNS": "250"}
    runner = CliRunner()

    def clips(home: Path) -> set[str]:
        services = build_context(make_settings(hub, home))
        try:
            return {n for n in stored(services) if n.endswith(".mp4")}
        finally:
            services.close()

    def pull_random(home: Path, *flags: str) -> set[str]:
        result = runner.invoke(app, ["--home", str(home), "videos", "pull", "--dataset",
                                     DATASET, *flags], env=env)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        return clips(home)

    five = pull_random(tmp_path / "a", "--random", "5", "--seed", "3")
    again = pull_random(tmp_path / "b", "--random", "5", "--seed", "3")
    other = {frozenset(pull_random(tmp_path / f"s{s}", "--random", "5", "--seed", str(s)))
             for s in range(4, 8)}  # fmt: skip
    # more than some shards hold: short shards leave the rest to the others
    ten = pull_random(tmp_path / "c", "--random", "10", "--seed", "3")
    everything = pull_random(tmp_path / "d", "--random", "40")
    only_one = pull_random(tmp_path / "e", "--random", "2", "--shard", "1")

    assert len(five) == 5
    assert again == five  # the seed decides
    assert len(other | {frozenset(five)}) > 1
    workers = {name.split("_")[1] for name in five}
    assert workers <= {"worker001", "worker002", "worker011"}
    assert len(ten) == 10
    assert len(everything) == 12
    assert len(only_one) == 2
    assert {n.split("_")[1] for n in only_one} == {"worker002"}
