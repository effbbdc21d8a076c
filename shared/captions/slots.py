"""One file slot of a task document: observations, the effective file, recomputation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from shared.captions.status import Status, derive_status
from shared.core.text import utc_iso

MAX_HISTORY = 50


SlotState = Literal["valid", "invalid", "empty", "deleted"]


def _iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    return utc_iso(moment)


def _order(observation: Mapping[str, Any]) -> tuple[int, int]:
    """Newer generation wins; for the same generation a deletion comes after its content."""
    return int(observation["generation"]), 1 if observation["state"] == "deleted" else 0


@dataclass(frozen=True)
class _Fact:
    """One observation of a file generation, and for a valid one its text or videos."""

    observation: dict[str, Any]
    text: str | None = None  # a valid task file, as written
    videos: Mapping[str, str] | None = None  # a valid video list

    @property
    def state(self) -> SlotState:
        state: SlotState = self.observation["state"]
        return state

    @property
    def generation(self) -> int:
        return int(self.observation["generation"])


def new_slot(name: str) -> dict[str, Any]:
    """What is known about one object name: three maxima, so any delivery order agrees.

    ``latest``: the newest observation (valid, invalid, empty or deleted); ``valid``: the
    newest valid generation; ``deleted``: the newest deleted generation. The file counts
    when its newest valid generation is newer than any deletion: an invalid or empty
    upload is quarantined (or waited out) without changing the status.
    """
    return {"name": name, "latest": None, "valid": None, "deleted": None}


def _observe_into(slot: dict[str, Any], fact: _Fact, valid: dict[str, Any] | None) -> bool:
    """Fold a fact into a slot; whether anything changed."""
    changed = False
    if slot["latest"] is None or _order(fact.observation) > _order(slot["latest"]):
        slot["latest"] = fact.observation
        changed = True
    if valid is not None and (
        slot["valid"] is None or fact.generation > int(slot["valid"]["generation"])
    ):
        slot["valid"] = valid
        changed = True
    if fact.state == "deleted" and (slot["deleted"] is None or fact.generation > slot["deleted"]):
        slot["deleted"] = fact.generation
        changed = True
    return changed


def effective(slot: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The valid generation that counts, or None (never valid, or deleted since)."""
    valid = slot.get("valid")
    if valid is None:
        return None
    deleted = slot.get("deleted")
    return valid if deleted is None or deleted < int(valid["generation"]) else None


def new_task_document(config_type: str, video_id: str, task: str) -> dict[str, Any]:
    """A (video, task) before any file: not completed."""
    return {
        "config_type": config_type,
        "video_id": video_id,
        "task": task,
        "files": {},
        "status": Status.NOT_COMPLETED.value,
        "edge_cases": [],
        "has_edge_cases": False,
        "quarantined_files": [],
        "annotator": None,
        "reviewer": None,
        "history": [],
        "transitions": [],
    }


def task_contents(files: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``kind -> content`` of the files that count."""
    contents = {}
    for kind, slot in files.items():
        counted = effective(slot)
        if counted is not None:
            contents[kind] = orjson.loads(counted["json"])  # keeps the file's key order
    return contents


def recompute(data: dict[str, Any]) -> None:
    """Derive status, edge cases and people from the slots of a task document, in place."""
    contents = task_contents(data["files"])
    derived = derive_status(contents)
    data["status"] = derived.status.value
    data["edge_cases"] = [
        {"code": code.value, "reason": reason} for code, reason in derived.edge_cases
    ]
    data["has_edge_cases"] = bool(derived.edge_cases)
    data["quarantined_files"] = sorted(
        slot["name"] for slot in data["files"].values() if slot["latest"]["state"] == "invalid"
    )
    feedback = contents.get("feedback")
    previous = contents.get("feedback_prev")
    review = contents.get("review")
    original = previous if derived.status is Status.REJECTED and previous else feedback
    data["annotator"] = original.get("user") if original else None
    data["reviewer"] = review.get("reviewer") if review else None


def _history_entry(name: str, fact: _Fact) -> dict[str, Any]:
    observation = fact.observation
    entry = {
        "name": name,
        "generation": fact.generation,
        "event": "deleted" if fact.state == "deleted" else "finalized",
        "state": fact.state,
        "time": observation["updated"],
    }
    if "error" in observation:
        entry["error"] = observation["error"]
    return entry


def _remember(history: list[dict[str, Any]], entry: dict[str, Any]) -> bool:
    """Add a file observation to the history once; False if it was already there."""
    key = (entry["name"], entry["generation"], entry["event"])
    if any((h["name"], h["generation"], h["event"]) == key for h in history):
        return False
    history.append(entry)
    history.sort(key=lambda h: (h["time"], h["generation"], h["event"], h["name"]))
    del history[:-MAX_HISTORY]
    return True
