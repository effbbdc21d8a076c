"""Messages and topics of caption exports, and the document that says an export folder is
finished (what other capabilities check before they read one)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.captions.layout import NAME_PATTERN
from shared.core.errors import PermanentError
from shared.core.repo_ids import check_repo_id
from shared.platform.leases import LeaseFields
from shared.platform.topics import Topic
from shared.ports import DELETE_FIELD, DocumentStore


class ExportRequest(BaseModel):
    """What to export: the CLI flags, and the body of an ``export-requests`` message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_type: str = "default"
    only_reviewed: bool = False
    ignore_errors: bool = False
    with_history: bool = False
    hf_dataset: str | None = None
    publish: bool = Field(
        False, description="Publish to the Hub (to hf_dataset, or the configured default)."
    )

    @field_validator("config_type")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(f"invalid config type {value!r}")
        return value

    @field_validator("hf_dataset")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        return None if value is None else check_repo_id(value)


class ExportRequestError(PermanentError):
    """The request cannot be served as asked (unknown config type, no repo to publish to)."""


EXPORT_REQUESTS = Topic("export-requests", ExportRequest)


EXPORTS = "exports"
"""One document per export folder: claimed ``writing`` (under a lease), then ``written`` once
every file is in the bucket, or ``abandoned`` when its writer stopped first."""


WRITING, WRITTEN, ABANDONED = "writing", "written", "abandoned"


EXPORT_LEASE = LeaseFields(holder="writer", freed=DELETE_FIELD)
"""``writer`` and ``lease_until`` of an export being written; both removed once it is done."""


class IncompleteExportError(PermanentError):
    """The export folder is not finished: its writer stopped, or is still writing it."""


def export_path(folder: str) -> str:
    """The document of an export folder."""
    return f"{EXPORTS}/{folder}"


def export_incomplete(documents: DocumentStore, folder: str) -> str | None:
    """Why ``folder`` is not a finished export, in one line; None when it is one.

    A folder without a document was not made by ``vidcurate export`` (copied in by hand):
    it is taken as it is.
    """
    doc = documents.get(export_path(folder))
    if doc is None or doc.data.get("state") == WRITTEN:
        return None
    if doc.data.get("state") == WRITING and EXPORT_LEASE.live(doc.data):
        why = "its writer stopped before finishing, or is still writing it"
    else:
        why = "its writer stopped before finishing"
    return f"{folder} is incomplete ({why}); run `vidcurate export` again"


def check_export(documents: DocumentStore, folder: str) -> None:
    """Refuse, in one line, an export folder that ``vidcurate export`` has not finished."""
    why = export_incomplete(documents, folder)
    if why is not None:
        raise IncompleteExportError(why)
