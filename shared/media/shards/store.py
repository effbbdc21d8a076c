"""TODO"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.core.errors import (
    BusyError,
    TransientError,
)
from shared.media.settings import MediaSettings
from shared.media.shards.messages import SamplePick, dataset_prefix
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP

DATASET_SHARDS = "dataset_shards"


LEASE_SECONDS = 600.0  # longer than a function may run (540 s): a live pull keeps it


RENEW_SECONDS = 60.0  # how often a pull in progress extends its lease and records its counts


MAX_RECORDED_ERRORS = 20  # per-sample errors kept on the shard document


ShardStatus = Literal["pulling", "done", "failed"]


Outcome = Literal["pulled", "already_done"]


Phase = Literal["downloading", "reading"]


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
    available: int | None = None  # samples with a video in the shard (a random pick's pool)

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
            "available": self.available,
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


def shard_state_path(dataset: str, shard: str, pick: SamplePick | None = None) -> str:
    """The document that records pulling ``shard`` of ``dataset`` (a pick of some of its
    samples is another pull than the whole shard)."""
    what = f"{dataset}/{shard}" + (f"#{pick.count}@{pick.seed}" if pick is not None else "")
    digest = hashlib.sha256(what.encode()).hexdigest()[:32]
    return f"{DATASET_SHARDS}/{digest}"


def shard_state(
    services: Context[MediaSettings], dataset: str, shard: str, pick: SamplePick | None = None
) -> dict[str, Any] | None:
    """The shard's document (status, counts, error), or None before its first pull."""
    doc = services.documents.get(shard_state_path(dataset, shard, pick))
    return doc.data if doc is not None else None


def shard_status(
    services: Context[MediaSettings], dataset: str | None = None
) -> list[dict[str, Any]]:
    """Every recorded shard (of ``dataset``), by dataset then shard, for ``vidcurate status``."""
    fields = (
        "dataset",
        "shard",
        "status",
        "attempts",
        "samples",
        "clips_written",
        "clips_present",
        "skipped",
        "error_count",
        "error",
        "updated_at",
    )
    rows = [
        {key: doc.data.get(key) for key in fields}
        for doc in services.documents.iter_collection(DATASET_SHARDS)
        if dataset is None or doc.data.get("dataset") == dataset
    ]
    rows.sort(key=lambda row: (str(row["dataset"]), str(row["shard"])))
    return rows


_Recorded = dict[str, Any] | None  # the document of a shard done already, or None


def _lease(services: Context[MediaSettings], path: str, holder: str) -> Lease:
    return Lease(services.documents, path, holder, seconds=LEASE_SECONDS)


def _claim(
    services: Context[MediaSettings],
    path: str,
    dataset: str,
    shard: str,
    holder: str,
    *,
    force: bool,
    pick: SamplePick | None = None,
) -> dict[str, Any] | None:
    """Take the shard for ``holder``; the document instead when it is done already."""

    def decide(view: View) -> Take[_Recorded] | Keep[_Recorded]:
        status = view.data.get("status")
        if status == "done" and not force:
            return Keep(view.data)
        # Only a pull in progress holds the shard (a finished one freed its lease).
        if status == "pulling" and view.held and view.until is not None:
            raise BusyError(
                f"{dataset}: shard {shard} is being pulled by another delivery "
                f"(its lease ends {view.until.isoformat(timespec='seconds')})"
            )
        return Take(
            None,
            {
                **view.data,
                "dataset": dataset,
                "shard": shard,
                "prefix": dataset_prefix(dataset),
                "pick": pick.model_dump() if pick is not None else None,
                "status": "pulling",
                "attempts": int(view.data.get("attempts") or 0) + 1,
                "error": None,
                "error_type": None,
                **PullResult(dataset, shard, "").counts(),
                "started_at": SERVER_TIMESTAMP,
                "finished_at": None,
                "updated_at": SERVER_TIMESTAMP,
            },
        )

    return _lease(services, path, holder).claim(decide)


def _renew(
    services: Context[MediaSettings], path: str, holder: str, counts: Mapping[str, Any]
) -> None:
    if not _lease(services, path, holder).renew({**counts, "updated_at": SERVER_TIMESTAMP}):
        # Taken over after our lease ran out: the other delivery finishes the shard.
        raise TransientError(f"{path}: the pull lost its lease to another delivery")


def _finish(
    services: Context[MediaSettings], path: str, holder: str, fields: Mapping[str, Any]
) -> None:
    # Nothing when taken over: that delivery records its own outcome.
    done = {"finished_at": SERVER_TIMESTAMP, "updated_at": SERVER_TIMESTAMP}
    _lease(services, path, holder).finish({**fields, **done})


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
        available=None if data.get("available") is None else number("available"),
    )
