"""Signal a busy ``vidcurate serve`` many times; print one JSON line per signal.

Run as a script (a process with no threads and no open database): it imports the CLI once,
fills the home with CPU-bound pings, then for each round forks a child that runs
``vidcurate serve`` exactly as the command line does, sends it SIGTERM (or SIGINT) after a
random delay, and measures how long the child takes to exit. A child still alive after the
bound is killed and reported.

    python sigterm_driver.py HOME ROUNDS PARALLEL SEED BOUND_SECONDS
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import signal
import sys
import time
from typing import Any

from shared.bootstrap import build_context
from shared.cli.main import run
from shared.config import Settings
from shared.ports import OutgoingMessage

SIGNALS = ("SIGTERM", "SIGINT")
FILES = 2_000
STARTUP_BOUND_S = 60.0  # a serve that never says it serves is killed and reported


def _child(argv: list[str], report: int) -> None:
    """Run the CLI in this forked process, its stderr into ``report`` (the parent watches it
    for the banner ``serve`` prints once its signal handlers are in place), and exit as the
    command does (the interpreter's own shutdown included)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(report, 2)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a stuck child tells where
    sys.argv = ["vidcurate", *argv]
    run()
    sys.exit(0)


def _fork(argv: list[str]) -> tuple[int, int]:
    """The child's pid, and the read end of its stderr (non-blocking)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _child(argv, write)
    os.close(write)
    os.set_blocking(read, False)
    return pid, read


def _drain(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def _fill(home: str, count: int, rng: random.Random) -> None:
    """Publish ``count`` pings, each keeping a worker busy for a while (some for longer
    than the shutdown grace, so that some handlers are always cut short)."""
    pid = os.fork()
    if pid == 0:
        services = build_context(Settings(home=home))
        busy = [rng.choice((0.2, 0.5, 1.0, 10.0)) for _ in range(count)]
        services.bus.publish_many(
            "ping", [OutgoingMessage(json.dumps({"busy_seconds": b}).encode()) for b in busy]
        )
        # A home of some size: every scan of the bucket folders walks these (a scan that
        # does not notice the stop, slowed by the busy handlers, would hold up the exit).
        frames = services.settings.bucket("frames")
        for n in range(FILES):
            services.blobs.write(frames, f"clip{n // 100:03d}/{n % 100:05d}.jpg", b"x" * 64)
        services.close()
        os._exit(0)
    os.waitpid(pid, 0)


def _serve_and_signal(
    home: str, rounds: int, parallel: int, rng: random.Random, bound: float
) -> None:
    """Keep ``parallel`` serves running; signal each after its delay, time its exit, and
    start the next round in its place."""
    children: dict[int, dict[str, Any]] = {}
    started = 0
    while started < rounds or children:
        while started < rounds and len(children) < parallel:
            pid, stderr = _fork(["--home", home, "serve", "--workers", "2"])
            children[pid] = {
                "round": started,
                "signal": rng.choice(SIGNALS),
                "delay": rng.uniform(0.3, 1.0),
                "stderr": stderr,
                "seen": b"",
                "forked": time.monotonic(),
            }
            started += 1
        now = time.monotonic()
        for pid, child in list(children.items()):
            child["seen"] = (child["seen"] + _drain(child["stderr"]))[-16384:]
            if "at" not in child and b"vidcurate serve" in child["seen"]:
                child["at"] = now + child["delay"]  # serving, its handlers in place
            if "sent" not in child and "at" in child and now >= child["at"]:
                os.kill(pid, getattr(signal, child["signal"]))
                child["sent"] = now
            done, status = os.waitpid(pid, os.WNOHANG)
            late = now - child.get("sent", child["forked"] + STARTUP_BOUND_S) > bound
            if done or late:
                if not done:
                    os.kill(pid, signal.SIGUSR1)  # every thread's stack, to see where it hangs
                    time.sleep(0.5)
                    child["seen"] = (child["seen"] + _drain(child["stderr"]))[-16384:]
                    os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                os.close(child["stderr"])
                took = (now - child["sent"]) if done and "sent" in child else None
                code = os.waitstatus_to_exitcode(status)
                line = {"round": child["round"], "signal": child["signal"], "exit_s": took}
                line["cut_short"] = b"cut short" in child["seen"]
                if took is None:  # what it said last, to see why
                    line["said"] = child["seen"][-6000:].decode(errors="replace")
                print(json.dumps({**line, "code": code}), flush=True)
                del children[pid]
        time.sleep(0.01)


def main() -> None:
    home, rounds, parallel, seed, bound = sys.argv[1:6]
    rng = random.Random(int(seed))
    _fill(home, int(rounds) * 8, rng)
    _serve_and_signal(home, int(rounds), int(parallel), rng, float(bound))


if __name__ == "__main__":
    main()
