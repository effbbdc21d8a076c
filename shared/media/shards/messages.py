"""Messages and topics of dataset shard pulls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.errors import (
    PermanentError,
)
from shared.core.repo_ids import check_repo_id
from shared.platform.topics import Topic

if TYPE_CHECKING:
    pass


SHARD_SUFFIX = ".tar"


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


def dataset_prefix(dataset: str) -> str:
    """Where a dataset's samples go in the videos bucket: ``OWNER--NAME``."""
    return _check_dataset(dataset).replace("/", "--")


def _check_dataset(dataset: str) -> str:
    try:
        return check_repo_id(dataset)
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc


SHARD_PULLS = Topic("dataset-shards", ShardPullRequest)
"""Topic of :class:`ShardPullRequest` messages: one shard each, pulled by one function call."""
