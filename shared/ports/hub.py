"""Hub publisher port: the subset of the Hugging Face Hub that vidcurate uses.

Exports are published to a dataset repository, one export folder per commit. Adapters
translate the Hub's failures into :mod:`shared.core.errors`: bad token, missing rights or a bad
request raise :class:`~shared.core.errors.PermanentError`; a Hub that stays unavailable after the
adapter's retries raises :class:`~shared.core.errors.TransientError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class HubCommit:
    """A commit on a dataset repository: its id and where a person can look at it."""

    repo_id: str
    oid: str
    url: str


class HubPublisher(Protocol):
    """Dataset repositories on a Hugging Face Hub."""

    def commit_folder(
        self,
        repo_id: str,
        folder: str,
        files: Mapping[str, bytes],
        card: str | None,
        *,
        private: bool,
        message: str,
    ) -> HubCommit:
        """Create the dataset repo if missing, then add every file in ONE commit.

        Each ``files`` key (a name relative to ``folder``) lands at ``<folder>/<name>``, so the
        export keeps its folder name on the Hub; ``card``, when given, replaces ``README.md``
        at the repository root in the same commit. ``private`` only applies when the repo is
        created.
        """
        ...

    def folder_exists(self, repo_id: str, folder: str) -> bool:
        """Whether ``folder`` holds at least one file on the main branch (False: no repo)."""
        ...

    def read_file(self, repo_id: str, path: str) -> bytes | None:
        """The bytes of ``path`` on the main branch, or None when the file or repo is missing."""
        ...
