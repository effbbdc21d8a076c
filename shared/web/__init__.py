"""The web app: the labelling page and admin pages today; the explorer, status and cost
dashboards join it (one app, one navigation). :func:`create_app` builds it over a context,
:func:`serve` runs it with uvicorn (``vidcurate web``; the Cloud Run service runs the same)."""

from shared.web.app import create_app
from shared.web.server import serve

__all__ = ["create_app", "serve"]
