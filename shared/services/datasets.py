"""Pull WebDataset tar shards of a Hugging Face dataset into the videos bucket.

A shard is one ``.tar`` file of a dataset repo (``OWNER/NAME``), e.g. Egocentric-10K's
``factory_001/workers/worker_001/factory001_worker001_part00.tar``. :func:`list_shards` lists
them (sorted: a shard's index is its position in that list) and :func:`select_shards` picks
some by index or name. :func:`pull_shard` downloads one whole shard with ``hf_hub_download``
(a plain file download, not the slow streaming API), reads it member by member with
``tarfile`` in streaming mode and stores every sample that has a video:

- ``<prefix>/<sample key>.<ext>`` in the videos bucket: the video member's bytes, its content
  type from the extension, and the sample's ``.json`` as object metadata (scalar values as
  ``str()`` gives them, as ``vidcurate videos add`` does; ``null`` and nested values as
  compact JSON; fields that do not fit Cloud Storage's 8 KiB of custom metadata are left
  out, and counted);
- ``<prefix>/<sample key>.json`` beside it: the sample's JSON as it is in the shard
  (``application/json``), written before the video so that it is there when the video's
  object event arrives.

``<prefix>`` is :func:`dataset_prefix`: ``OWNER--NAME`` (``builddotai/Egocentric-10K`` ->
``builddotai--Egocentric-10K``). Hub repo ids never contain ``--``, so the mapping is
reversible and two owners' datasets of the same name never share a prefix; every character
is one that object names and file systems take as is. The sample key keeps its folders, as
WebDataset keys do: the member path without the extension(s) of its base name
(``a/b.left.mp4``: key ``a/b``, extension ``left.mp4``).

Resumable without duplicates: an object that already holds the same bytes (MD5) and
metadata is not written again, so pulling a shard again after a crash, a truncated download
or a rejected member writes only what is missing. Replacements are conditional on the
generation that was compared, so a concurrent writer is never overwritten blindly.

The shard is untrusted input. Members with an absolute path, a ``..`` component, a
backslash or control characters, links (symbolic or hard), devices, FIFOs and anything that
is not a regular file or a folder are refused, as are more members, bigger members, bigger
samples or more bytes in all than :class:`PullLimits` allows: a :class:`ShardRejectedError`
names the shard, the member and why, and stops the pull. A truncated or otherwise unreadable
shard raises :class:`ShardCorruptError`, naming the member where it broke off (tarfile ends
quietly at a missing or garbled header, so the end-of-archive marker is checked too). Either
way the samples stored before stay; the sample being read when the pull stopped is not
stored (it may be incomplete), and a pull of a repaired shard picks up from there. Nothing
is extracted to disk: members are read from the tar stream, and only the members of one
sample (its videos and its JSON) are held in memory at a time.

Documents::

    dataset_shards/<id>   one per (dataset, shard): status pulling | done | failed, the
                          holder's lease while pulling, attempts, counts of the last attempt
                          (samples, clips and sidecars written or already present, skipped
                          samples, errors and the first of them) and the reason it failed.

A delivery that finds the shard done does nothing (unless ``force``); one that finds it being
pulled under another delivery's live lease raises :class:`~shared.errors.TransientError`
(retried later); a failed or abandoned pull (its lease expired) is taken over.

The Hub is read through the Hub adapter's retry layer (:mod:`shared.adapters.hf`), with
``settings.hf_token`` (HF_TOKEN; Secret Manager in the cloud), which is never logged nor put
in a message.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, Self, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import __version__
from shared.bootstrap import Services
from shared.config import Settings
from shared.errors import (
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    TransientError,
)
from shared.ports import SERVER_TIMESTAMP, OutgoingMessage, Transaction
from shared.services.hub import check_repo_id
from shared.services.leases import lease_end

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from shared.adapters.hf import HfHubPublisher

log = logging.getLogger("vidcurate.datasets")

T = TypeVar("T")

DATASET_SHARDS = "dataset_shards"
DATASET_SHARDS_TOPIC = "dataset-shards"
"""Topic of :class:`ShardPullRequest` messages: one shard each, pulled by one function call."""

REPO_TYPE = "dataset"
SHARD_SUFFIX = ".tar"

VIDEO_TYPES: Mapping[str, str] = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
}
"""Video extensions a sample's video member may have, and their content types."""
JSON_EXTENSION = "json"

MAX_METADATA_BYTES = 8 << 10
"""Cloud Storage's limit on an object's custom metadata (keys and values together)."""
MAX_OBJECT_NAME_BYTES = 1024  # Cloud Storage
MAX_NAME_COMPONENT_BYTES = 255  # most file systems: the local backend stores names as paths
MAX_EXTENDED_HEADER_BYTES = 1 << 20
"""Largest pax or GNU long-name header read. tarfile reads such headers whole before it
returns the member they describe, so they are capped before that read."""

LEASE_SECONDS = 600.0  # longer than a function may run (540 s): a live pull keeps it
RENEW_SECONDS = 60.0  # how often a pull in progress extends its lease and records its counts
MAX_RECORDED_ERRORS = 20  # per-sample errors kept on the shard document
MAX_ERROR_CHARS = 2000

ShardStatus = Literal["pulling", "done", "failed"]
Outcome = Literal["pulled", "already_done"]
Phase = Literal["downloading", "reading"]


# --- errors ---------------------------------------------------------------------------------


class DatasetAccessError(PermanentError):
    """The Hub refused to show the dataset: a bad token, no rights, or conditions to accept."""


