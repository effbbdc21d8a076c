"""Each function's archive, installed the way Cloud Functions installs it and then served.

For every catalogued function: build the archive with infra/build_function.py, unpack it,
``pip install -r requirements.txt`` into a clean virtualenv (no repository on the path, no
development packages), start ``functions-framework`` from the unpacked folder and POST real
events. Whatever the archive forgot (a module, a dependency, a pin that does not resolve)
fails here rather than in a Cloud Build log.

Two deliveries per function:
- a binary-mode CloudEvent, as Eventarc or the local runtime sends it;
- the raw body a Pub/Sub push subscription POSTs, which is how terraform delivers in the
  cloud (modules/event_function): functions-framework converts it into a messagePublished
  CloudEvent.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from support import free_port, read_log, stop_process_group, wait_until_listening

from shared.adapters.local import build_local_services
from shared.captions.statistics import export_timestamp
from shared.captions.store import EXPORTS, task_doc_id, tasks_collection
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.critiques.messages import ConsolidationRequest, CritiqueJob, CritiqueRequest
from shared.critiques.store import items_collection, runs_path
from shared.critiques.types import item_id
from shared.discovery.messages import CandidateClip, Hit, WordSearch
from shared.media.shards.messages import ShardPullRequest
from shared.media.shards.store import shard_state_path
from shared.media.store import CLIPS, clip_id
from shared.platform.events import (
    STORAGE_ARCHIVED,
    pubsub_event_attributes,
    pubsub_event_data,
    storage_event_attributes,
    storage_object_resource,
)
from shared.platform.health import OBJECTS, PINGS, object_doc_id
from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger
from shared.platform.runtime.entrypoint import FAILURES
from shared.publishing.store import hub_upload_path
from shared.vision.messages import AnalysisJob
from shared.vision.plan import analysis_id
from shared.vision.store import ANALYSES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("deploy-archives"),  # one worker builds the virtualenv once
    pytest.mark.timeout(1200),  # the first test pays for pip install
]

PIP_TIMEOUT_SECONDS = 900
START_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 60.0


# --- build, unpack, install --------------------------------------------------------------


@dataclass(frozen=True)
class Unpacked:
    """One function's archive, unpacked, and the virtualenv its requirements went into."""

    spec: FunctionSpec
    source: Path
    venv: Path


def create_venv(path: Path, requirements: Path) -> Path:
    """A fresh virtualenv with exactly ``requirements`` installed (pip's cache is reused)."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV"))
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        env=env,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"pip install -r {requirements} failed (is PyPI reachable?):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return path


@pytest.fixture(scope="session")
def unpacked(
    tmp_path_factory: pytest.TempPathFactory, build_function: ModuleType
) -> Iterator[dict[str, Unpacked]]:
    """Every function's archive, unpacked; one virtualenv per distinct requirements.txt."""
    work = tmp_path_factory.mktemp("archives")
    venvs: dict[str, Path] = {}
    result: dict[str, Unpacked] = {}
    for spec in FUNCTIONS:
        archive = build_function.build_archive(spec.name, work / "zips")
        source = work / "src" / spec.name
        with zipfile.ZipFile(archive.path) as handle:
            handle.extractall(source)
        requirements = source / "requirements.txt"
        key = hashlib.sha256(requirements.read_bytes()).hexdigest()
        if key not in venvs:
            venvs[key] = create_venv(work / f"venv-{len(venvs)}", requirements)
        result[spec.name] = Unpacked(spec, source, venvs[key])
    yield result
    shutil.rmtree(work, ignore_errors=True)  # a gigabyte of virtualenvs


# --- serve -------------------------------------------------------------------------------


@contextmanager
def local_adapters(settings: Settings) -> Iterator[tuple[Any, Any, Any]]:
    """``(blobs, documents, bus)`` of a served function's home, closed afterwards."""
    blobs, documents, bus = build_local_services(settings)
    try:
        yield blobs, documents, bus
    finally:
        for component in (documents, bus, blobs):
            close = getattr(component, "close", None)
            if callable(close):
                close()


