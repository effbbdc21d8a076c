"""Messages and topics of dataset shard pulls."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.errors import (
    PermanentError,
)
from shared.core.repo_ids import check_repo_id
from shared.platform.topics import Topic

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


class SamplePick(BaseModel):
    """Some of a shard's samples, chosen at random: ``count`` of those with a video, drawn
    with ``seed`` (the same seed and shard always choose the same samples)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=1, le=1_000_000, description="How many samples to keep.")
    seed: int = Field(42, description="The random seed (with the shard's name).")

    def choose(self, shard: str, keys: Iterable[str]) -> set[str]:
        """The keys kept out of ``keys`` (all of them when there are not more): the first
        ``count`` of the shard's keys shuffled by the seed, so a larger count keeps the
        samples a smaller one kept."""
        ordered = sorted(set(keys))
        rng = random.Random(f"{self.seed}:{shard}")  # noqa: S311 (reproducible, not secret)
        rng.shuffle(ordered)
        return set(ordered[: self.count])

    def describe(self) -> str:
        return f"{self.count} at random (seed {self.seed})"


def random_quotas(shards: list[str], count: int, seed: int) -> dict[str, int]:
    """How many clips to draw from each shard for ``count`` clips at random across
    ``shards``: ``count`` draws of a shard, each equally likely (shards of a WebDataset hold
    about as many samples each), in the shards' order."""
    rng = random.Random(seed)  # noqa: S311 (reproducible, not secret)
    drawn = Counter(rng.randrange(len(shards)) for _ in range(count))
    return {shards[i]: drawn[i] for i in sorted(drawn)}


class ShardPullRequest(BaseModel):
    """The ``dataset-shards`` message: pull one shard of a dataset into the videos bucket."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dataset: str = Field(description="Dataset repo on the Hub, OWNER/NAME.")
    shard: str = Field(description="The shard's file path in the repo (not its index).")
    force: bool = Field(False, description="Pull it again even if it was pulled already.")
    pick: SamplePick | None = Field(None, description="Only some samples, at random.")
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
