"""``vidcurate web`` serves the app from the CLI on the home's data, and stops on SIGTERM
(as Cloud Run stops an instance)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from support import free_port, poll, stop_process_group


def test_vidcurate_web_serves_the_sign_in_page_and_stops_on_sigterm(tmp_path: Path):
    port = free_port()
    log = tmp_path / "web.log"
    env = {**os.environ, "VIDCURATE_HOME": str(tmp_path / "home")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.cli.main", "web", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:

        def answered() -> requests.Response | None:
            assert process.poll() is None, log.read_text()
            try:
                return requests.get(f"http://127.0.0.1:{port}/signin", timeout=2)
            except requests.ConnectionError:
                return None

        response = poll(answered, timeout=60, message=log.read_text)
        assert response.status_code == 200
        assert "Sign in" in response.text
        assert requests.get(f"http://127.0.0.1:{port}/static/label.js", timeout=5).ok
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert f"http://127.0.0.1:{port}/" in log.read_text()
    finally:
        stop_process_group(process)