@dataclass
class Served:
    """A function served by functions-framework from its unpacked archive."""

    spec: FunctionSpec
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, backend="local")

    def document(self, path: str) -> dict[str, Any] | None:
        """Read what the function wrote, through the local adapters."""
        with local_adapters(self.settings) as (_blobs, documents, _bus):
            doc = documents.get(path)
            return None if doc is None else doc.data

    def logs(self) -> str:
        return read_log(self.stderr_path)


def serve(unpacked: Unpacked, home: Path) -> Served:
    port = free_port()
    # A clean environment: only the virtualenv and the function's settings. No PYTHONPATH,
    # so `shared` can only come from the archive.
    env = {
        "PATH": f"{unpacked.venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "VIDCURATE_BACKEND": "local",
        "VIDCURATE_HOME": str(home),
        "VIDCURATE_LOG_LEVEL": "INFO",
    }
    stderr_path = home / "functions-framework.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                str(unpacked.venv / "bin" / "functions-framework"),
                "--target",
                unpacked.spec.name,
                "--signature-type",
                "cloudevent",
                "--source",
                "main.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=unpacked.source,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        wait_until_listening(
            process, port, stderr_path, START_TIMEOUT_SECONDS, name="functions-framework"
        )
    except BaseException:
        stop_process_group(process)
        raise
    return Served(unpacked.spec, f"http://127.0.0.1:{port}", home, process, stderr_path)


@pytest.fixture(scope="session")
def served(
    unpacked: dict[str, Unpacked], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Served]]:
    """Start (once) and return the server of a function by name."""
    running: dict[str, Served] = {}

    def get(name: str) -> Served:
        if name not in running:
            running[name] = serve(unpacked[name], tmp_path_factory.mktemp(f"home-{name}"))
        return running[name]

    yield get
    for server in running.values():
        stop_process_group(server.process)  # gunicorn's master and its workers


# --- events ------------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4().int % 10**17)  # Pub/Sub and Eventarc ids are decimal strings


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Case:
    """What to send a function, and the document it must write."""

    event: CloudEvent  # binary-mode CloudEvent
    push: dict[str, Any]  # raw Pub/Sub push body, for the same fact
    push_path: str  # where the subscription pushes: /projects/<p>/topics/<t>
    document: str  # written for `event`
    push_document: str  # written for `push`
    expect: Callable[[dict[str, Any]], bool] = lambda _: True  # what the document must say
    exists: bool = True  # False: `document` must NOT exist (e.g. no failure recorded)
    also_absent: tuple[str, ...] = ()  # documents that must not exist after either delivery
    objects: Callable[[], bool] = lambda: True  # what the buckets must hold afterwards


def ping_case(spec: FunctionSpec, settings: Settings) -> Case:
    assert isinstance(spec.trigger, TopicTrigger)
    message_id, published = new_id(), now()
    body = json.dumps({"hello": "archive"}).encode()
    attributes = {"via": "archive-test"}
    event = CloudEvent(
        pubsub_event_attributes(settings.project, spec.trigger.topic, message_id, published),
        pubsub_event_data(
            project=settings.project,
            subscription=spec.subscription,
            data=body,
            attributes=attributes,
            message_id=message_id,
            publish_time=published,
        ),
    )
    push_id = new_id()
    push = push_body(settings, spec, body, attributes, push_id)
    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.trigger.topic}",
        document=f"{PINGS}/{message_id}",
        push_document=f"{PINGS}/{push_id}",
    )


