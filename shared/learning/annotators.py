"""Annotators: who may label, how each signs in, and who administers.

Documents::

    annotators/<name>   name, admin, invited_at, and how the annotator is recognised:
                        token_sha256 (the personal link `vidcurate labels invite` prints,
                        on a laptop) and/or email (the identity Identity-Aware Proxy vouches
                        for, in the cloud).

Only the token's SHA-256 is stored: the link is shown once, when it is made, and inviting the
same name again makes a new link and ends the old one. A name is 1-64 characters of letters,
digits and ``._-`` starting with a letter or digit; it appears in exports and in the
annotator's own queue seed, so it never changes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.core.errors import VidcurateError
from shared.ports import DocumentStore

__all__ = [
    "ANNOTATORS",
    "Annotator",
    "UnknownAnnotatorError",
    "annotator_by_email",
    "annotator_by_token",
    "check_name",
    "get_annotator",
    "invite",
    "list_annotators",
]

ANNOTATORS = "annotators"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UnknownAnnotatorError(VidcurateError):
    """No annotator of that name, token or e-mail."""


@dataclass(frozen=True)
class Annotator:
    """A registered annotator."""

    name: str
    admin: bool = False
    email: str | None = None


def check_name(name: str) -> str:
    """``name`` if it is a valid annotator name, else a :class:`ValueError` saying why."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"annotator name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    documents: DocumentStore, name: str, *, email: str | None = None, admin: bool | None = None
) -> str:
    """Register ``name`` (or renew them) and return their new secret token; any earlier
    token of theirs stops working. ``email`` is the identity IAP vouches for in the cloud
    (one annotator's only); ``admin`` None keeps what a renewed annotator had (no admin for
    a new one). A :class:`ValueError` says what is wrong; nothing is written then."""
    check_name(name)
    if email is not None:
        if not _EMAIL.fullmatch(email):
            raise ValueError(f"--email {email!r} is not an e-mail address")
        email = email.lower()
        owner = annotator_by_email(documents, email)
        if owner is not None and owner.name != name:
            raise ValueError(f"--email {email} is already {owner.name}'s")
    token = secrets.token_urlsafe(32)
    data: dict[str, object] = {
        "name": name,
        "token_sha256": _token_hash(token),
        "invited_at": datetime.now(UTC),
    }
    if admin is not None:
        data["admin"] = admin
    elif documents.get(f"{ANNOTATORS}/{name}") is None:
        data["admin"] = False
    if email is not None:
        data["email"] = email
    documents.set(f"{ANNOTATORS}/{name}", data, merge=True)
    return token


def _annotator(data: dict[str, object]) -> Annotator:
    email = data.get("email")
    return Annotator(
        name=str(data["name"]),
        admin=bool(data.get("admin")),
        email=email if isinstance(email, str) else None,
    )


def get_annotator(documents: DocumentStore, name: str) -> Annotator:
    """The annotator called ``name``, or :class:`UnknownAnnotatorError`."""
    doc = documents.get(f"{ANNOTATORS}/{name}") if _NAME.fullmatch(name) else None
    if doc is None:
        raise UnknownAnnotatorError(
            f"unknown annotator {name!r} (invite them first: vidcurate labels invite NAME)"
        )
    return _annotator(doc.data)


def annotator_by_token(documents: DocumentStore, token: str) -> Annotator | None:
    """The annotator whose personal link carries ``token`` (an indexed lookup of its hash)."""
    if not token or len(token) > 256:
        return None
    wanted = _token_hash(token)
    found = documents.query(ANNOTATORS, [("token_sha256", "==", wanted)], limit=1)
    if not found or not hmac.compare_digest(str(found[0].data.get("token_sha256")), wanted):
        return None
    return _annotator(found[0].data)


def annotator_by_email(documents: DocumentStore, email: str) -> Annotator | None:
    """The annotator registered with ``email`` (IAP's verified identity), or None."""
    found = documents.query(ANNOTATORS, [("email", "==", email.lower())], limit=1)
    return _annotator(found[0].data) if found else None


def list_annotators(documents: DocumentStore) -> list[Annotator]:
    """Every annotator, by name."""
    return [_annotator(doc.data) for doc in documents.iter_collection(ANNOTATORS)]
