"""An export counts only once complete: the claim that makes it visible, what readers refuse,
and how the next export clears what a killed or failed one left."""

from __future__ import annotations

import dataclasses
import errno
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from captions_support import (
    dumps,
    feedback,
    ingested_home,
    review,
    video_list,
)

from shared.captions.export import ExportTakenOverError, ExportWriteError, run_export
from shared.captions.messages import ExportRequest, IncompleteExportError, export_path
from shared.captions.store import list_exports
from shared.core.errors import PermanentError, TransientError
from shared.core.files import partial_folder
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.status import status_report
from shared.critiques.store import load_export
from shared.publishing.messages import HubUploadRequest
from shared.publishing.upload import upload_export

NOW = datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)
TS = "20261123_1405"
INCOMPLETE = re.escape(f"export_{TS} is incomplete (its writer stopped before finishing")


@pytest.fixture
def out(tmp_path):
    """The --export-dir (beside the home)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def services(tmp_path):
    files = {
        "default/videos/batch.jsonl": video_list("v1", "v2", "v3"),
        "default/subject/v1_feedback.json": dumps(feedback("alice")),
        "default/subject/v1_review.json": dumps(review(True)),
        "default/motion/v2_feedback.json": dumps(feedback("bob")),
    }
    built = ingested_home(tmp_path / "home", files)
    yield built
    built.close()


def objects(services, folder):
    bucket = services.settings.exports_bucket
    listed = services.blobs.list(bucket, f"{folder}/")
    return sorted(i.name.removeprefix(f"{folder}/") for i in listed)


def state(services, folder):
    doc = services.documents.get(export_path(folder))
    return None if doc is None else doc.data["state"]


def as_if_killed(services, folder, files, *, keep, lease_until):
    """What ``kill -9`` leaves after ``keep`` files: the claim still ``writing`` under its
    writer's lease, the other objects never written."""
    for name in files[keep:]:
        services.blobs.delete(services.settings.exports_bucket, f"{folder}/{name}")
    services.documents.update(
        export_path(folder), {"state": "writing", "writer": "r-dead", "lease_until": lease_until}
    )


class NoPublisher:
    """A Hub publisher that must not be reached."""

    def __getattr__(self, name):
        raise AssertionError(f"the Hub was asked {name}")


class DiskFullAfter:
    """The exports bucket on a disk that fills up after ``writes`` objects."""

    def __init__(self, blobs, writes):
        self.blobs, self.writes = blobs, writes

    def write(self, bucket, name, data, **kwargs):
        if self.writes == 0:
            raise OSError(errno.ENOSPC, "No space left on device", name)
        self.writes -= 1
        return self.blobs.write(bucket, name, data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.blobs, name)


def test_an_unfinished_export_is_refused_by_every_reader(services, out):
    # GIVEN an export killed after its first file (all_videos_with_captions, what critiques
    # read), its writer's lease still running
    first = run_export(services, ExportRequest(), request_id="r-dead", now=NOW)
    live = datetime.now(UTC) + timedelta(minutes=5)
    as_if_killed(services, first.folder, list(first.files), keep=1, lease_until=live)

    # WHEN critiques, the Hub upload and the status views read it, THEN each refuses it in
    # one line, before reading anything or calling any model
    with pytest.raises(IncompleteExportError, match=INCOMPLETE) as refused:
        plan_run(services, CritiqueRequest(export_folder=first.folder))
    assert "\n" not in str(refused.value)
    assert str(refused.value).endswith("run `vidcurate export` again")
    assert services.documents.get(f"critique_runs/{first.folder}") is None
    with pytest.raises(IncompleteExportError, match=INCOMPLETE):
        status_report(services, first.folder)
    request = HubUploadRequest(folder=first.folder, repo_id="team/captions")
    with pytest.raises(PermanentError, match=INCOMPLETE):
        upload_export(services, NoPublisher(), request, request_id="m1")
    assert list_exports(services.documents) == []