def echo_object_case(spec: FunctionSpec, settings: Settings) -> Case:
    assert isinstance(spec.trigger, StorageTrigger)
    bucket = settings.bucket(spec.trigger.bucket)
    name = f"cfg/subject/{new_id()}_feedback.json"
    finalized = now()
    resource = storage_object_resource(
        bucket=bucket,
        name=name,
        generation=int(finalized.timestamp() * 1_000_000),
        size=2,
        content_type="application/json",
        md5_hash="mZFLkyvTelC5g8XnyQrpOw==",
        updated=finalized,
    )
    event = CloudEvent(storage_event_attributes(bucket, name, new_id(), finalized), resource)
    # The notification GCS publishes for the same object (OBJECT_FINALIZE, JSON_API_V1).
    notification = {
        "notificationConfig": f"projects/_/buckets/{bucket}/notificationConfigs/1",
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": resource["generation"],
        "eventTime": rfc3339(finalized),
    }
    push = push_body(settings, spec, json.dumps(resource).encode(), notification, new_id())
    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.source_topic(settings)}",
        document=f"{OBJECTS}/{object_doc_id(bucket, name)}",
        push_document=f"{OBJECTS}/{object_doc_id(bucket, name)}",
    )


def push_body(
    settings: Settings,
    spec: FunctionSpec,
    data: bytes,
    attributes: dict[str, str],
    message_id: str,
    published_at: datetime | None = None,
) -> dict[str, Any]:
    published = rfc3339(published_at or now())
    return {
        "message": {
            "data": base64.b64encode(data).decode("ascii"),
            "attributes": attributes,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": f"projects/{settings.project}/subscriptions/{spec.subscription}",
        "deliveryAttempt": 1,
    }


def ingest_feedback_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A feedback file removed: the versioned bucket archives it (OBJECT_ARCHIVE, sent as
    an Eventarc CloudEvent) or deletes a version for good (OBJECT_DELETE, the notification a
    push delivers). Neither needs the object to exist, and both are recorded on the task."""
    assert isinstance(spec.trigger, StorageTrigger)
    assert {"OBJECT_ARCHIVE", "OBJECT_DELETE"} <= set(spec.trigger.events)
    bucket = settings.bucket(spec.trigger.bucket)
    video_id = f"v{new_id()}"
    name = f"default/subject/{video_id}_feedback.json"
    removed = now()
    resource = storage_object_resource(
        bucket=bucket,
        name=name,
        generation=int(removed.timestamp() * 1_000_000),
        size=2,
        content_type="application/json",
        md5_hash="mZFLkyvTelC5g8XnyQrpOw==",
        updated=removed,
    )
    event = CloudEvent(
        storage_event_attributes(bucket, name, new_id(), removed, STORAGE_ARCHIVED), resource
    )
    notification = {
        "notificationConfig": f"projects/_/buckets/{bucket}/notificationConfigs/1",
        "eventType": "OBJECT_DELETE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": resource["generation"],
        "eventTime": rfc3339(removed),
    }
    push = push_body(settings, spec, json.dumps(resource).encode(), notification, new_id())
    document = f"{tasks_collection('default')}/{task_doc_id(video_id, 'subject')}"
    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.source_topic(settings)}",
        document=document,
        push_document=document,
        expect=lambda doc: doc["files"]["feedback"]["latest"]["state"] == "deleted",
    )


# Export folders are named after the request's publish minute, and an export never replaces
# another: every request of this session gets its own minute (within the event age limit).
_EXPORT_BASE = now().replace(second=0, microsecond=0) - timedelta(hours=1)
_export_minutes = itertools.count()


def export_snapshot_case(spec: FunctionSpec, settings: Settings) -> Case:
    """An export request (no publishing): the folder is written to the exports bucket."""
    assert isinstance(spec.trigger, TopicTrigger)
    message_id = new_id()
    published = _EXPORT_BASE - timedelta(minutes=next(_export_minutes))
    body = json.dumps({"config_type": "default", "ignore_errors": True}).encode()
    event = CloudEvent(
        pubsub_event_attributes(settings.project, spec.trigger.topic, message_id, published),
        pubsub_event_data(
            project=settings.project,
            subscription=spec.subscription,
            data=body,
            attributes={},
            message_id=message_id,
            publish_time=published,
        ),
    )
    push_published = _EXPORT_BASE - timedelta(minutes=next(_export_minutes))
    push = push_body(settings, spec, body, {}, new_id(), push_published)
    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.trigger.topic}",
        document=f"{EXPORTS}/export_{export_timestamp(published)}",
        push_document=f"{EXPORTS}/export_{export_timestamp(push_published)}",
        expect=lambda doc: doc["state"] == "written",
    )


def hub_upload_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A Hub upload of a folder the exports bucket does not hold: the archive builds the
    Hub publisher (huggingface_hub), claims the upload and lists the bucket, then records a
    permanent failure. Nothing reaches the network."""
    assert isinstance(spec.trigger, TopicTrigger)
    repo_id = "archive-test/dataset"
    folder = f"export_{export_timestamp(_EXPORT_BASE + timedelta(days=1))}_{new_id()}"
    body = json.dumps({"folder": folder, "repo_id": repo_id}).encode()
    message_id, published = new_id(), now()
    event = CloudEvent(
        pubsub_event_attributes(settings.project, spec.trigger.topic, message_id, published),
        pubsub_event_data(
            project=settings.project,
            subscription=spec.subscription,
            data=body,
            attributes={"folder": folder},
            message_id=message_id,
            publish_time=published,
        ),
    )
    push = push_body(settings, spec, body, {"folder": folder}, new_id())
    document = hub_upload_path(repo_id, folder)
    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.trigger.topic}",
        document=document,
        push_document=document,
        expect=lambda doc: doc["state"] == "failed" and "not found" in doc["last_error"],
    )


