"""Run the web app with uvicorn, on the embedded default or in a Cloud Run container."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from shared.config import Settings
from shared.platform.context import Context
from shared.web.app import create_app

__all__ = ["serve", "served"]


def serve(services: Context[Settings], *, host: str, port: int) -> None:
    """Serve until interrupted (Ctrl-C, or SIGTERM when Cloud Run stops the instance).

    No access log: the sign-in page's token never appears in a URL, but a log of every frame
    fetched says nothing an operator needs."""
    config = uvicorn.Config(
        create_app(services),
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()


@contextlib.contextmanager
def served(services: Context[Settings], *, start_seconds: float = 20.0) -> Iterator[str]:
    """The app on a free local port, served from a thread while the block runs; its base
    URL (the demo asks the API through it as a client would)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, access_log=False, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="vidcurate-web", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_seconds
        while not server.started:  # a bounded wait for the server's own flag
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the web app did not start on port {port}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
