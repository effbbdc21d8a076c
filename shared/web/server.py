"""Run the web app with uvicorn, on the embedded default or in a Cloud Run container."""

from __future__ import annotations

import uvicorn

from shared.config import Settings
from shared.platform.context import Context
from shared.web.app import create_app

__all__ = ["serve"]


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
