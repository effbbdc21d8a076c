"""Kill ``vidcurate export`` at random points; print what each kill left, one JSON line each.

Run as a script (a process with no threads and no open database): it imports the CLI once,
measures how long an export takes here, then for each round forks a child that runs
``vidcurate export`` exactly as the command line does and kills it (SIGKILL) after a delay
drawn with a fixed seed over that duration. A forked checker then reports what readers
would see (the visible local export folders, the bucket's folders and their documents), the
next export runs to its end, and the checker reports again. Last, with every lease run out,
one more export must leave nothing unfinished; then one export is killed right after its
``all_videos_with_captions`` file landed, for the test to point ``critiques run`` at.

    python export_kill_driver.py HOME EXPORT_DIR ROUNDS SEED WORK_DIR
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from shared.bootstrap import build_context
from shared.captions.messages import EXPORT_LEASE, WRITING, WRITTEN, export_incomplete
from shared.cli.main import run
from shared.config import Settings
from shared.critiques.store import load_export

EXPORTS_BUCKET = "vidcurate-exports"
ALL_VIDEOS = "all_videos_with_captions_"


def _child(argv: list[str], out: Path) -> None:
    """Run the CLI in this forked process, its output to ``out`` (its log lines and errors
    beside it, ``.err``), and leave without Python's clean-up of the parent's state (the
    parent owns it)."""
    code = 0
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
    sys.argv = ["vidcurate", *argv]
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 3
    os._exit(code)


def _fork(argv: list[str], out: Path) -> int:
    pid = os.fork()
    if pid == 0:
        _child(argv, out)
    return pid


def _exit_code(status: int) -> int | str:
    return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else "killed"


def _export(home: str, export_dir: str, out: Path) -> tuple[int | str, dict[str, Any], float]:
    """Run one export to its end: its exit code, its JSON answer and its duration."""
    start = time.perf_counter()
    pid = _fork(_export_argv(home, export_dir), out)
    _, status = os.waitpid(pid, 0)
    took = time.perf_counter() - start
    code = _exit_code(status)
    errors = out.with_suffix(".err").read_text()[-2000:]
    answer = json.loads(out.read_text()) if code == 0 else {"errors": errors}
    return code, answer, took


def _export_argv(home: str, export_dir: str) -> list[str]:
    return ["--home", home, "export", "--ignore-errors", "--export-dir", export_dir, "--json"]


def _checked(home: str, export_dir: str, verified: set[str], out: Path) -> dict[str, Any]:
    """What readers see now, checked in a forked process (the parent opens no database)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            out.write_text(json.dumps(_facts(Path(home), Path(export_dir), verified)))
        except BaseException as exc:
            out.write_text(json.dumps({"problems": [f"checker failed: {exc!r}"]}))
            code = 1
        os._exit(code)
    os.waitpid(pid, 0)
    facts: dict[str, Any] = json.loads(out.read_text())
    return facts


def _facts(home: Path, export_dir: Path, verified: set[str]) -> dict[str, Any]:
    """The problems a reader would meet, and the counts the test asserts on. Files of a
    finished folder are parsed once (they never change afterwards)."""
    services = build_context(Settings(home=home, log_level="CRITICAL"))
    problems: list[str] = []
    try:
        docs = {doc.id: doc.data for doc in services.documents.iter_collection("exports")}
        stored: dict[str, dict[str, int]] = {}
        for info in services.blobs.list(EXPORTS_BUCKET):
            folder, name = info.name.split("/", 1)
            stored.setdefault(folder, {})[name] = info.size
        for folder, files in stored.items():
            data = docs.get(folder, {})
            if data.get("state") == WRITTEN:
                if files != data["files"]:
                    problems.append(f"bucket {folder}: {files} but its claim says {data['files']}")
                elif folder not in verified:
                    for name in files:
                        orjson.loads(services.blobs.read(EXPORTS_BUCKET, f"{folder}/{name}"))
                continue
            problems += _refusal_problems(services, folder)
        local, hidden = _local(export_dir, docs, verified, problems)
        writing = sorted(f for f, d in docs.items() if d.get("state") == WRITING)
        stuck = [f for f in writing if not EXPORT_LEASE.live(docs[f])]
        return {
            "problems": problems,
            "states": Counter(str(d.get("state")) for d in docs.values()),
            "unfinished_with_objects": sorted(
                f for f in stored if docs.get(f, {}).get("state") != WRITTEN
            ),
            "local": local,
            "hidden": hidden,
            "writing": writing,
            "stuck": stuck,
            "verified": sorted(
                f for f, d in docs.items() if d.get("state") == WRITTEN and f in stored
            ),
        }
    finally:
        services.close()


