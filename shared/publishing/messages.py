"""Messages and topics of Hub publishing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.repo_ids import check_repo_id
from shared.platform.topics import Topic

FOLDER_PATTERN = r"^export_\d{8}_\d{4}(_\d+)?$"


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


HUB_UPLOAD_REQUESTS = Topic("hub-uploads", HubUploadRequest)
