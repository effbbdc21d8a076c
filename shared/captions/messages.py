"""Messages and topics of caption exports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.captions.layout import NAME_PATTERN
from shared.core.errors import PermanentError
from shared.core.repo_ids import check_repo_id
from shared.platform.topics import Topic


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
