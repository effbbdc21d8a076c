"""The active-learning job: one round (``python -m shared.jobs.active_learning --round N ...``).

The Cloud Run job's entry point, and what ``vidcurate learn round --where local`` runs as a
subprocess. Exit 0: the round is done (or was already); 2: bad arguments; 1: the round
failed, its reason on stderr and in its round document (a Cloud Run task exiting non-zero is
retried, and a retried round resumes from its last checkpoint).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import orjson
from pydantic import ValidationError

from shared.bootstrap import get_context
from shared.core.errors import VidcurateError
from shared.learning.rounds import RoundConfig
from shared.learning.roundstore import next_round
from shared.learning.train import run_round


def main(argv: Sequence[str]) -> int:
    """Run the round the arguments name (the next one without ``--round``)."""
    services = get_context()
    args = list(argv)
    if "--round" not in args:
        args = ["--round", str(next_round(services)), *args]
    try:
        config = RoundConfig.from_args(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"error: --{where.replace('_', '-')}: {first['msg']}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = services.settings
    root = settings.home if settings.backend == "local" else Path(tempfile.gettempdir())
    try:
        result = run_round(services, config, root / "learn-cache")
    except VidcurateError as exc:
        print(f"error: round {config.round}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # recorded in the round's document by run_round
        logging.getLogger("vidcurate.learning").exception("round failed")
        print(f"error: round {config.round} failed: {exc}", file=sys.stderr)
        return 1
    summary = {
        "round": result.round,
        "status": result.status,
        "queue_head": result.queue[:10],
        "guidance": result.metrics.get("guidance", {}).get("advice", []),
        "test": {
            task: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
            for task, m in result.metrics.get("sets", {}).get("test", {}).items()
        },
    }
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
