"""Who is asking: the identity behind a request, verified, never taken on trust.

In the cloud the app runs behind Identity-Aware Proxy, which signs every request it lets
through with a JWT in ``x-goog-iap-jwt-assertion`` (ES256, issuer
``https://cloud.google.com/iap``, audience ``/projects/NUMBER/locations/REGION/services/NAME``
for a Cloud Run service). :class:`IapVerifier` checks the signature against IAP's public keys
(fetched once and kept, with PyJWT's JWK client), the expiry, the issuer and the audience;
the identity is the token's ``email``. A request without the header, or with one that does
not verify, is refused (401), so a caller who reaches the service around IAP gets nowhere.

On a laptop (no audience configured) an annotator signs in with the personal link
``vidcurate labels invite NAME`` printed: the token travels in the link's fragment (never
sent in a URL the server logs), the sign-in page posts it once, and the app keeps it in an
HttpOnly, SameSite=Strict cookie.

Writes need the double-submit token: a random ``vidcurate_csrf`` cookie (SameSite=Strict) that
the page copies into an ``X-CSRF-Token`` header. Another site can neither read the cookie nor
send that header without a CORS preflight this app never grants, so a forged cross-site
request is refused (403) and nothing is written.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "IAP_HEADER",
    "IAP_ISSUER",
    "SESSION_COOKIE",
    "IapVerifier",
    "Identity",
    "InvalidIdentityError",
    "KeysUnavailableError",
    "csrf_matches",
    "new_csrf_token",
]

IAP_HEADER = "x-goog-iap-jwt-assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
SESSION_COOKIE = "vidcurate_session"
CSRF_COOKIE = "vidcurate_csrf"
CSRF_HEADER = "x-csrf-token"


class InvalidIdentityError(Exception):
    """The request's identity could not be verified (the message says why)."""


class KeysUnavailableError(Exception):
    """IAP's public keys could not be fetched: nobody can be verified for now."""


@dataclass(frozen=True)
class Identity:
    """A verified caller: an annotator's name (None when the identity is not one), their
    e-mail when IAP vouched for it, and whether they administer the app."""

    annotator: str | None
    email: str | None
    admin: bool

    @property
    def label(self) -> str:
        """How the pages name the caller."""
        return self.annotator or self.email or "?"


class IapVerifier:
    """Verifies IAP's signed header for one audience."""

    def __init__(self, audience: str, certs_url: str, *, leeway_seconds: float = 30.0) -> None:
        self.audience = audience
        self._keys = PyJWKClient(certs_url, cache_jwk_set=True, lifespan=3600, timeout=10)
        self._leeway = leeway_seconds

    def verify(self, assertion: str | None) -> dict[str, Any]:
        """The token's claims, or :class:`InvalidIdentityError` saying what is wrong."""
        if not assertion:
            raise InvalidIdentityError(f"missing {IAP_HEADER}: this app is reached through IAP")
        try:
            key = self._keys.get_signing_key_from_jwt(assertion)
            claims: dict[str, Any] = jwt.decode(
                assertion,
                key.key,
                algorithms=["ES256"],
                audience=self.audience,
                issuer=IAP_ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "aud", "iss", "email"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailableError(f"IAP's public keys cannot be fetched now ({exc})") from exc
        except jwt.ExpiredSignatureError as exc:
            raise InvalidIdentityError("the IAP assertion has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidIdentityError("the IAP assertion is for another audience") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise InvalidIdentityError(f"the IAP assertion does not verify ({exc})") from exc
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise InvalidIdentityError("the IAP assertion names no e-mail")
        return claims


def new_csrf_token() -> str:
    """A fresh double-submit token."""
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, header: str | None) -> bool:
    """Whether the header repeats the cookie (compared in constant time)."""
    return bool(cookie) and bool(header) and hmac.compare_digest(str(cookie), str(header))