def topic_case(
    spec: FunctionSpec,
    settings: Settings,
    body: bytes,
    attributes: dict[str, str],
    document: Callable[[str], str],
    **expectations: Any,
) -> Case:
    """A message on the function's topic, as a CloudEvent and as a push; ``document`` maps
    the message id (the CloudEvent id either way) to the document to check."""
    assert isinstance(spec.trigger, TopicTrigger)
    message_id, published = new_id(), now()
    event = CloudEvent(
        pubsub_event_attributes(settings.project, spec.trigger.topic, message_id, published),
        pubsub_event_data(
            project=settings.project,
            subscription=spec.subscription,
            data=body,
            attributes=attributes,
            message_id=message_id,
            publish_time=published,
        ),
    )
    push_id = new_id()
    return Case(
        event=event,
        push=push_body(settings, spec, body, attributes, push_id),
        push_path=f"/projects/{settings.project}/topics/{spec.trigger.topic}",
        document=document(message_id),
        push_document=document(push_id),
        **expectations,
    )


def missing_export_folder() -> str:
    """An export folder name no test writes (the day after every export of this session)."""
    return f"export_{export_timestamp(_EXPORT_BASE + timedelta(days=2))}_{new_id()}"


def critique_fanout_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A critique request for an export folder the bucket does not hold: the archive imports
    the planner, lists the exports bucket and records the PermanentError ("no export folder")
    in the failures collection under the event id; the event is acknowledged."""
    request = CritiqueRequest(export_folder=missing_export_folder())
    return topic_case(
        spec,
        settings,
        request.model_dump_json(exclude_defaults=True).encode(),
        {},
        lambda event_id: f"{FAILURES}/{spec.name}-{event_id}",
        expect=lambda doc: (
            doc["error_type"] == "PermanentError" and "no export folder" in doc["error"]
        ),
    )


def critique_worker_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A job whose item was never planned (or was re-planned since): the worker finds no item
    at the job's key, returns "stale" and acks, recording no failure and no item."""
    folder = missing_export_folder()
    item = item_id(f"v{new_id()}", "subject", "insertion_error_critique")
    job = CritiqueJob(run=folder, item=item, key="never-planned")
    body = job.model_dump_json(exclude_none=True).encode()
    return topic_case(
        spec,
        settings,
        body,
        {"run": folder},
        lambda event_id: f"{FAILURES}/{spec.name}-{event_id}",
        exists=False,
        also_absent=(f"{items_collection(folder)}/{item}",),
    )