def _refusal_problems(services: Any, folder: str) -> list[str]:
    """An unfinished bucket folder must be refused by the readers (critiques read it this way)."""
    if export_incomplete(services.documents, folder) is None:
        return [f"bucket {folder}: unfinished but not refused"]
    try:
        load_export(services, folder)
    except Exception as exc:
        if "is incomplete" in str(exc):
            return []
        return [f"bucket {folder}: refused for another reason: {exc}"]
    return [f"bucket {folder}: unfinished, yet critiques read it"]


def _local(
    export_dir: Path, docs: dict[str, Any], verified: set[str], problems: list[str]
) -> tuple[list[str], list[str]]:
    """The visible export folders (each must be a finished export, whole) and the hidden
    staged ones."""
    visible, hidden = [], []
    for entry in sorted(export_dir.iterdir()) if export_dir.exists() else []:
        if entry.name.startswith("."):
            hidden.append(entry.name)
            continue
        visible.append(entry.name)
        data = docs.get(entry.name, {})
        if data.get("state") != WRITTEN:
            problems.append(f"local {entry.name}: visible but its claim is {data.get('state')}")
            continue
        sizes = {p.name: p.stat().st_size for p in entry.iterdir()}
        if sizes != data["files"]:
            problems.append(f"local {entry.name}: {sizes} but the export has {data['files']}")
        elif entry.name not in verified:
            for name in sizes:
                orjson.loads((entry / name).read_bytes())
    return visible, hidden


def _kill_after(home: str, export_dir: str, delay: float, out: Path) -> int | str:
    """Start an export and kill it after ``delay`` seconds; its exit (or "killed")."""
    pid = _fork(_export_argv(home, export_dir), out)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


def _kill_once_written(home: str, export_dir: str, out: Path) -> str | None:
    """Kill an export right after its all_videos_with_captions object landed (a few tries,
    in case one finishes first): the folder it left, or None."""
    bucket = Path(home) / "buckets" / EXPORTS_BUCKET
    for _attempt in range(5):
        before = set(os.listdir(bucket))
        pid = _fork(_export_argv(home, export_dir), out)
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            for name in set(os.listdir(bucket)) - before:
                if any(
                    f.startswith("all_videos_with_captions_") for f in os.listdir(bucket / name)
                ):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    return name
            time.sleep(0.0005)
    return None


def main(home: str, export_dir: str, rounds: int, seed: int, work: Path) -> None:
    rng = random.Random(seed)
    verified: set[str] = set()
    _export(home, export_dir, work / "warm.json")
    code, _answer, duration = _export(home, export_dir, work / "measure.json")
    print(json.dumps({"measured_seconds": duration, "exit": code}), flush=True)
    for number in range(rounds):
        delay = rng.uniform(0.0, duration)
        killed = _kill_after(home, export_dir, delay, work / f"killed-{number}.txt")
        after_kill = _checked(home, export_dir, verified, work / "facts.json")
        code, answer, _took = _export(home, export_dir, work / f"next-{number}.json")
        after_next = _checked(home, export_dir, verified, work / "facts.json")
        verified.update(after_next.get("verified", []))
        line = {"round": number, "delay": delay, "killed": killed, "after_kill": after_kill}
        line |= {"next_exit": code, "next": answer, "after_next": after_next}
        print(json.dumps(line), flush=True)
    lease = float(os.environ.get("VIDCURATE_EXPORT_LEASE_SECONDS", "300"))
    time.sleep(lease + 0.2)
    code, answer, _took = _export(home, export_dir, work / "final.json")
    final = _checked(home, export_dir, verified, work / "facts.json")
    print(json.dumps({"final_exit": code, "final": answer, "after_final": final}), flush=True)
    folder = _kill_once_written(home, export_dir, work / "targeted.txt")
    print(json.dumps({"incomplete": folder}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
