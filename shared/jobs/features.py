"""The feature-extraction job: one task of a run (``python -m shared.jobs.features --run R``).

The Cloud Run job's entry point (the learn image's second command) and what ``vidcurate
features run --where local`` starts once per task. The task's place comes from
``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT``. It prints one JSON line per video it
extracts, then its summary. Exit 0: its slice is done (failed videos are recorded, not
fatal); 2: bad arguments or no such run; 1: it could not go on (the bucket unreachable), and
Cloud Run retries it: the retry resumes from the results written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from shared.bootstrap import get_context
from shared.core.errors import ConfigError, VidcurateError
from shared.features import EXTRACTORS
from shared.features.tasks import VideoOutcome, run_task
from shared.platform.sharding import TaskSlot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="features", description=__doc__)
    parser.add_argument("--run", required=True, help="The run (vidcurate features run made it).")
    parser.add_argument(
        "--extractors", help=f"Comma-separated, of {','.join(EXTRACTORS)} (default: the run's)."
    )
    parser.add_argument("--retry-failed", action="store_true", help="Try failed videos again.")
    return parser


def main(argv: Sequence[str]) -> int:
    """Run this task's slice of the run the arguments name."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    extractors = [e.strip() for e in args.extractors.split(",")] if args.extractors else None
    unknown = [e for e in extractors or () if e not in EXTRACTORS]
    if unknown:
        print(f"error: --extractors: unknown {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        slot = TaskSlot.from_environment(os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    services = get_context()

    def line(outcome: VideoOutcome) -> None:
        sys.stdout.write(outcome.model_dump_json(exclude_defaults=True) + "\n")
        sys.stdout.flush()

    try:
        report = run_task(
            services,
            args.run,
            slot,
            extractors=extractors,
            retry_failed=args.retry_failed,
            on_video=line,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except VidcurateError as exc:
        print(f"error: task {slot.index} of run {args.run}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        logging.getLogger("vidcurate.features").exception("task failed")
        print(f"error: task {slot.index} of run {args.run} failed: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report.model_dump_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