def finished_run(settings: Settings) -> tuple[str, str, dict[str, Any]]:
    """A critique run whose every item is done, in the served function's home: an export
    file with one caption and one successful item. ``(folder, plan id, the item's record)``."""
    folder = missing_export_folder()
    timestamp = folder.removeprefix("export_")
    video_id, plan_id = f"v{new_id()}", f"plan-{new_id()}"
    critique = "insertion_error_critique"
    record = {"status": "success", "generated_critique": "archive test", "model": "offline"}
    entries = [{"video_id": video_id, "captions": {"subject": {"final_caption": "A cat."}}}]
    with local_adapters(settings) as (blobs, documents, _bus):
        blobs.write(
            settings.exports_bucket,
            f"{folder}/all_videos_with_captions_{timestamp}.json",
            json.dumps(entries).encode(),
            content_type="application/json",
        )
        documents.set(
            f"{items_collection(folder)}/{item_id(video_id, 'subject', critique)}",
            {"video_id": video_id, "task": "subject", "critique_type": critique,
             "key": "k", "status": "success", "record": record},
        )  # fmt: skip
        documents.set(
            runs_path(folder), {"folder": folder, "timestamp": timestamp, "plan_id": plan_id}
        )
    return folder, plan_id, record


def consolidated_entries(settings: Settings, name: str) -> list[dict[str, Any]]:
    with local_adapters(settings) as (blobs, _documents, _bus):
        entries: list[dict[str, Any]] = json.loads(blobs.read(settings.exports_bucket, name))
        return entries


def critique_consolidate_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A consolidation request for a finished run (prepared in the function's home): the
    archive claims the plan, reads the export and the items' records (a projection), writes
    all_videos_with_captions_and_critiques_<ts>.json with the record on its caption, and
    marks the run consolidated. No Hub dataset is configured: no upload is queued."""
    folder, plan_id, record = finished_run(settings)
    name = f"{folder}/all_videos_with_captions_and_critiques_{folder.removeprefix('export_')}.json"

    def consolidated(doc: dict[str, Any]) -> bool:
        if doc.get("consolidated_plan") != plan_id or doc.get("consolidated_file") != name:
            return False
        (entry,) = consolidated_entries(settings, name)
        return bool(entry["captions"]["subject"]["insertion_error_critique"] == record)

    request = ConsolidationRequest(run=folder, plan_id=plan_id)
    return topic_case(
        spec,
        settings,
        request.model_dump_json().encode(),
        {"run": folder},
        lambda _event_id: runs_path(folder),
        expect=consolidated,
    )


def finalized(
    settings: Settings, spec: FunctionSpec, bucket: str, name: str, info: Any, content_type: str
) -> tuple[CloudEvent, dict[str, Any], str]:
    """An object written to a watched bucket, as a binary CloudEvent and as the push of its
    OBJECT_FINALIZE notification (JSON_API_V1); and the push's message id."""
    resource = storage_object_resource(
        bucket=bucket,
        name=name,
        generation=info.generation,
        size=info.size,
        content_type=content_type,
        md5_hash=info.md5_hash,
        updated=now(),
    )
    event = CloudEvent(storage_event_attributes(bucket, name, new_id(), now()), resource)
    notification = {
        "notificationConfig": f"projects/_/buckets/{bucket}/notificationConfigs/1",
        "eventType": "OBJECT_FINALIZE",
        "payloadFormat": "JSON_API_V1",
        "bucketId": bucket,
        "objectId": name,
        "objectGeneration": str(info.generation),
        "eventTime": rfc3339(now()),
    }
    push_id = new_id()
    push = push_body(settings, spec, json.dumps(resource).encode(), notification, push_id)
    return event, push, push_id


def extract_frames_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A clip written to the videos bucket of the function's home (PyAV in the archive's
    venv decodes it): the event samples it into the frames bucket and indexes it; the push
    of the same object's notification finds that generation done."""
    assert isinstance(spec.trigger, StorageTrigger)
    from clips import make_clip  # noqa: PLC0415

    bucket = settings.bucket(spec.trigger.bucket)
    name = f"archive/{new_id()}.mp4"
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        make_clip(clip, seconds=3, fps=10)
        with local_adapters(settings) as (blobs, _documents, _bus):
            info = blobs.write(bucket, name, clip.read_bytes(), content_type="video/mp4")
    event, push, _push_id = finalized(settings, spec, bucket, name, info, "video/mp4")
    document = f"{CLIPS}/{clip_id(bucket, name)}"

    def sampled(doc: dict[str, Any]) -> bool:
        frames = doc.get("frames") or []
        # the default sampling: a 3 s clip, shorter than half a 10 s slot, at its middle
        return doc.get("status") == "done" and [f["timestamp"] for f in frames] == [1.5]

    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.source_topic(settings)}",
        document=document,
        push_document=document,
        expect=sampled,
    )