class DatasetNotFoundError(DatasetAccessError):
    """No such dataset repo (or a private one the request may not see)."""


class ShardNotFoundError(PermanentError):
    """The dataset has no shards, or none that a selector (index or name) names."""


class ShardError(PermanentError):
    """A shard that cannot be pulled as it is: the member where it happened, and why."""

    def __init__(self, dataset: str, shard: str, member: str | None, reason: str) -> None:
        self.dataset = dataset
        self.shard = shard
        self.member = member
        self.reason = reason
        super().__init__(self._text())

    def _text(self) -> str:
        raise NotImplementedError


class ShardRejectedError(ShardError):
    """A member that is unsafe (path, link, device) or over a limit; the pull stops."""

    def _text(self) -> str:
        return (
            f"{self.dataset}: shard {self.shard}: member {_show(self.member)} rejected: "
            f"{self.reason}; nothing after it was read"
        )


class ShardCorruptError(ShardError):
    """The shard is truncated or not a readable tar archive."""

    def _text(self) -> str:
        where = f"at member {_show(self.member)}" if self.member else "at its start"
        return f"{self.dataset}: shard {self.shard} is truncated or corrupt {where}: {self.reason}"


def _show(name: str | None) -> str:
    text = repr(name) if name is not None else "(none)"
    return text if len(text) <= 200 else text[:197] + "..."


# --- models ---------------------------------------------------------------------------------


class PullLimits(BaseModel):
    """Caps on what one shard may hold; a shard over one is refused (ShardRejectedError)."""

    model_config = ConfigDict(frozen=True)

    max_members: int = Field(100_000, gt=0, description="Members (files and folders).")
    max_member_bytes: int = Field(4 << 30, gt=0, description="Size of one member.")
    max_total_bytes: int = Field(64 << 30, gt=0, description="All members' sizes together.")
    max_sample_bytes: int = Field(
        4 << 30, gt=0, description="The video and JSON members of one sample: what is in memory."
    )
    max_json_bytes: int = Field(1 << 20, gt=0, description="A sample's JSON member.")
    max_shard_bytes: int = Field(
        64 << 30,
        gt=0,
        description=(
            "The shard file itself, checked while it downloads (a function's /tmp is memory)."
        ),
    )


def check_shard_name(value: str) -> str:
    """``value`` if it is a ``.tar`` file path relative to the repo root, else a ValueError."""
    parts = value.split("/")
    if (
        not value
        or len(value) > 1000
        or any(part in ("", ".", "..") for part in parts)
        or not value.lower().endswith(SHARD_SUFFIX)
        or any(ord(char) < 32 or char in "\x7f\\" for char in value)
    ):
        raise ValueError(f"{value!r} is not a shard: expected the path of a .tar file in the repo")
    return value


