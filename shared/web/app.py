"""The vidcurate web app (ASGI, FastAPI, pages rendered on the server).

:func:`create_app` builds it over a context: the same ``VIDCURATE_HOME`` as the CLI on a
laptop, Firestore and Cloud Storage in the cloud. Pages: the labelling page (``/label``), the
admin pages (``/admin/…``). Every error reaches the caller as one sentence: an HTML page
for a page, ``{"error": …}`` for an ``/api/`` route, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.config import Settings
from shared.learning import Labelling
from shared.platform.context import Context
from shared.web import (
    admin,
    costs,
    discovery_page,
    explorer,
    features_page,
    labelling,
    rounds_page,
    sets_page,
    status,
    words_api,
)
from shared.web.auth import IapVerifier
from shared.web.state import HERE, AppState, PageError, page_context

__all__ = ["create_app"]

log = logging.getLogger("vidcurate.web")


def create_app(services: Context[Settings]) -> FastAPI:
    """The app over ``services``: IAP-verified identities when
    ``VIDCURATE_WEB_IAP_AUDIENCE`` is set, personal links otherwise."""
    settings = services.settings
    app = FastAPI(
        title="vidcurate",
        summary="Label frames, watch the pipeline, serve the word videos (/v3).",
        docs_url=None,
        redoc_url=None,
    )
    verifier = (
        IapVerifier(settings.web_iap_audience, settings.web_iap_certs_url)
        if settings.web_iap_audience
        else None
    )
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.vidcurate = AppState(
        services=services,
        labelling=Labelling(services),
        templates=templates,
        verifier=verifier,
        admins=frozenset(email.lower() for email in settings.web_admins),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(labelling.router)
    app.include_router(admin.router)
    app.include_router(explorer.router)
    app.include_router(status.router)
    app.include_router(costs.router)
    app.include_router(sets_page.router)
    app.include_router(rounds_page.router)
    app.include_router(features_page.router)
    app.include_router(discovery_page.router)
    app.include_router(words_api.router)
    _errors(app, templates)
    upload_limit = settings.max_upload_batch_bytes

    @app.middleware("http")
    async def _body_limit(request: Request, call_next: Any) -> Response:
        # Refused before the body is read: a batch is held in memory to be parsed.
        declared = request.headers.get("content-length", "")
        if (
            request.url.path == words_api.UPLOAD_PATH
            and declared.isdigit()
            and int(declared) > upload_limit
        ):
            return JSONResponse(
                {"error": f"the body is {declared} bytes, over the {upload_limit}-byte limit"},
                status_code=413,
            )
        response: Response = await call_next(request)
        return response

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Everything the pages load comes from this app: no CDN, no inline script.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return "/api/" in path or path.startswith("/v3/") or request.method != "GET"


def _errors(app: FastAPI, templates: Jinja2Templates) -> None:
    def answer(
        request: Request,
        status: int,
        message: str,
        *,
        sign_in: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        if sign_in and status == 401:
            return RedirectResponse("/signin", status_code=303)
        return templates.TemplateResponse(
            request,
            "message.html",
            page_context(request, None, status=status, message=message, page="message"),
            status_code=status,
        )

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return answer(request, exc.status, exc.message, sign_in=exc.sign_in, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return answer(request, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return answer(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("request failed", extra={"path": request.url.path})
        return answer(request, 500, "something went wrong on our side; it was logged")