def analyze_frames_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A frame-analysis job for a sampled clip prepared in the function's home (one JPEG in
    the frames bucket): no API key is configured there, so the offline provider describes
    the frame; the push of the same job finds it described."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    name, generation = f"archive/{new_id()}.mp4", 7
    frame = f"archive/{name.rsplit('/', 1)[-1].removesuffix('.mp4')}/0.jpg"
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(picture, "JPEG")
    clip = clip_id(settings.videos_bucket, name)
    with local_adapters(settings) as (blobs, documents, _bus):
        blobs.write(settings.frames_bucket, frame, picture.getvalue(), content_type="image/jpeg")
        documents.set(f"{CLIPS}/{clip}", {
            "bucket": settings.videos_bucket, "name": name, "generation": generation,
            "status": "done", "metadata": {"worker_id": "w1"},
            "frames": [{"timestamp": 0.0, "path": frame, "width": 64, "height": 48}],
        })  # fmt: skip
    job = AnalysisJob(clip=clip, generation=generation, prompt="describe_frame",
                      model="gpt-4o-mini")  # fmt: skip
    document = (
        f"{ANALYSES}/{analysis_id(clip, generation, 'describe_frame@1', 'gpt-4o-mini', 'offline')}"
    )

    def described(doc: dict[str, Any]) -> bool:
        (only,) = doc.get("frames") or [{}]
        return doc.get("status") == "done" and "64x48" in str(only.get("description"))

    return topic_case(
        spec, settings, job.model_dump_json().encode(), {"clip": clip},
        lambda _message_id: document, expect=described,
    )  # fmt: skip


