"""Publish a finished export folder to a Hugging Face dataset repo, in one commit.

A ``hub-uploads`` message names an export folder (``export_YYYYMMDD_HHMM``). The folder
stays in the exports bucket whatever happens; this service copies it to the dataset repo
under the same folder name, together with a README.md dataset card built from the export's
statistics, as ONE commit.

Exactly one commit per (repo, folder), under at-least-once delivery: a status document
``hub_uploads/<id>`` records the upload. A delivery that finds it ``done`` returns at once;
one that finds the folder already on the Hub (the function crashed after the commit, before
recording it) records it without committing again; a concurrent delivery of another message
waits for the first one's lease. The adapter commits on top of the branch head it read, so
even two racing commits cannot both land.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Services
from shared.config import Settings
from shared.errors import NotFoundError, PermanentError, TransientError
from shared.ports import DELETE_FIELD, SERVER_TIMESTAMP, DocumentStore, HubPublisher, Transaction
from shared.services.leases import lease_live

log = logging.getLogger("vidcurate.hub")

HUB_UPLOADS = "hub_uploads"

FOLDER_PATTERN = r"^export_\d{8}_\d{4}(_\d+)?$"
STATISTICS_PREFIX = "comprehensive_statistics_"
README = "README.md"

CARD_BEGIN = "<!-- vidcurate:begin -->"
CARD_END = "<!-- vidcurate:end -->"
CARD_TAGS = ("video", "captioning", "vidcurate")
STATUSES = ("not_completed", "completed_not_reviewed", "approved", "rejected")
STATUS_TITLES = ("Not completed", "Completed, not reviewed", "Approved", "Rejected")

UPLOAD_LEASE = timedelta(minutes=10)
"""How long an upload in progress keeps other deliveries out. Longer than an event-driven
function may run (540 s), so a live upload never loses it and a killed one frees it soon."""

MAX_ERROR_CHARS = 2000

# The Hub's rules for OWNER/NAME: letters, digits, '-', '_', '.'; no '--' or '..'; neither
# part starts or ends with '-' or '.'; at most 96 characters each.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
REPO_ID_PATTERN = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")
_YAML_HEADER = re.compile(r"^\s*---\r?\n[\s\S]*?\r?\n---(\r?\n|$)")


def check_repo_id(value: str) -> str:
    """``value`` if it is a dataset repo id (OWNER/NAME), else a ValueError saying why."""
    if not REPO_ID_PATTERN.fullmatch(value) or "--" in value or ".." in value:
        raise ValueError(
            f"{value!r} is not a Hugging Face repo id: expected OWNER/NAME with letters, "
            "digits, '-', '_' or '.' (no '--' or '..')"
        )
    return value


class HubUploadRequest(BaseModel):
    """The ``hub-uploads`` message: which export folder to publish, and where."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    folder: str = Field(
        pattern=FOLDER_PATTERN, description="Export folder name, e.g. export_20261123_1405."
    )
    repo_id: str | None = Field(
        None, description="Dataset repo (OWNER/NAME); default: settings.hf_dataset."
    )
    requested_by: str | None = Field(
        None, max_length=200, description="Who asked (user, scheduler, export_snapshot)."
    )
    files: tuple[str, ...] | None = Field(
        None,
        description=(
            "Only these files of the folder (e.g. the consolidated critiques written after "
            "the folder was published); default: the whole folder."
        ),
    )
    version: str | None = Field(
        None,
        max_length=100,
        description=(
            "What these files are a version of (the consolidated critiques: the plan id). "
            "A new version of the same files is published again; a repeat of one is not."
        ),
    )

    @field_validator("files")
    @classmethod
    def _check_files(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (
            not value or any(not n or "/" in n or n.startswith(".") for n in value)
        ):
            raise ValueError("files: plain file names of the export folder, at least one")
        return value

    @field_validator("repo_id")
    @classmethod
    def _check_repo_id(cls, value: str | None) -> str | None:
        return None if value is None else check_repo_id(value)


def hub_upload_path(
    repo_id: str, folder: str, files: Iterable[str] | None = None, version: str | None = None
) -> str:
    """The status document of publishing ``folder`` (or some of its files, in a version) to
    ``repo_id``."""
    subject = f"{repo_id}/{folder}" + (f"#{','.join(sorted(files))}" if files else "")
    subject += f"@{version}" if version else ""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{HUB_UPLOADS}/{digest}"


def upload_export(
    services: Services, publisher: HubPublisher, request: HubUploadRequest, *, request_id: str
) -> dict[str, Any]:
    """Publish ``request.folder`` from the exports bucket to the dataset repo, once.

    Returns the outcome (``committed``, ``already_done`` or ``found_on_hub``) with the commit.
    Bad input (no repo configured, no such folder, no statistics, a token or rights problem)
    raises PermanentError; anything else propagates so that the platform retries. Either
    way the status document records ``failed`` and the error first.
    """
    settings = services.settings
    repo_id = _resolve_repo(request, settings)
    folder = request.folder
    path = hub_upload_path(repo_id, folder, request.files, request.version)
    labels = {"repo_id": repo_id, "folder": folder, "request_id": request_id}

    claimed = _claim(services.documents, path, repo_id, request, request_id)
    if claimed is not None:
        log.info("export already published", extra={"labels": labels})
        return _result(claimed, "already_done")
    try:
        result = _publish(services, publisher, repo_id, folder, path, request.files)
    except Exception as exc:
        _mark_failed(services.documents, path, exc, settings)
        raise
    log.info(
        "export published",
        extra={"labels": labels, "outcome": result["outcome"], "commit_oid": result["commit_oid"]},
    )
    return result


def hub_upload_status(documents: DocumentStore) -> list[dict[str, Any]]:
    """Every recorded upload (for ``vidcurate status``), by repo then newest folder first."""
    fields = (
        "repo_id",
        "folder",
        "state",
        "attempts",
        "commit_oid",
        "commit_url",
        "last_error",
        "updated_at",
    )
    rows = [
        {key: doc.data.get(key) for key in fields} for doc in documents.iter_collection(HUB_UPLOADS)
    ]
    rows.sort(key=lambda row: str(row["folder"] or ""), reverse=True)
    rows.sort(key=lambda row: str(row["repo_id"] or ""))
    return rows


# --- the steps ------------------------------------------------------------------------------


def _resolve_repo(request: HubUploadRequest, settings: Settings) -> str:
    repo_id = request.repo_id or settings.hf_dataset
    if not repo_id:
        raise PermanentError(
            f"no dataset repo to publish {request.folder} to: give repo_id in the message or "
            "set VIDCURATE_HF_DATASET (OWNER/NAME)"
        )
    try:
        return check_repo_id(repo_id)
    except ValueError as exc:
        raise PermanentError(f"VIDCURATE_HF_DATASET: {exc}") from exc


def _claim(
    documents: DocumentStore,
    path: str,
    repo_id: str,
    request: HubUploadRequest,
    request_id: str,
) -> dict[str, Any] | None:
    """Start an attempt; return the document's data instead when the upload is done.

    Another message's live attempt holds a lease: this delivery raises TransientError and
    the platform brings it back later, when the upload is done or the lease has expired (its
    function was killed). A redelivery of the same message takes over at once: Pub/Sub
    redelivers a message after its previous delivery failed or timed out.
    """
    now = datetime.now(UTC)

    def apply(tx: Transaction) -> dict[str, Any] | None:
        doc = tx.get(path)
        data = dict(doc.data) if doc is not None else {}
        if data.get("state") == "done":
            return data
        holder = data.get("request_id")
        if (
            data.get("state") == "uploading"
            and holder != request_id
            and lease_live(data.get("lease_until"), now)
        ):
            raise TransientError(
                f"{request.folder} -> {repo_id}: message {holder} is publishing it (lease until "
                f"{data['lease_until']}); retry later"
            )
        tx.set(
            path,
            {
                "folder": request.folder,
                "repo_id": repo_id,
                "state": "uploading",
                "attempts": int(data.get("attempts") or 0) + 1,
                "last_error": data.get("last_error"),
                "commit_oid": None,
                "commit_url": None,
                "files": [],
                "request_id": request_id,
                "requested_by": request.requested_by,
                "lease_until": now + UPLOAD_LEASE,
                "updated_at": SERVER_TIMESTAMP,
            },
        )
        return None

    return documents.run_transaction(apply)


def _publish(
    services: Services,
    publisher: HubPublisher,
    repo_id: str,
    folder: str,
    path: str,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    available = _export_names(services, folder)
    statistics_name = _statistics_name(available, folder, services.settings.exports_bucket)
    missing = sorted(set(only or ()) - set(available))
    if missing:
        raise PermanentError(f"export folder {folder} has no {', '.join(missing)}")
    names = list(only) if only else available
    paths = [f"{folder}/{name}" for name in names]
    bucket = services.settings.exports_bucket
    files = {name: services.blobs.read(bucket, f"{folder}/{name}") for name in names}
    landed = (
        # Files written again (a new consolidation) replace their older version on the Hub.
        all(publisher.read_file(repo_id, f"{folder}/{n}") == files[n] for n in names)
        if only
        else publisher.folder_exists(repo_id, folder)
    )
    if landed:
        # The commit landed but was never recorded (a crash in between): record, don't redo.
        return _mark_done(services.documents, path, None, paths, "found_on_hub")

    statistics = _statistics(services.blobs.read(bucket, f"{folder}/{statistics_name}"), folder)
    existing = publisher.read_file(repo_id, README)
    card = render_dataset_card(
        statistics,
        repo_id=repo_id,
        folder=folder,
        existing=existing.decode("utf-8", errors="replace") if existing is not None else None,
    )
    commit = publisher.commit_folder(
        repo_id,
        folder,
        files,
        card,
        private=services.settings.hf_private,
        message=f"Add {folder} (vidcurate export)",
    )
    return _mark_done(
        services.documents, path, {"oid": commit.oid, "url": commit.url}, paths, "committed"
    )


def _export_names(services: Services, folder: str) -> list[str]:
    bucket = services.settings.exports_bucket
    prefix = f"{folder}/"
    try:
        names = [info.name[len(prefix) :] for info in services.blobs.list(bucket, prefix)]
    except NotFoundError as exc:
        raise PermanentError(
            f"exports bucket {bucket} does not exist (looking for {folder})"
        ) from exc
    names = [name for name in names if name]
    if not names:
        raise PermanentError(f"export folder {folder} not found in bucket {bucket}")
    return names


def _statistics_name(names: Iterable[str], folder: str, bucket: str) -> str:
    for name in sorted(names):
        if "/" not in name and name.startswith(STATISTICS_PREFIX) and name.endswith(".json"):
            return name
    raise PermanentError(
        f"export folder {folder} in bucket {bucket} has no {STATISTICS_PREFIX}*.json; "
        "an export is published only once its statistics are written"
    )


def _statistics(raw: bytes, folder: str) -> dict[str, Any]:
    try:
        statistics = json.loads(raw)
    except ValueError as exc:
        raise PermanentError(f"export folder {folder}: the statistics file is not JSON") from exc
    if not isinstance(statistics, dict):
        raise PermanentError(f"export folder {folder}: the statistics file is not a JSON object")
    return statistics


def _mark_done(
    documents: DocumentStore,
    path: str,
    commit: Mapping[str, str] | None,
    paths: list[str],
    outcome: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "state": "done",
        "outcome": outcome,
        "commit_oid": commit["oid"] if commit else None,
        "commit_url": commit["url"] if commit else None,
        "files": paths,
        "last_error": None,
        "lease_until": DELETE_FIELD,
        "updated_at": SERVER_TIMESTAMP,
    }
    documents.set(path, data, merge=True)
    stored = documents.get(path)
    return _result(stored.data if stored is not None else data, outcome)


def _mark_failed(documents: DocumentStore, path: str, exc: Exception, settings: Settings) -> None:
    text = _redact(f"{type(exc).__name__}: {exc}", settings)[:MAX_ERROR_CHARS]
    try:
        documents.set(
            path,
            {
                "state": "failed",
                "last_error": text,
                "lease_until": DELETE_FIELD,
                "updated_at": SERVER_TIMESTAMP,
            },
            merge=True,
        )
    except Exception:
        # The original error matters more (it decides retry or not): log this one, keep that.
        log.exception("could not record the failed upload", extra={"labels": {"path": path}})


def _redact(text: str, settings: Settings) -> str:
    token = settings.hf_token.get_secret_value().strip() if settings.hf_token else ""
    return text.replace(token, "[redacted]") if token else text


def _result(data: Mapping[str, Any], outcome: str) -> dict[str, Any]:
    return {
        "repo_id": data.get("repo_id"),
        "folder": data.get("folder"),
        "state": data.get("state"),
        "outcome": outcome,
        "commit_oid": data.get("commit_oid"),
        "commit_url": data.get("commit_url"),
        "files": list(data.get("files") or []),
    }


# --- the dataset card -----------------------------------------------------------------------


def render_dataset_card(
    statistics: Mapping[str, Any],
    *,
    repo_id: str,
    folder: str,
    existing: str | None,
    license: str | None = None,
) -> str:
    """README.md for the dataset repo: a YAML header, and the generated section.

    The section between ``CARD_BEGIN`` and ``CARD_END`` describes the latest export (folder,
    timestamp, per-task status breakdown, totals, annotators and reviewers, edge cases).
    With an ``existing`` README, only that section changes: everything outside the markers,
    YAML header included, stays as its authors wrote it (without markers, the section is
    appended). ``license`` goes into a new header; vidcurate cannot know it.
    """
    section = _card_section(statistics, folder=folder)
    if existing is not None and existing.strip():
        begin = existing.find(CARD_BEGIN)
        end = existing.find(CARD_END, begin + len(CARD_BEGIN)) if begin >= 0 else -1
        if begin >= 0 and end >= 0:
            return existing[:begin] + section + existing[end + len(CARD_END) :]
        body = existing.rstrip() + "\n\n" + section + "\n"
        return body if _YAML_HEADER.match(existing) else _card_header(repo_id, license) + body
    name = repo_id.split("/", 1)[-1]
    intro = (
        f"# {name}\n\nVideo captions curated with vidcurate: annotated, reviewed and exported "
        "per caption task. Each `export_YYYYMMDD_HHMM/` folder is one export, published as "
        "one commit.\n\n"
    )
    return _card_header(repo_id, license) + intro + section + "\n"


def _card_header(repo_id: str, license: str | None) -> str:
    # huggingface_hub is heavy to import; only the card needs it, and only here.
    from huggingface_hub import DatasetCardData  # noqa: PLC0415

    data = DatasetCardData(
        pretty_name=repo_id.split("/", 1)[-1], tags=list(CARD_TAGS), license=license
    )
    return f"---\n{data.to_yaml()}\n---\n\n"


def _card_section(statistics: Mapping[str, Any], *, folder: str) -> str:
    totals = _mapping(statistics.get("totals"))
    lines = [
        CARD_BEGIN,
        "<!-- Written by vidcurate at every export: edit outside these markers. -->",
        "## Latest export",
        "",
        f"- Folder: `{_text(folder)}`",
        f"- Export timestamp: {_cell(statistics.get('export_timestamp'))}",
        f"- Generated at: {_cell(statistics.get('generated_at'))}",
        f"- Config type: {_cell(statistics.get('config_type'))}",
        f"- Tasks: {', '.join(_text(t) for t in _tasks(statistics)) or 'n/a'}",
        "",
        "### Totals",
        "",
        *_table(
            [
                "Videos",
                "With a completed task",
                "With a reviewed task",
                "Not started",
                "Edge cases",
                "Quarantined files",
            ],
            [
                [
                    totals.get(key)
                    for key in (
                        "videos",
                        "videos_with_any_completed_task",
                        "videos_with_any_reviewed_task",
                        "videos_not_started",
                        "edge_cases",
                        "quarantined_files",
                    )
                ]
            ],
        ),
        "",
        "Status of every (video, task) pair:",
        "",
        *_table(list(STATUS_TITLES), [_status_counts(totals)]),
        "",
        "### Status by task",
        "",
        *_task_table(statistics),
        "",
        "### Annotators",
        "",
        *_people_table(
            statistics.get("annotators"),
            ["Annotator", "Tasks", "Approved", "Rejected", "Pending review", "Approval rate"],
            ("tasks", "approved", "rejected", "pending_review"),
        ),
        "",
        "### Reviewers",
        "",
        *_people_table(
            statistics.get("reviewers"),
            ["Reviewer", "Reviews", "Approved", "Rejected", "Approval rate"],
            ("reviews", "approved", "rejected"),
        ),
        "",
        "### Edge cases",
        "",
        *_edge_case_table(statistics.get("edge_case_counts")),
        "",
        CARD_END,
    ]
    return "\n".join(lines)


def _tasks(statistics: Mapping[str, Any]) -> list[str]:
    listed = statistics.get("tasks")
    tasks = [str(t) for t in listed] if isinstance(listed, list) else []
    tasks += [str(t) for t in _mapping(statistics.get("per_task")) if str(t) not in tasks]
    return tasks


def _task_table(statistics: Mapping[str, Any]) -> list[str]:
    per_task = _mapping(statistics.get("per_task"))
    rows = []
    for task in _tasks(statistics):
        info = _mapping(per_task.get(task))
        rows.append(
            [
                task,
                info.get("long_name"),
                *_status_counts(info),
                _percent(info.get("completion_rate")),
                _percent(info.get("review_rate")),
                _percent(info.get("approval_rate")),
            ]
        )
    if not rows:
        return ["No per-task statistics in this export."]
    headers = ["Task", "Long name", *STATUS_TITLES, "Completion", "Review", "Approval"]
    return _table(headers, rows)


def _people_table(value: Any, headers: list[str], keys: tuple[str, ...]) -> list[str]:
    people = _mapping(value)
    if not people:
        return ["None in this export."]
    rows = [
        [
            name,
            *(_mapping(info).get(key) for key in keys),
            _percent(_mapping(info).get("approval_rate")),
        ]
        for name, info in sorted(people.items())
    ]
    return _table(headers, rows)


def _edge_case_table(value: Any) -> list[str]:
    counts = _mapping(value)
    if not counts:
        return ["None recorded."]
    return _table(["Kind", "Count"], [[kind, count] for kind, count in sorted(counts.items())])


def _status_counts(info: Mapping[str, Any]) -> list[Any]:
    counts = _mapping(info.get("status_counts"))
    return [counts.get(status) for status in STATUSES]


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _percent(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value * 100:.1f}%"


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "n/a"
    if isinstance(value, float):
        return f"{value:g}"
    return _text(value)


def _text(value: Any) -> str:
    # Names come from annotation files: keep them from breaking the table or the markers.
    text = str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text.replace("<!--", "&lt;!--").replace("-->", "--&gt;")
