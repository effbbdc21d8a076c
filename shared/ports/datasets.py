"""Dataset repos that shards are read from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from shared.core.errors import (
    PermanentError,
)


class DatasetAccessError(PermanentError):
    """The Hub refused to show the dataset: a bad token, no rights, or conditions to accept."""


class DatasetNotFoundError(DatasetAccessError):
    """No such dataset repo (or a private one the request may not see)."""


class ShardNotFoundError(PermanentError):
    """The dataset has no shards, or none that a selector (index or name) names."""


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
