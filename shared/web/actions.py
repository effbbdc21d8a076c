"""What every page that changes something shares: the double-submit anti-forgery token (a
cookie the page's script copies into a header), the operator check, and the record of each
operator action with who asked.

Documents::

    operator_actions/<id>   who, action, what it was done to, at
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request, Response

from shared.platform.context import Context
from shared.ports import SERVER_TIMESTAMP
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER, Identity, csrf_matches, new_csrf_token
from shared.web.state import PageError

__all__ = [
    "CSRF_CONFIG",
    "OPERATOR_ACTIONS",
    "ensure_csrf_cookie",
    "record_action",
    "require_from_page",
    "require_operator",
    "set_csrf_cookie",
]

log = logging.getLogger("vidcurate.web")

OPERATOR_ACTIONS = "operator_actions"
CSRF_CONFIG = {"cookie": CSRF_COOKIE, "header": CSRF_HEADER}
"""What a page's script needs to send the token back."""


def set_csrf_cookie(response: Response) -> None:
    """A fresh token: readable by the page's script (it copies it into the header), never
    sent cross-site."""
    response.set_cookie(CSRF_COOKIE, new_csrf_token(), httponly=False, samesite="strict")


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    """Give a page its token unless the browser has one."""
    if not request.cookies.get(CSRF_COOKIE):
        set_csrf_cookie(response)


def require_from_page(request: Request, page: str) -> None:
    """403 unless the request carries the token back (only our pages can)."""
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
        raise PageError(403, f"refused: the request did not come from {page}")


def require_operator(identity: Identity, verb: str) -> None:
    """403 unless the caller is an operator (an admin)."""
    if not identity.admin:
        raise PageError(403, f"{identity.label} may look, not {verb}: operators (admins) only")


def record_action(services: Context[Any], identity: Identity, action: str, **target: Any) -> None:
    """Keep and log one operator action with who asked."""
    services.documents.create(
        f"{OPERATOR_ACTIONS}/{uuid.uuid4().hex}",
        {"who": identity.label, "action": action, **target, "at": SERVER_TIMESTAMP},
    )
    labels = {"who": identity.label, "action": action, **{k: str(v) for k, v in target.items()}}
    log.info("operator action: %s", action, extra={"labels": labels})
