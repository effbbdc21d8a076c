"""Collections and document ids of Hub uploads: one ``hub_uploads/<id>`` document per
(repo, folder, files, version)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from shared.ports import DocumentStore

HUB_UPLOADS = "hub_uploads"


def hub_upload_path(
    repo_id: str, folder: str, files: Iterable[str] | None = None, version: str | None = None
) -> str:
    """The status document of publishing ``folder`` (or some of its files, in a version) to
    ``repo_id``."""
    subject = f"{repo_id}/{folder}" + (f"#{','.join(sorted(files))}" if files else "")
    subject += f"@{version}" if version else ""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{HUB_UPLOADS}/{digest}"


def hub_upload_status(documents: DocumentStore) -> list[dict[str, Any]]:
    """Every recorded upload (for ``vidcurate status``), by repo then newest folder first."""
    fields = (
        "repo_id",
        "folder",
        "state",
        "attempts",
        "commit_oid",
        "commit_url",
        "last_error",
        "updated_at",
    )
    rows = [
        {key: doc.data.get(key) for key in fields} for doc in documents.iter_collection(HUB_UPLOADS)
    ]
    rows.sort(key=lambda row: str(row["folder"] or ""), reverse=True)
    rows.sort(key=lambda row: str(row["repo_id"] or ""))
    return rows
