"""Collections and document ids of caption campaigns."""

from __future__ import annotations

import hashlib
from typing import Any

from shared.captions.messages import EXPORTS, WRITTEN
from shared.captions.slots import effective
from shared.ports import DocumentStore

CAPTION_CONFIGS = "caption_configs"


QUARANTINE = "quarantine"


MAX_ERROR_CHARS = 500  # errors are kept in documents: bounded, they cannot crowd them out


BATCH_SIZE = 400  # Firestore commits at most 500 writes


def tasks_collection(config_type: str) -> str:
    """Where the (video, task) documents of a config live."""
    return f"{CAPTION_CONFIGS}/{config_type}/tasks"


def video_lists_collection(config_type: str) -> str:
    """One document per ``videos/*.jsonl`` object of a config."""
    return f"{CAPTION_CONFIGS}/{config_type}/video_lists"


def video_sources_collection(config_type: str) -> str:
    """One document per (video list, video) of a config: the registered videos."""
    return f"{CAPTION_CONFIGS}/{config_type}/video_sources"


def task_doc_id(video_id: str, task: str) -> str:
    """The document id of a (video, task); both parts are validated names without '~'."""
    return f"{video_id}~{task}"


def file_id(name: str) -> str:
    """A document id for an object name (names may hold '/', ids may not)."""
    return hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


def source_doc_id(list_id: str, generation: int, video_id: str) -> str:
    """One registration: the list generation is part of the id, so generations never mix."""
    return f"{list_id}~{generation}~{video_id}"


def counted_lists(documents: DocumentStore, config_type: str) -> dict[str, dict[str, Any]]:
    """``list id -> valid generation record`` of every video list that counts now."""
    counted = {}
    for doc in documents.iter_collection(video_lists_collection(config_type)):
        valid = effective(doc.data)
        if valid is not None:
            counted[doc.id] = dict(valid)
    return counted


MAX_UNFINISHED_LISTED = 100  # unfinished claims skipped over when listing the newest exports


def list_exports(documents: DocumentStore, limit: int = 20) -> list[dict[str, Any]]:
    """The newest finished exports, for ``vidcurate status`` (incomplete ones are left out)."""
    docs = documents.query(
        EXPORTS, order_by=[("folder", "desc")], limit=limit + MAX_UNFINISHED_LISTED
    )
    return [doc.data for doc in docs if doc.data.get("state") == WRITTEN][:limit]