def test_a_stale_claim_is_taken_over_by_the_next_export(services, out):
    # GIVEN two exports killed half-way: one whose lease ran out, one still in its lease
    dead = run_export(services, ExportRequest(), request_id="r-dead", now=NOW)
    past = datetime.now(UTC) - timedelta(seconds=1)
    as_if_killed(services, dead.folder, list(dead.files), keep=2, lease_until=past)
    busy = run_export(services, ExportRequest(), request_id="r-busy", now=NOW)
    future = datetime.now(UTC) + timedelta(minutes=5)
    as_if_killed(services, busy.folder, list(busy.files), keep=1, lease_until=future)

    # WHEN the next export runs in the same minute
    result = run_export(services, ExportRequest(), request_id="r-next", now=NOW, export_dir=out)

    # THEN the stale one is cleared (objects deleted, marked abandoned), the live one is left
    # to its writer, and the new export takes the next free name, complete
    assert (dead.folder, busy.folder, result.folder) == (
        f"export_{TS}",
        f"export_{TS}_2",
        f"export_{TS}_3",
    )
    assert objects(services, dead.folder) == []
    assert state(services, dead.folder) == "abandoned"
    with pytest.raises(IncompleteExportError, match=r"stopped before finishing\);"):
        load_export(services, dead.folder)
    assert state(services, busy.folder) == "writing"
    assert len(objects(services, busy.folder)) == 1
    assert state(services, result.folder) == "written"
    assert objects(services, result.folder) == sorted(result.files)
    doc = services.documents.get(export_path(result.folder)).data
    assert "writer" not in doc
    assert "lease_until" not in doc
    assert [e["folder"] for e in list_exports(services.documents)] == [result.folder]


