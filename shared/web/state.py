"""What every route of the web app shares: the context, the use cases, the verified identity,
the templates, and errors shown as a page (HTML routes) or as JSON (``…/api/…`` routes),
never as a traceback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from shared.config import Settings
from shared.learning import Annotator, Labelling, annotator_by_email, annotator_by_token
from shared.platform.context import Context
from shared.web.auth import (
    IAP_HEADER,
    SESSION_COOKIE,
    IapVerifier,
    Identity,
    InvalidIdentityError,
    KeysUnavailableError,
)

__all__ = [
    "HERE",
    "AppState",
    "IdentityDep",
    "PageError",
    "StateDep",
    "app_state",
    "identity_of",
    "page_context",
]

HERE = Path(__file__).parent
_IDENTITY_SECONDS = 30.0  # how long a token's or an e-mail's annotator is remembered


class PageError(Exception):
    """An answer other than 200, with the sentence to show (or send as JSON)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        sign_in: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.sign_in = sign_in
        self.headers = dict(headers or {})


@dataclass
class AppState:
    """Built once per app."""

    services: Context[Settings]
    labelling: Labelling
    templates: Jinja2Templates
    verifier: IapVerifier | None
    admins: frozenset[str]
    clock: Callable[[], float] = time.monotonic
    _known: dict[str, tuple[float, Annotator | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remembered(self, key: str, look_up: Callable[[], Annotator | None]) -> Annotator | None:
        """``look_up()`` at most once per ``_IDENTITY_SECONDS`` for ``key``: a click does not
        query the annotators, and a revoked link stops working within that time."""
        now = self.clock()
        with self._lock:
            hit = self._known.get(key)
        if hit is not None and now - hit[0] < _IDENTITY_SECONDS:
            return hit[1]
        found = look_up()
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[key] = (now, found)
        return found

    def forget_identities(self) -> None:
        """Look every identity up again (after an invitation changes)."""
        with self._lock:
            self._known.clear()


def app_state(request: Request) -> AppState:
    """The app's shared state."""
    state: AppState = request.app.state.vidcurate
    return state


def identity_of(request: Request) -> Identity:
    """The verified caller (:class:`PageError` 401 when there is none)."""
    state = app_state(request)
    documents = state.services.documents
    if state.verifier is not None:
        try:
            claims = state.verifier.verify(request.headers.get(IAP_HEADER))
        except InvalidIdentityError as exc:
            raise PageError(401, str(exc)) from exc
        except KeysUnavailableError as exc:
            raise PageError(503, f"{exc}: try again in a minute") from exc
        email = str(claims["email"]).lower()
        annotator = state.remembered(f"email:{email}", lambda: annotator_by_email(documents, email))
        admin = email in state.admins or bool(annotator and annotator.admin)
        return Identity(annotator=annotator.name if annotator else None, email=email, admin=admin)
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise PageError(401, "sign in with your personal link first", sign_in=True)
    annotator = state.remembered(f"token:{token}", lambda: annotator_by_token(documents, token))
    if annotator is None:
        raise PageError(
            401, "this sign-in link is not valid (any more): ask for a new one", sign_in=True
        )
    admin = annotator.admin or (annotator.email or "").lower() in state.admins
    return Identity(annotator=annotator.name, email=annotator.email, admin=admin)


def page_context(request: Request, identity: Identity | None, **extra: Any) -> dict[str, Any]:
    """What every template gets: the caller and the navigation."""
    return {"request": request, "identity": identity, **extra}


StateDep = Annotated[AppState, Depends(app_state)]
"""A route's app state (``state: StateDep``)."""

IdentityDep = Annotated[Identity, Depends(identity_of)]
"""A route's signed-in identity (``identity: IdentityDep``): a viewer at least."""