class ShardPullRequest(BaseModel):
    """The ``dataset-shards`` message: pull one shard of a dataset into the videos bucket."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dataset: str = Field(description="Dataset repo on the Hub, OWNER/NAME.")
    shard: str = Field(description="The shard's file path in the repo (not its index).")
    force: bool = Field(False, description="Pull it again even if it was pulled already.")
    requested_by: str | None = Field(None, max_length=200, description="Who asked.")

    @field_validator("dataset")
    @classmethod
    def _check_dataset(cls, value: str) -> str:
        return check_repo_id(value)

    @field_validator("shard")
    @classmethod
    def _check_shard(cls, value: str) -> str:
        return check_shard_name(value)


@dataclass
class PullResult:
    """What one pull of a shard did (``already_done``: the counts of the pull that did it)."""

    dataset: str
    shard: str
    prefix: str
    outcome: Outcome = "pulled"
    samples: int = 0  # samples seen (keys), stored or not
    clips_written: int = 0
    clips_present: int = 0  # already stored with the same bytes and metadata
    sidecars_written: int = 0
    sidecars_present: int = 0
    skipped: int = 0  # samples without a video member
    metadata_truncated: int = 0  # samples whose clip metadata left out fields (8 KiB cap)
    bytes_written: int = 0
    errors: list[str] = field(default_factory=list)  # samples that could not be stored

    def counts(self) -> dict[str, Any]:
        """The counts as recorded on the shard document."""
        return {
            "samples": self.samples,
            "clips_written": self.clips_written,
            "clips_present": self.clips_present,
            "sidecars_written": self.sidecars_written,
            "sidecars_present": self.sidecars_present,
            "skipped": self.skipped,
            "metadata_truncated": self.metadata_truncated,
            "bytes_written": self.bytes_written,
            "error_count": len(self.errors),
            "errors": self.errors[:MAX_RECORDED_ERRORS],
        }


@dataclass(frozen=True)
class PullProgress:
    """Where a pull stands: bytes of the shard downloaded, or read, out of its size."""

    dataset: str
    shard: str
    phase: Phase
    bytes_done: int
    bytes_total: int | None
    samples: int
    clips_written: int
    clips_present: int


ProgressCallback = Callable[[PullProgress], None]


# --- where shards come from -----------------------------------------------------------------


class ShardSource(Protocol):
    """Dataset repos to read shards from: :class:`HfShardSource`, or a stand-in."""

    def list_files(self, dataset: str) -> list[str]:
        """Every file path in the dataset repo's main branch."""
        ...

    def download(
        self,
        dataset: str,
        filename: str,
        directory: Path,
        *,
        on_bytes: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Download ``filename`` whole into ``directory``; its local path.

        ``on_bytes(done, total)`` is told how far the download is.
        """
        ...


class _DownloadProgress:
    """Stands in for tqdm in ``hf_hub_download``: forwards the byte count, draws nothing.

    huggingface_hub instantiates the class it is given with tqdm's keyword arguments and
    calls a handful of tqdm methods; the others are no-ops here. ``update_transfer`` being
    present makes Xet downloads report reconstructed bytes on this one bar.
    """

    def __init__(
        self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any
    ) -> None:
        self.n = initial
        self.total = total

    def _report(self, done: int, total: int | None) -> None:
        """Replaced per download by :func:`_progress_class`."""

    def update(self, n: float | None = 1) -> None:
        """Count ``n`` more bytes (negative when a download restarts)."""
        self.n += int(n or 0)
        self._report(self.n, self.total)

    def update_transfer(self, n: float | None = 1) -> None:
        """Network bytes (Xet): the reconstructed bytes in :meth:`update` are what counts."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def set_transfer_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def _progress_class(report: Callable[[int, int | None], None]) -> type[_DownloadProgress]:
    class Progress(_DownloadProgress):
        def _report(self, done: int, total: int | None) -> None:
            report(done, total)

    return Progress


class HfShardSource:
    """Dataset repos on the Hub of ``settings.hf_endpoint``, read with ``settings.hf_token``.

    Every request runs in the retry layer of :class:`shared.adapters.hf.HfHubPublisher`
    (408, 429, 5xx, timeouts and connection errors retried with jittered backoff and
    ``Retry-After``, huggingface_hub's own retries kept out of it, ``settings.hub_max_attempts``
    and ``hub_max_seconds`` as bounds), so the Hub is retried by one layer only. ``sleep``
    and the backoff arguments are the publisher's (tests wait without sleeping).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        # huggingface_hub is heavy to import and reads its environment when first imported:
        # only here, when the Hub is used.
        from huggingface_hub import HfApi  # noqa: PLC0415

        from shared.adapters.hf import HfHubPublisher  # noqa: PLC0415

        secret = settings.hf_token.get_secret_value() if settings.hf_token is not None else ""
        self._token: str | None = secret.strip() or None
        self._endpoint = settings.hf_endpoint.rstrip("/")
        # token=False, not None: huggingface_hub would otherwise look for a token on the
        # machine, and only Settings says where credentials come from.
        self._api: HfApi = HfApi(
            endpoint=self._endpoint,
            token=self._token or False,
            library_name="vidcurate",
            library_version=__version__,
        )
        self._hub: HfHubPublisher = HfHubPublisher(
            settings,
            api=self._api,
            sleep=sleep,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
        )

    def list_files(self, dataset: str) -> list[str]:
        """Every file path in the dataset repo's main branch (the Hub pages long listings)."""
        from huggingface_hub.errors import HfHubHTTPError  # noqa: PLC0415

        action = "listing the files of"

        def listing() -> list[str]:
            try:
                files = self._api.list_repo_files(dataset, repo_type=REPO_TYPE)
                return [str(name) for name in files]
            except HfHubHTTPError as exc:
                self._raise_refused(exc, action, dataset)
                raise

        return self._retrying(action, dataset, listing)

    def download(
        self,
        dataset: str,
        filename: str,
        directory: Path,
        *,
        on_bytes: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Download ``filename`` whole into ``directory`` with ``hf_hub_download``."""
        from huggingface_hub import hf_hub_download  # noqa: PLC0415
        from huggingface_hub.errors import (  # noqa: PLC0415
            HfHubHTTPError,
            LocalEntryNotFoundError,
        )

        action = f"downloading {filename} from"
        progress = _progress_class(on_bytes) if on_bytes is not None else None

        def fetch() -> str:
            try:
                return hf_hub_download(
                    dataset,
                    filename,
                    repo_type=REPO_TYPE,
                    local_dir=directory,
                    endpoint=self._endpoint,
                    token=self._token or False,
                    library_name="vidcurate",
                    library_version=__version__,
                    tqdm_class=cast(Any, progress),
                )
            except HfHubHTTPError as exc:
                self._raise_refused(exc, action, dataset)
                raise
            except LocalEntryNotFoundError as exc:
                # The file's metadata could not be read and there is no local copy: an HTTP
                # error the library wrapped, or an endpoint that is not a Hub.
                cause = exc.__cause__
                if isinstance(cause, HfHubHTTPError):
                    self._raise_refused(cause, action, dataset)
                    raise cause from exc
                raise TransientError(self._redact(f"{action} {dataset}: {exc}")) from exc
            except OSError as exc:
                # A download whose size did not match, a full disk: try the whole pull again.
                raise TransientError(self._redact(f"{action} {dataset} failed: {exc}")) from exc

        return Path(self._retrying(action, dataset, fetch))

    def _retrying(self, action: str, dataset: str, fn: Callable[[], T]) -> T:
        # The publisher's retry layer, reused as is so that the Hub has one retry policy.
        return self._hub._call(action, dataset, fn)

    def _raise_refused(self, exc: HfHubHTTPError, action: str, dataset: str) -> None:
        """Raise our error for the Hub refusing a read; return when the Hub adapter's
        translation of ``exc`` says it as well (a 400, say)."""
        error = self._refused(exc, action, dataset)
        if error is not None:
            raise error from exc

    def _refused(self, exc: HfHubHTTPError, action: str, dataset: str) -> Exception | None:
        status = exc.response.status_code
        code = exc.response.headers.get("X-Error-Code")
        said = (exc.server_message or "").strip().replace("\n", " ")[:300]
        detail = f" (the Hub said: {said})" if said else ""
        page = f"{self._endpoint}/datasets/{dataset}"
        if code == "GatedRepo":
            how = (
                "with the token's account"
                if self._token
                else "and set HF_TOKEN to a token of the account that accepted them"
            )
            text = (
                f"{action} {dataset}: the dataset is gated (HTTP {status}); accept its "
                f"conditions at {page} {how}"
            )
            return DatasetAccessError(self._redact(text))
        if code == "EntryNotFound":
            return ShardNotFoundError(
                self._redact(f"{action} {dataset}: no such file (HTTP {status}){detail}")
            )
        if status == 404 or (status == 401 and self._token is None):
            hint = "" if self._token else ", or set HF_TOKEN if it is private or gated"
            text = (
                f"{action} {dataset}: dataset not found (HTTP {status}){detail}; check "
                f"OWNER/NAME{hint}"
            )
            return DatasetNotFoundError(self._redact(text))
        if status == 401:
            text = (
                f"{action} {dataset}: the Hub rejected the token (HTTP 401){detail}; set "
                "HF_TOKEN to a valid Hugging Face token"
            )
            return DatasetAccessError(self._redact(text))
        if status == 403:
            text = (
                f"{action} {dataset}: the token may not read this dataset (HTTP 403){detail}; "
                "use a token with read access to it"
            )
            return DatasetAccessError(self._redact(text))
        return None

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def build_shard_source(settings: Settings) -> ShardSource:
    """The Hub, as ``settings`` configures it (endpoint, token, retry bounds)."""
    return HfShardSource(settings)


# --- listing and selecting shards -----------------------------------------------------------


def dataset_prefix(dataset: str) -> str:
    """Where a dataset's samples go in the videos bucket: ``OWNER--NAME``."""
    return _check_dataset(dataset).replace("/", "--")


def list_shards(
    settings: Settings, dataset: str, *, source: ShardSource | None = None
) -> list[str]:
    """The dataset's ``.tar`` files, sorted: a shard's index is its position here."""
    dataset = _check_dataset(dataset)
    files = (source or build_shard_source(settings)).list_files(dataset)
    shards = sorted(name for name in files if name.lower().endswith(SHARD_SUFFIX))
    if not shards:
        some = ", ".join(sorted(files)[:5]) or "none"
        raise ShardNotFoundError(
            f"{dataset} has no {SHARD_SUFFIX} shards ({len(files)} file(s): {some})"
        )
    return shards


def select_shards(
    dataset: str,
    shards: Sequence[str],
    selectors: Sequence[int | str],
    *,
    all_shards: bool = False,
) -> list[str]:
    """The shards that ``selectors`` name, in the order given, each once.

    A selector is an index into ``shards`` (an int, or a string of digits), a shard's path in
    the repo, or the file name of exactly one shard. ``all_shards`` selects every shard.
    """
    if all_shards:
        return list(shards)
    if not selectors:
        raise ShardNotFoundError(
            f"no shard of {dataset} selected: name shards by index or file name, or select all"
        )
    chosen: list[str] = []
    for selector in selectors:
        shard = _select_one(dataset, shards, selector)
        if shard not in chosen:
            chosen.append(shard)
    return chosen


def resolve_shards(
    settings: Settings,
    dataset: str,
    selectors: Sequence[int | str],
    *,
    all_shards: bool = False,
    source: ShardSource | None = None,
) -> list[str]:
    """:func:`list_shards`, then :func:`select_shards`."""
    shards = list_shards(settings, dataset, source=source)
    return select_shards(dataset, shards, selectors, all_shards=all_shards)


def _select_one(dataset: str, shards: Sequence[str], selector: int | str) -> str:
    text = str(selector).strip()
    if isinstance(selector, int) or text.isdigit():
        index = int(text)
        if not 0 <= index < len(shards):
            raise ShardNotFoundError(
                f"shard index {index} is out of range: {dataset} has {len(shards)} shard(s), "
                f"indexes 0 to {len(shards) - 1}"
            )
        return shards[index]
    if text in shards:
        return text
    by_file_name = [shard for shard in shards if shard.rsplit("/", 1)[-1] == text]
    if len(by_file_name) == 1:
        return by_file_name[0]
    if len(by_file_name) > 1:
        raise ShardNotFoundError(
            f"{text!r} names {len(by_file_name)} shards of {dataset} "
            f"({', '.join(by_file_name[:3])}, ...): give the path in the repo"
        )
    raise ShardNotFoundError(
        f"{dataset} has no shard {text!r}; its shards are e.g. {', '.join(shards[:3])}"
    )


def _check_dataset(dataset: str) -> str:
    try:
        return check_repo_id(dataset)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc


# --- messages -------------------------------------------------------------------------------


def request_shard_pulls(
    services: Services,
    dataset: str,
    shards: Sequence[str],
    *,
    force: bool = False,
    requested_by: str | None = None,
) -> list[str]:
    """Publish one ``dataset-shards`` message per shard (a function pulls each); their ids."""
    requests = [
        ShardPullRequest(dataset=dataset, shard=shard, force=force, requested_by=requested_by)
        for shard in shards
    ]
    messages = [
        OutgoingMessage(
            request.model_dump_json(exclude_none=True).encode(),
            {"dataset": request.dataset, "shard": request.shard},
        )
        for request in requests
    ]
    return services.bus.publish_many(DATASET_SHARDS_TOPIC, messages) if messages else []


# --- the shard documents --------------------------------------------------------------------


def shard_state_path(dataset: str, shard: str) -> str:
    """The document that records pulling ``shard`` of ``dataset``."""
    digest = hashlib.sha256(f"{dataset}/{shard}".encode()).hexdigest()[:32]
    return f"{DATASET_SHARDS}/{digest}"


def shard_state(services: Services, dataset: str, shard: str) -> dict[str, Any] | None:
    """The shard's document (status, counts, error), or None before its first pull."""
    doc = services.documents.get(shard_state_path(dataset, shard))
    return doc.data if doc is not None else None


def shard_status(services: Services, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every recorded shard (of ``dataset``), by dataset then shard, for ``vidcurate status``."""
    fields = ("dataset", "shard", "status", "attempts", "samples", "clips_written",
              "clips_present", "skipped", "error_count", "error", "updated_at")  # fmt: skip
    rows = [
        {key: doc.data.get(key) for key in fields}
        for doc in services.documents.iter_collection(DATASET_SHARDS)
        if dataset is None or doc.data.get("dataset") == dataset
    ]
    rows.sort(key=lambda row: (str(row["dataset"]), str(row["shard"])))
    return rows


def _claim(
    services: Services, path: str, dataset: str, shard: str, holder: str, *, force: bool
) -> dict[str, Any] | None:
    """Take the shard for ``holder``; the document instead when it is done already."""
    now = datetime.now(UTC)

    def apply(tx: Transaction) -> dict[str, Any] | None:
        current = tx.get(path)
        data = dict(current.data) if current is not None else {}
        status = data.get("status")
        if status == "done" and not force:
            return data
        if status == "pulling" and data.get("holder") not in (None, holder):
            until = lease_end(data.get("lease_until"))
            if until is not None and until > now:
                raise TransientError(
                    f"{dataset}: shard {shard} is being pulled by another delivery "
                    f"(its lease ends {until.isoformat(timespec='seconds')})"
                )
        tx.set(path, {**data, "dataset": dataset, "shard": shard,
                      "prefix": dataset_prefix(dataset), "status": "pulling",
                      "holder": holder, "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                      "attempts": int(data.get("attempts") or 0) + 1, "error": None,
                      "error_type": None, **PullResult(dataset, shard, "").counts(),
                      "started_at": SERVER_TIMESTAMP, "finished_at": None,
                      "updated_at": SERVER_TIMESTAMP})  # fmt: skip
        return None

    done: dict[str, Any] | None = services.documents.run_transaction(apply)
    return done


def _renew(services: Services, path: str, holder: str, counts: Mapping[str, Any]) -> None:
    until = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS)

    def apply(tx: Transaction) -> bool:
        current = tx.get(path)
        if current is None or current.data.get("holder") != holder:
            return False
        tx.update(path, {**counts, "lease_until": until, "updated_at": SERVER_TIMESTAMP})
        return True

    if not services.documents.run_transaction(apply):
        # Taken over after our lease ran out: the other delivery finishes the shard.
        raise TransientError(f"{path}: the pull lost its lease to another delivery")


def _finish(services: Services, path: str, holder: str, fields: Mapping[str, Any]) -> None:
    def apply(tx: Transaction) -> None:
        current = tx.get(path)
        if current is None or current.data.get("holder") != holder:
            return  # taken over: that delivery records its own outcome
        done = {"holder": None, "lease_until": None, "finished_at": SERVER_TIMESTAMP}
        tx.update(path, {**fields, **done, "updated_at": SERVER_TIMESTAMP})

    services.documents.run_transaction(apply)


def _recorded_result(dataset: str, shard: str, data: Mapping[str, Any]) -> PullResult:
    def number(key: str) -> int:
        return int(data.get(key) or 0)

    return PullResult(
        dataset=dataset,
        shard=shard,
        prefix=dataset_prefix(dataset),
        outcome="already_done",
        samples=number("samples"),
        clips_written=number("clips_written"),
        clips_present=number("clips_present"),
        sidecars_written=number("sidecars_written"),
        sidecars_present=number("sidecars_present"),
        skipped=number("skipped"),
        metadata_truncated=number("metadata_truncated"),
        bytes_written=number("bytes_written"),
        errors=[str(error) for error in data.get("errors") or []],
    )


# --- pulling a shard ------------------------------------------------------------------------


def pull_shard(
    services: Services,
    dataset: str,
    shard: str,
    *,
    on_progress: ProgressCallback | None = None,
    limits: PullLimits | None = None,
    source: ShardSource | None = None,
    holder: str | None = None,
    force: bool = False,
    download_dir: Path | None = None,
) -> PullResult:
    """Download ``shard`` (its path in the repo) and store its samples; see the module doc.

    ``holder`` names this delivery (the Pub/Sub message id; a fresh id by default): a
    redelivery of the same message takes its own lease back at once. A shard pulled before
    returns its recorded counts (``outcome="already_done"``) unless ``force``. The download
    goes to a temporary folder (under ``download_dir``; by default ``<home>/downloads`` on
    the local backend and the system's temporary folder in the cloud) that is removed
    afterwards.

    Raises :class:`ShardRejectedError` or :class:`ShardCorruptError` for a bad shard,
    :class:`DatasetAccessError` / :class:`DatasetNotFoundError` / :class:`ShardNotFoundError`
    when the Hub refuses or lacks it (all PermanentError), and TransientError when the Hub
    or a store stays unavailable. Either way the shard's document says ``failed`` and why,
    and every sample stored before the failure stays.
    """
    dataset = _check_dataset(dataset)
    try:
        shard = check_shard_name(shard)
    except ValueError as exc:
        raise ShardNotFoundError(f"{dataset}: {exc}") from exc
    holder = holder or f"pull-{uuid.uuid4().hex}"
    path = shard_state_path(dataset, shard)
    recorded = _claim(services, path, dataset, shard, holder, force=force)
    if recorded is not None:
        log.info("shard already pulled", extra={"labels": {"dataset": dataset, "shard": shard}})
        return _recorded_result(dataset, shard, recorded)
    limits = limits or PullLimits(max_shard_bytes=services.settings.max_shard_bytes)
    pull = _ShardPull(services, dataset, shard, path, holder, limits, on_progress)
    try:
        with _download_area(services.settings, download_dir) as directory:
            hub = source or build_shard_source(services.settings)
            local = hub.download(dataset, shard, directory, on_bytes=pull.downloaded)
            pull.read(local)
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, Exception) else f"interrupted ({type(exc).__name__})"
        pull.record_failure(reason[:MAX_ERROR_CHARS], type(exc).__name__)
        raise
    _finish(services, path, holder, {**pull.result.counts(), "status": "done"})
    log.info(
        "shard pulled",
        extra={
            "labels": {"dataset": dataset, "shard": shard},
            "samples": pull.result.samples,
            "clips_written": pull.result.clips_written,
            "clips_present": pull.result.clips_present,
            "skipped": pull.result.skipped,
            "errors": len(pull.result.errors),
        },
    )
    return pull.result


@contextlib.contextmanager
def _download_area(settings: Settings, download_dir: Path | None) -> Iterator[Path]:
    root = download_dir
    if root is None and settings.backend == "local":
        root = settings.home / "downloads"
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vidcurate-shard-", dir=root) as folder:
        yield Path(folder)


@dataclass
class _Sample:
    """The members of one sample that are kept: its videos and its JSON, by extension."""

    key: str
    parts: dict[str, bytes] = field(default_factory=dict)
    size: int = 0
    problem: str | None = None


class _ExtendedHeaderTooLargeError(Exception):
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        super().__init__(name)


_EXTENDED_HEADER_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


class _GuardedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax / GNU long-name headers before tarfile reads them whole."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        """Parse a header block, as TarInfo does, refusing huge extended headers."""
        info = super().frombuf(buf, encoding, errors)
        if info.type in _EXTENDED_HEADER_TYPES and info.size > MAX_EXTENDED_HEADER_BYTES:
            raise _ExtendedHeaderTooLargeError(info.name, info.size)
        return info


_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[/\\]")

# Also ValueError / RecursionError: tarfile raises them on hostile headers (a malformed GNU
# sparse map, thousands of chained pax headers), which are a bad shard, not a retry.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, UnicodeError, ValueError, RecursionError)
"""What tarfile raises on a truncated or malformed archive."""


class _ShardPull:
    """One pull of one shard: the tar stream, the samples, the lease and the counts."""

    def __init__(
        self,
        services: Services,
        dataset: str,
        shard: str,
        path: str,
        holder: str,
        limits: PullLimits,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.services = services
        self.dataset = dataset
        self.shard = shard
        self.path = path
        self.holder = holder
        self.limits = limits
        self.on_progress = on_progress
        self.prefix = dataset_prefix(dataset)
        self.bucket = services.settings.videos_bucket
        self.result = PullResult(dataset, shard, self.prefix)
        self._last: str | None = None  # the member read last, for error messages
        self._renew_at = time.monotonic() + RENEW_SECONDS

    # -- progress and the lease -------------------------------------------------------------

    def downloaded(self, done: int, total: int | None) -> None:
        """Progress of the download (huggingface_hub calls this per chunk); a shard larger
        than ``max_shard_bytes`` is refused as soon as its size is known."""
        cap = self.limits.max_shard_bytes
        if max(done, total or 0) > cap:
            raise self._rejected(
                self.shard,
                f"the shard is {total or done} bytes, more than {cap} (max_shard_bytes; "
                "pull it with `vidcurate videos pull` on a machine with room, or raise "
                "VIDCURATE_MAX_SHARD_BYTES where memory allows)",
            )
        self._tick("downloading", done, total)

    def _tick(self, phase: Phase, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            result = self.result
            self.on_progress(
                PullProgress(
                    self.dataset,
                    self.shard,
                    phase,
                    done,
                    total,
                    result.samples,
                    result.clips_written,
                    result.clips_present,
                )
            )
        if time.monotonic() >= self._renew_at:
            _renew(self.services, self.path, self.holder, self.result.counts())
            self._renew_at = time.monotonic() + RENEW_SECONDS

    def record_failure(self, reason: str, error_type: str) -> None:
        """Record the shard as failed; never hides the error being raised."""
        fields = {**self.result.counts(), "status": "failed", "error": reason,
                  "error_type": error_type}  # fmt: skip
        try:
            _finish(self.services, self.path, self.holder, fields)
        except Exception:
            log.exception(
                "could not record the failed pull",
                extra={"labels": {"dataset": self.dataset, "shard": self.shard}},
            )
        log.warning(
            "shard pull failed",
            extra={
                "labels": {"dataset": self.dataset, "shard": self.shard},
                "error": reason,
                "samples": self.result.samples,
                "clips_written": self.result.clips_written,
            },
        )

    # -- reading the tar stream -------------------------------------------------------------

    def read(self, local: Path) -> None:
        """Store every sample of the tar file at ``local``, member by member."""
        size = local.stat().st_size
        with local.open("rb") as raw, self._open_tar(raw) as tar:
            pending = self._read_samples(tar, raw, size)
            end = tar.offset
        # The last sample is complete only if the archive is: a shard cut short after a
        # sample's video but before its JSON must not store the video without its metadata.
        self._check_end_of_archive(local, end)
        if pending is not None:
            self._store(pending)
        self._tick("reading", size, size)

    def _open_tar(self, raw: IO[bytes]) -> tarfile.TarFile:
        # Opening reads the first member's header already.
        try:
            return tarfile.open(fileobj=raw, mode="r|", tarinfo=_GuardedTarInfo)
        except _ExtendedHeaderTooLargeError as exc:
            raise self._header_too_large(exc) from exc
        except _CORRUPT as exc:
            raise self._corrupt(None, f"not a tar archive ({exc})") from exc

    def _read_samples(self, tar: tarfile.TarFile, raw: IO[bytes], size: int) -> _Sample | None:
        """Group the members into samples by key and store each sample once the next one
        starts; the last sample, not stored yet."""
        seen: set[str] = set()
        sample: _Sample | None = None
        for member, name in self._members(tar):
            split = _split_key(name)
            if split is None:
                continue  # no extension: not part of any sample (WebDataset ignores it too)
            key, extension = split
            if sample is None or key != sample.key:
                if sample is not None:
                    self._store(sample)
                sample = _Sample(key)
                if key in seen:
                    sample.problem = (
                        "its members are not next to each other in the shard (its key appears "
                        "twice)"
                    )
                seen.add(key)
            if _is_video(extension) or extension == JSON_EXTENSION:
                self._keep(tar, member, sample, extension)
            self._tick("reading", raw.tell(), size)
        return sample

    def _members(self, tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str]]:
        """The archive's file members with their normalized names, checked and counted."""
        members = 0
        total = 0
        while True:
            try:
                member = tar.next()
            except _ExtendedHeaderTooLargeError as exc:
                raise self._header_too_large(exc) from exc
            except _CORRUPT as exc:
                raise self._corrupt(self._last, _why(exc)) from exc
            if member is None:
                return
            # Streaming mode keeps every header it has read (not in typeshed); nothing here
            # looks back, and 100,000 headers would be held to no use.
            cast(Any, tar).members.clear()
            self._last = member.name
            members += 1
            if members > self.limits.max_members:
                raise self._rejected(
                    member.name, f"more than {self.limits.max_members} members (max_members)"
                )
            if member.isdir() and not [p for p in member.name.split("/") if p not in ("", ".")]:
                continue  # "./" or ".": the archive's own folder (tar -C dir -cf x.tar .)
            name = self._check_name(member)
            self._check_type(member)
            if member.isdir():
                continue
            total += member.size
            if total > self.limits.max_total_bytes:
                raise self._rejected(
                    member.name,
                    f"the members add up to more than {self.limits.max_total_bytes} bytes "
                    "(max_total_bytes)",
                )
            yield member, name

    def _keep(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, sample: _Sample, extension: str
    ) -> None:
        if extension == JSON_EXTENSION and member.size > self.limits.max_json_bytes:
            raise self._rejected(
                member.name,
                f"a JSON member of {member.size} bytes, over the {self.limits.max_json_bytes}-"
                "byte limit (max_json_bytes)",
            )
        sample.size += member.size
        if sample.size > self.limits.max_sample_bytes:
            raise self._rejected(
                member.name,
                f"sample {sample.key!r} holds more than {self.limits.max_sample_bytes} bytes "
                "of video and JSON (max_sample_bytes)",
            )
        if extension in sample.parts:
            sample.problem = f"it has two '.{extension}' members"
            return
        handle = tar.extractfile(member)
        if handle is None:  # pragma: no cover - regular files always have a reader
            raise self._rejected(member.name, "not a regular file")
        try:
            data = handle.read()
        except _CORRUPT as exc:
            raise self._corrupt(member.name, _why(exc)) from exc
        if len(data) != member.size:
            raise self._corrupt(member.name, "the archive ends inside this member")
        sample.parts[extension] = data

    def _check_name(self, member: tarfile.TarInfo) -> str:
        """The member's normalized name; ShardRejectedError when it could land anywhere else
        than inside the archive's folder."""
        name = member.name
        try:
            name.encode()
        except UnicodeError:
            raise self._rejected(name, "its name is not valid UTF-8") from None
        if name.startswith("/") or _WINDOWS_DRIVE.match(name):
            raise self._rejected(name, "an absolute path")
        if "\\" in name:
            raise self._rejected(name, "a backslash in its path (a Windows path separator)")
        if any(ord(char) < 32 or char == "\x7f" for char in name):
            raise self._rejected(name, "control characters in its name")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self._rejected(name, "a '..' component: its path climbs out of the archive")
        if not parts:
            raise self._rejected(name, "an empty path")
        return "/".join(parts)

    def _check_type(self, member: tarfile.TarInfo) -> None:
        """ShardRejectedError unless the member is a regular file within the size cap, or a
        folder."""
        name = member.name
        only = "only regular files and folders are taken"
        if member.issym():
            raise self._rejected(name, f"a symbolic link (to {member.linkname!r}); {only}")
        if member.islnk():
            raise self._rejected(name, f"a hard link (to {member.linkname!r}); {only}")
        if member.ischr() or member.isblk():
            raise self._rejected(name, f"a device file; {only}")
        if member.isfifo():
            raise self._rejected(name, f"a FIFO; {only}")
        if member.issparse():
            raise self._rejected(name, f"a sparse file; {only}")
        if not (member.isfile() or member.isdir()):
            raise self._rejected(name, f"of tar type {member.type!r}; {only}")
        if member.isfile() and member.size > self.limits.max_member_bytes:
            raise self._rejected(
                name,
                f"{member.size} bytes, over the {self.limits.max_member_bytes}-byte limit per "
                "member (max_member_bytes)",
            )

    def _check_end_of_archive(self, local: Path, offset: int) -> None:
        """tarfile stops quietly at a missing or garbled header after the first member: the
        archive is whole only if a zero block (its end marker) follows the last member."""
        last = self._last
        with local.open("rb") as raw:
            raw.seek(offset)
            block = raw.read(tarfile.BLOCKSIZE)
        if len(block) < tarfile.BLOCKSIZE:
            raise self._corrupt(
                last, "the archive ends without its end-of-archive marker (truncated)"
            )
        if block.count(0) != tarfile.BLOCKSIZE:
            raise self._corrupt(last, f"an unreadable header follows it (at byte {offset})")

    def _header_too_large(self, exc: _ExtendedHeaderTooLargeError) -> ShardRejectedError:
        return self._rejected(
            exc.name,
            f"an extended (pax or long-name) header of {exc.size} bytes, over the "
            f"{MAX_EXTENDED_HEADER_BYTES} bytes read",
        )

    def _rejected(self, member: str, reason: str) -> ShardRejectedError:
        return ShardRejectedError(self.dataset, self.shard, member, reason)

    def _corrupt(self, member: str | None, reason: str) -> ShardCorruptError:
        return ShardCorruptError(self.dataset, self.shard, member, reason)

    # -- storing a sample -------------------------------------------------------------------

    def _store(self, sample: _Sample) -> None:
        result = self.result
        result.samples += 1
        videos = sorted(ext for ext in sample.parts if _is_video(ext))
        if sample.problem is not None:
            result.errors.append(f"sample {sample.key!r} not stored: {sample.problem}")
            return
        if not videos:
            result.skipped += 1
            return
        sidecar = sample.parts.get(JSON_EXTENSION)
        metadata: dict[str, str] = {}
        if sidecar is not None:
            try:
                metadata, omitted = sample_metadata(_json_object(sidecar))
            except ValueError as exc:
                result.errors.append(f"sample {sample.key!r} not stored: its JSON {exc}")
                return
            result.metadata_truncated += bool(omitted)
        base = f"{self.prefix}/{sample.key}"
        names = [f"{base}.{ext}" for ext in videos] + [f"{base}.{JSON_EXTENSION}"]
        problem = next(filter(None, map(_object_name_problem, names)), None)
        if problem is not None:
            result.errors.append(f"sample {sample.key!r} not stored: {problem}")
            return
        if sidecar is not None:
            written = self._put(f"{base}.{JSON_EXTENSION}", sidecar, "application/json", {})
            result.sidecars_written += written
            result.sidecars_present += not written
        for ext in videos:
            data = sample.parts[ext]
            content_type = VIDEO_TYPES[ext.rsplit(".", 1)[-1]]
            written = self._put(f"{base}.{ext}", data, content_type, metadata)
            result.clips_written += written
            result.clips_present += not written
            result.bytes_written += len(data) if written else 0

    def _put(self, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
        """Write the object unless it holds these bytes and metadata already; whether written."""
        blobs = self.services.blobs
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            current = blobs.stat(self.bucket, name)
        except NotFoundError:
            current = None
        if (
            current is not None
            and current.md5_hash == digest
            and dict(current.metadata) == metadata
        ):
            return False
        try:
            blobs.write(self.bucket, name, data, content_type=content_type, metadata=metadata,
                        if_generation_match=current.generation if current else 0)  # fmt: skip
        except PreconditionFailedError as exc:
            raise TransientError(
                f"gs://{self.bucket}/{name} changed while shard {self.shard} was being pulled; "
                "the pull is retried"
            ) from exc
        return True


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, tarfile.ReadError) and "unexpected end of data" in text:
        return "the archive ends inside this member (truncated)"
    return text


def _split_key(name: str) -> tuple[str, str] | None:
    """WebDataset's (key, extension): the path up to the first dot of the base name."""
    folder, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    if not stem or not dot or not extension:
        return None
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


def _is_video(extension: str) -> bool:
    return extension.rsplit(".", 1)[-1] in VIDEO_TYPES


def _json_object(data: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeError, ValueError, RecursionError) as exc:  # deep nesting: recursion
        raise ValueError(f"is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"is a JSON {type(value).__name__}, not an object")
    return value


def sample_metadata(fields: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Object metadata from a sample's JSON object, and the fields left out.

    Strings, numbers and booleans become ``str(value)`` (as ``vidcurate videos add`` does),
    ``null`` and nested values compact JSON. Fields are taken in order while keys and values
    together fit :data:`MAX_METADATA_BYTES`; the sidecar object always holds the whole JSON.
    """
    metadata: dict[str, str] = {}
    omitted: list[str] = []
    used = 0
    for key, value in fields.items():
        if isinstance(value, str | int | float | bool):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        cost = len(key.encode()) + len(text.encode())
        if used + cost > MAX_METADATA_BYTES:
            omitted.append(key)
            continue
        metadata[key] = text
        used += cost
    return metadata, omitted


def _object_name_problem(name: str) -> str | None:
    if len(name.encode()) > MAX_OBJECT_NAME_BYTES:
        return f"object name {name[:80]!r}... is longer than {MAX_OBJECT_NAME_BYTES} bytes"
    if any(len(part.encode()) > MAX_NAME_COMPONENT_BYTES for part in name.split("/")):
        return f"a part of object name {name!r} is longer than {MAX_NAME_COMPONENT_BYTES} bytes"
    return None