def test_a_full_disk_while_writing_leaves_nothing_behind(services, out):
    # GIVEN an exports bucket whose disk fills up after two objects
    full = dataclasses.replace(services, blobs=DiskFullAfter(services.blobs, writes=2))

    # WHEN an export runs there
    with pytest.raises(ExportWriteError) as caught:
        run_export(full, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # THEN one line says so, and neither the bucket nor the export folder keeps anything of it
    message = str(caught.value)
    assert "\n" not in message
    assert "No space left on device" in message
    assert "what it had written is removed" in message
    assert objects(services, f"export_{TS}") == []
    assert state(services, f"export_{TS}") == "abandoned"
    assert list(out.iterdir()) == []

    # AND once space is back, the next export succeeds under the next name
    again = run_export(services, ExportRequest(), request_id="r2", now=NOW, export_dir=out)
    assert again.folder == f"export_{TS}_2"


class TakenOverAfter:
    """An exports bucket so slow that, after ``writes`` objects, the export's lease ran out
    and another export took its claim over."""

    def __init__(self, services, writes):
        self.services, self.blobs, self.writes = services, services.blobs, writes

    def write(self, bucket, name, data, **kwargs):
        written = self.blobs.write(bucket, name, data, **kwargs)
        self.writes -= 1
        if self.writes == 0:
            folder = name.split("/", 1)[0]
            later = datetime.now(UTC) + timedelta(minutes=5)
            self.services.documents.update(
                export_path(folder), {"writer": "takeover-r9", "lease_until": later}
            )
        return written

    def __getattr__(self, name):
        return getattr(self.blobs, name)


def test_an_export_that_lost_its_claim_stops_and_leaves_it_to_the_new_holder(services, out):
    slow = dataclasses.replace(services, blobs=TakenOverAfter(services, writes=1))

    with pytest.raises(ExportTakenOverError, match="another export took this one's place"):
        run_export(slow, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # THEN it wrote nothing more, never marked the folder written, and left the clearing to
    # the export that holds the claim now
    assert objects(services, f"export_{TS}") == [f"all_videos_with_captions_{TS}.json"]
    claim = services.documents.get(export_path(f"export_{TS}")).data
    assert (claim["state"], claim["writer"]) == ("writing", "takeover-r9")
    assert list(out.iterdir()) == []


def test_a_finished_export_is_placed_whole_and_leftovers_of_dead_writers_go(services, out):
    # GIVEN a staged folder left by a killed export (its process is gone), one being written
    # by a live process, and an unrelated hidden folder
    dead = partial_folder(out / "export_20261123_1300", pid=2**22 + 12345)
    live = partial_folder(out / "export_20261123_1301", pid=1)
    for folder in (dead, live, out / ".cache"):
        folder.mkdir()
        (folder / "half.json").write_bytes(b"[{")

    # WHEN an export runs into that folder
    result = run_export(services, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # THEN the dead writer's leftovers are gone, the rest kept, and the export is in place
    assert sorted(p.name for p in out.iterdir()) == sorted([".cache", live.name, result.folder])
    written = out / result.folder
    assert sorted(p.name for p in written.iterdir()) == sorted(result.files)
    for name, size in result.files.items():
        assert len((written / name).read_bytes()) == size
        json.loads((written / name).read_bytes())


def test_a_redelivered_finished_request_copies_its_missing_local_folder(services, out):
    first = run_export(services, ExportRequest(), request_id="msg-1", now=NOW)

    again = run_export(services, ExportRequest(), request_id="msg-1", now=NOW, export_dir=out)

    assert again.folder == first.folder
    assert again.files == first.files
    copied = out / first.folder
    assert sorted(p.name for p in copied.iterdir()) == sorted(first.files)
    assert [p.name for p in out.iterdir()] == [first.folder]  # nothing staged is left


def test_a_folder_copied_into_the_bucket_by_hand_is_read_as_it_is(services):
    # GIVEN a folder that no export claimed (no exports/<folder> document)
    bucket = services.settings.exports_bucket
    entries = [{"video_id": "v9", "captions": {}}]
    name = "export_20261101_0900/all_videos_with_captions_20261101_0900.json"
    services.blobs.write(bucket, name, json.dumps(entries).encode())

    assert load_export(services, "export_20261101_0900") == ("20261101_0900", entries)


class UnavailableAfter:
    """An exports bucket that answers 503 once, after ``writes`` objects."""

    def __init__(self, blobs, writes):
        self.blobs, self.writes = blobs, writes

    def write(self, bucket, name, data, **kwargs):
        if self.writes == 0:
            self.writes = -1
            raise TransientError(f"gs://{bucket}/{name}: 503 Service Unavailable")
        self.writes -= 1
        return self.blobs.write(bucket, name, data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.blobs, name)


def test_a_passing_outage_leaves_the_folder_to_the_redelivery_which_finishes_it(services, out):
    # GIVEN an export interrupted by a 503 after two of its files
    flaky = dataclasses.replace(services, blobs=UnavailableAfter(services.blobs, writes=2))
    with pytest.raises(TransientError):
        run_export(flaky, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # WHEN the message is redelivered
    again = run_export(services, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # THEN it finishes the same folder (not abandoned, no second name)
    assert again.folder == f"export_{TS}"
    assert state(services, f"export_{TS}") == "written"
    assert objects(services, f"export_{TS}") == sorted(again.files)
    assert state(services, f"export_{TS}_2") is None


def test_a_second_delivery_waits_while_the_first_still_writes(services, out):
    # GIVEN an export of request r1 that another delivery of r1 is writing right now
    flaky = dataclasses.replace(services, blobs=UnavailableAfter(services.blobs, writes=2))
    with pytest.raises(TransientError):
        run_export(flaky, ExportRequest(), request_id="r1", now=NOW, export_dir=out)
    later = datetime.now(UTC) + timedelta(minutes=5)
    services.documents.update(
        export_path(f"export_{TS}"), {"writer": "r1/another-delivery", "lease_until": later}
    )
    before = {name: services.blobs.stat(services.settings.exports_bucket, f"export_{TS}/{name}")
              for name in objects(services, f"export_{TS}")}  # fmt: skip

    # WHEN a duplicate delivery of r1 arrives
    with pytest.raises(TransientError, match="another delivery of this export is writing it"):
        run_export(services, ExportRequest(), request_id="r1", now=NOW, export_dir=out)

    # THEN it wrote nothing, here or under another name: it is retried later
    after = {name: services.blobs.stat(services.settings.exports_bucket, f"export_{TS}/{name}")
             for name in objects(services, f"export_{TS}")}  # fmt: skip
    assert {n: i.generation for n, i in after.items()} == {
        n: i.generation for n, i in before.items()
    }
    assert state(services, f"export_{TS}") == "writing"
    assert state(services, f"export_{TS}_2") is None