def pull_dataset_shard_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A dataset-shards message for a shard the function's home records as pulled: the
    archive parses it, finds the shard done and answers without going to the Hub (the Hub
    path itself runs against tests/hubfake.py in tests/unit/test_dataset_pull.py)."""
    dataset, shard = "acme/clips", f"part-{new_id()}.tar"
    path = shard_state_path(dataset, shard)
    with local_adapters(settings) as (_blobs, documents, _bus):
        documents.set(path, {"dataset": dataset, "shard": shard, "status": "done",
                             "samples": 3, "clips_written": 3})  # fmt: skip
    request = ShardPullRequest(dataset=dataset, shard=shard)
    return topic_case(
        spec, settings, request.model_dump_json().encode(), {"dataset": dataset},
        lambda _message_id: path,
        expect=lambda doc: doc.get("status") == "done" and doc.get("clips_written") == 3,
    )  # fmt: skip


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    picture = io.BytesIO()
    Image.new("RGB", size, colour).save(picture, "JPEG")
    return picture.getvalue()


def register_set_image_case(spec: FunctionSpec, settings: Settings) -> Case:
    """An image finalized in a set's folder of the sets bucket: the archive lists it in the
    set's manifest (a new one), once however often the event comes."""
    assert isinstance(spec.trigger, StorageTrigger)
    bucket = settings.bucket(spec.trigger.bucket)
    set_id = f"set-{new_id()}"
    name = f"{set_id}/img_01.jpg"
    with local_adapters(settings) as (blobs, _documents, _bus):
        info = blobs.write(bucket, name, jpeg((10, 120, 200)), content_type="image/jpeg")
    event, push, push_id = finalized(settings, spec, bucket, name, info, "image/jpeg")

    def listed() -> bool:
        with local_adapters(settings) as (blobs, _documents, _bus):
            manifest = json.loads(blobs.read(bucket, f"{set_id}/manifest.json"))
        return bool(manifest == {"set_id": set_id, "images": [{"file": "img_01.jpg",
                                                              "source": "upload"}]})  # fmt: skip

    return Case(
        event=event,
        push=push,
        push_path=f"/projects/{settings.project}/topics/{spec.source_topic(settings)}",
        # Nothing recorded as a failure; the manifest lists the image.
        document=f"{FAILURES}/{spec.name}-{event['id']}",
        push_document=f"{FAILURES}/{spec.name}-{push_id}",
        exists=False,
        objects=listed,
    )


