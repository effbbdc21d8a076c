"""Why a shard pull stops (rejected or corrupt shards) and the limits it enforces."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import (
    PermanentError,
)

MAX_ERROR_CHARS = 2000


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
