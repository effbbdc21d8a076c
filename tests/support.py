"""Helpers the test folders share: free ports, bounded polling, served processes.

``tests/`` is on ``sys.path`` (pytest puts the folder of ``tests/conftest.py`` there), so a
test module imports these as ``from support import poll``.

The process helpers expect a server started in a session of its own
(``subprocess.Popen(..., start_new_session=True)``): its process group is then the server
and everything it forked (a gunicorn master and its workers, a launcher script and its
java child), and stopping the group stops them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "assert_running",
    "free_port",
    "is_listening",
    "poll",
    "read_log",
    "stop_process_group",
    "wait_until_listening",
]

T = TypeVar("T")

LOCALHOST = "127.0.0.1"
POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    Another process may take it before the caller binds it: callers that can retry should.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


def is_listening(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def poll(
    condition: Callable[[], T | None],
    timeout: float,
    interval: float = POLL_INTERVAL_S,
    message: str | Callable[[], str] = "condition not met in time",
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy.

    Returns that value (never None). Raises AssertionError with ``message`` (a string, or a
    function building it when time is up, to show a log as it is then) when ``timeout``
    seconds pass first. Whatever ``condition`` raises propagates at once: raise (or assert)
    there to fail fast, for instance when the process being waited on has died.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)  # bounded by the deadline
    text = message() if callable(message) else message
    raise AssertionError(f"timed out after {timeout:g} s: {text}")


def read_log(path: Path, tail: int | None = None) -> str:
    """A process's log (its last ``tail`` characters), or "" when it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text if tail is None else text[-tail:]


def assert_running(process: subprocess.Popen[Any], log_path: Path, name: str) -> None:
    """Fail, showing the log, when ``process`` has already exited."""
    code = process.poll()
    if code is not None:
        raise AssertionError(f"{name} exited with {code}:\n{read_log(log_path)}")


def wait_until_listening(
    process: subprocess.Popen[Any],
    port: int,
    log_path: Path,
    timeout: float,
    *,
    name: str = "the server",
) -> None:
    """Wait (at most ``timeout`` seconds) until ``process`` accepts connections on ``port``.

    Fails at once, showing ``log_path``, if the process exits meanwhile; the timeout's
    failure shows the log too.
    """

    def listening() -> bool:
        if is_listening(port):
            return True
        assert_running(process, log_path, name)
        return False

    poll(
        listening,
        timeout,
        message=lambda: f"{name}: port {port} not open:\n{read_log(log_path)}",
    )


def stop_process_group(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop ``process`` and its process group: SIGTERM, then SIGKILL after ``timeout`` s.

    ``process`` must lead its own group (``start_new_session=True``). Nothing happens when it
    has already exited.
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # the group may end on its own meanwhile
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer, name: str) -> Iterator[str]:
    """Serve ``server`` from a daemon thread; yield its base URL; shut it down afterwards."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class ManualClock:
    """A clock that moves only when slept on (or set): ``clock()`` reads it, ``clock.sleep``
    advances it and records each wait in ``slept``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most of ``times`` within any ``window`` seconds (a rolling quota's count)."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
