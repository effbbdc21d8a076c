"""Where active-learning rounds keep what they make, and the round documents.

The models bucket::

    rounds/round_00/test_set.json         the fixed test set (round 0 only; never rewritten)
    rounds/round_NN/splits.json           training and validation frames, left-out frames
    rounds/round_NN/checkpoints/<task>_last.pt   every epoch (the job resumes from it)
    rounds/round_NN/checkpoints/<task>_best.pt   the lowest validation loss, with its
                                                 preprocessing and classes
    rounds/round_NN/metrics.json          per task and set, kappa, stopping guidance
    rounds/round_NN/scores.jsonl          every scored frame: probabilities and entropy
    rounds/round_NN/queue.json            the round's queue (version, frame ids)
    rounds/round_NN/plots/*.png           training curves, confusion matrices
    rounds/round_NN/DONE                  written last: the round is finished

Documents::

    learning_rounds/round_NN   status (running | done | failed), started_at, finished_at,
                               error, the metrics' summary and guidance, where it ran
    <VIDCURATE_LABEL_QUEUE_DOCUMENT>   the live queue the labelling page shows first

A finished round (its ``DONE`` marker) run again does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from shared.core.errors import NotFoundError, PermanentError
from shared.learning.settings import LabelSettings
from shared.platform.context import Context

__all__ = [
    "ROUNDS",
    "TestSetRewriteError",
    "list_rounds",
    "next_round",
    "read_json",
    "record_round",
    "round_done",
    "round_path",
    "write_json",
    "write_test_set",
]

ROUNDS = "learning_rounds"


class TestSetRewriteError(PermanentError):
    """Round 0's test set exists and differs: it is never rewritten."""


def round_path(number: int, name: str = "") -> str:
    """The object name of ``name`` in round ``number``'s folder of the models bucket."""
    return f"rounds/round_{number:02d}/{name}"


def read_json(services: Context[LabelSettings], name: str) -> Any | None:
    """A JSON object of the models bucket, or None when it is not there."""
    try:
        data = services.blobs.read(services.settings.models_bucket, name)
    except NotFoundError:
        return None
    return orjson.loads(data)


def write_json(services: Context[LabelSettings], name: str, value: Any) -> None:
    """Write ``value`` as indented JSON to the models bucket."""
    data = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    services.blobs.write(
        services.settings.models_bucket, name, data, content_type="application/json"
    )


def write_test_set(services: Context[LabelSettings], frames: list[str]) -> list[str]:
    """Save round 0's test set, or check it is the one saved: the saved one is returned, and a
    different one is refused (:class:`TestSetRewriteError`)."""
    name = round_path(0, "test_set.json")
    saved = read_json(services, name)
    if saved is not None:
        if sorted(saved["frames"]) != sorted(frames):
            raise TestSetRewriteError(
                f"gs://{services.settings.models_bucket}/{name} exists with another test set: "
                "the test set is drawn once, in round 0, and never rewritten"
            )
        return list(saved["frames"])
    write_json(
        services, name, {"frames": sorted(frames), "drawn_at": datetime.now(UTC).isoformat()}
    )
    return sorted(frames)


def round_done(services: Context[LabelSettings], number: int) -> bool:
    """Whether round ``number`` finished (its DONE marker is there)."""
    return services.blobs.exists(services.settings.models_bucket, round_path(number, "DONE"))


def next_round(services: Context[LabelSettings]) -> int:
    """The round after the last finished one (0 when none is)."""
    done = [
        int(doc.data["round"])
        for doc in services.documents.query(ROUNDS, [("status", "==", "done")])
        if isinstance(doc.data.get("round"), int)
    ]
    return max(done) + 1 if done else 0


def record_round(services: Context[LabelSettings], number: int, fields: dict[str, Any]) -> None:
    """Merge ``fields`` into round ``number``'s document."""
    services.documents.set(f"{ROUNDS}/round_{number:02d}", {"round": number, **fields}, merge=True)


def list_rounds(services: Context[LabelSettings]) -> list[dict[str, Any]]:
    """Every round's document, by round."""
    return [doc.data for doc in services.documents.iter_collection(ROUNDS)]