def evaluate_set_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A set-evaluations message for a set of three images (a manifest naming them) in the
    function's home: no API key there, so the offline judge classifies the numbered sheet
    (Pillow in the archive's venv draws it); the sheet and the evaluation land in the
    evaluations bucket, and the push of the same request finds it done."""
    from shared.trainsets.messages import SetEvaluation  # noqa: PLC0415

    set_id = f"set-{new_id()}"
    images = {"a.jpg": (128, 128, 128), "b.jpg": (230, 20, 20), "c.jpg": (90, 140, 60)}
    manifest = {"set_id": set_id, "images": [{"file": f} for f in images]}
    with local_adapters(settings) as (blobs, _documents, _bus):
        for file, colour in images.items():
            blobs.write(settings.sets_bucket, f"{set_id}/{file}", jpeg(colour),
                        content_type="image/jpeg")  # fmt: skip
        blobs.write(settings.sets_bucket, f"{set_id}/manifest.json",
                    json.dumps(manifest).encode(), content_type="application/json")  # fmt: skip
    request = SetEvaluation(set_id=set_id, run=f"run-{new_id()}")

    def evaluated(doc: dict[str, Any]) -> bool:
        return doc.get("status") == "evaluated" and doc.get("total") == len(images)

    def written() -> bool:
        with local_adapters(settings) as (blobs, _documents, _bus):
            evaluation = json.loads(
                blobs.read(settings.evaluations_bucket, f"{set_id}_evaluation.json")
            )
            sheet = blobs.read(settings.evaluations_bucket, f"{set_id}_composite.jpg")
        return sheet[:2] == b"\xff\xd8" and [i["file"] for i in evaluation["images"]] == list(
            images
        )

    return topic_case(
        spec, settings, request.model_dump_json().encode(), {"set": set_id},
        lambda _message_id: f"trainsets/{set_id}", expect=evaluated, objects=written,
    )  # fmt: skip


def unknown_discovery_run_case(spec: FunctionSpec, settings: Settings) -> Case:
    """A message of a discovery run the function's home never recorded: the archive imports
    its stage (the clip source port, the model and speech clients, PyAV's audio extraction),
    parses the payload, finds no run and records the PermanentError ("does not exist")
    under the event id; the event is acknowledged, and no search or model call is made."""
    run = f"disc_archive_{new_id()}"
    payload: WordSearch | CandidateClip
    if spec.name == "discover_search":
        payload = WordSearch(run=run, word="serendipity")
    else:
        hit = Hit(clip_id=new_id(), slug="a-clip", title="A clip", transcript="serendipity")
        payload = CandidateClip(run=run, word="serendipity", hit=hit, searched_at=0.0)
    return topic_case(
        spec,
        settings,
        payload.model_dump_json().encode(),
        {"run": run},
        lambda event_id: f"{FAILURES}/{spec.name}-{event_id}",
        expect=lambda doc: (
            doc["error_type"] == "PermanentError" and "does not exist" in doc["error"]
        ),
    )


CASES: dict[str, Callable[[FunctionSpec, Settings], Case]] = {
    "ping": ping_case,
    "ingest_feedback": ingest_feedback_case,
    "export_snapshot": export_snapshot_case,
    "hub_upload": hub_upload_case,
    "critique_fanout": critique_fanout_case,
    "critique_worker": critique_worker_case,
    "critique_consolidate": critique_consolidate_case,
    "echo_object": echo_object_case,
    "extract_frames": extract_frames_case,
    "analyze_frames": analyze_frames_case,
    "pull_dataset_shard": pull_dataset_shard_case,
    "register_set_image": register_set_image_case,
    "evaluate_set": evaluate_set_case,
    "discover_search": unknown_discovery_run_case,
    "discover_score": unknown_discovery_run_case,
    "discover_fetch": unknown_discovery_run_case,
    "discover_review": unknown_discovery_run_case,
}


def is_ack(response: requests.Response) -> bool:
    return 200 <= response.status_code < 300


def check_documents(server: Served, case: Case, path: str) -> None:
    """What the delivery must have written (or, for ``exists=False``, must not have)."""
    document = server.document(path)
    if case.exists:
        assert document is not None, server.logs()
        assert case.expect(document), f"{document}\n{server.logs()}"
    else:
        assert document is None, f"{path}: {document}\n{server.logs()}"
    for absent in case.also_absent:
        assert server.document(absent) is None, f"{absent}\n{server.logs()}"
    assert case.objects(), server.logs()


# --- tests -------------------------------------------------------------------------------


def test_every_function_has_a_case():
    assert set(CASES) == {spec.name for spec in FUNCTIONS}


@pytest.mark.parametrize("name", [spec.name for spec in FUNCTIONS])
def test_the_archive_serves_a_binary_cloud_event(served, name):
    server = served(name)
    case = CASES[name](server.spec, server.settings)
    headers, body = to_binary(case.event)

    response = requests.post(
        server.url, headers=dict(headers), data=body, timeout=REQUEST_TIMEOUT_SECONDS
    )

    assert is_ack(response), f"{response.status_code} {response.text}\n{server.logs()}"
    check_documents(server, case, case.document)


@pytest.mark.parametrize("name", [spec.name for spec in FUNCTIONS])
def test_the_archive_serves_a_pubsub_push(served, name):
    server = served(name)
    case = CASES[name](server.spec, server.settings)

    response = requests.post(
        server.url + case.push_path, json=case.push, timeout=REQUEST_TIMEOUT_SECONDS
    )

    assert is_ack(response), f"{response.status_code} {response.text}\n{server.logs()}"
    check_documents(server, case, case.push_document)


def test_the_archive_runs_without_the_repository(unpacked):
    """`shared` must come from the archive: the virtualenv holds only the requirements."""
    for item in unpacked.values():
        probe = subprocess.run(
            [str(item.venv / "bin" / "python"), "-c", "import shared, sys; print(shared.__file__)"],
            cwd=item.source,
            env={"PATH": os.defpath, "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert Path(probe.stdout.strip()).parent == item.source / "shared"
        outside = subprocess.run(
            [str(item.venv / "bin" / "python"), "-c", "import shared"],
            cwd=item.venv,
            env={"PATH": os.defpath},
            capture_output=True,
            text=True,
            check=False,
        )
        assert outside.returncode != 0, "the virtualenv can import shared outside the archive"
