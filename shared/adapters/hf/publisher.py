"""The hub publisher port over the Hugging Face Hub (``huggingface_hub.HfApi``).

One retry layer, ours: every Hub call runs inside :meth:`HfHubPublisher.call`, a tenacity
loop that retries 408, 429 and 5xx answers, timeouts and connection errors with jittered
exponential backoff, honours ``Retry-After``, and stops after ``settings.hub_max_attempts``
tries or ``settings.hub_max_seconds``, whichever comes first.

huggingface_hub retries on its own inside some calls (``http_backoff``: the preupload step
of ``create_commit`` and ``list_repo_tree``, five times, up to 8 s apart). Stacked under ours
that would multiply attempts and outlive the function's timeout, and it cannot be turned off
per call. So the shared HTTP client that huggingface_hub uses is replaced, once per process,
by one that behaves exactly as the default one except inside our calls, where it raises a
retryable status or a transport error straight out of the library (the library only
retries its own exception types) and gives requests a finite timeout (the library's is
none). Requests made outside our calls by anything else in the process keep the library's
behaviour.

The token never leaves the Authorization header: messages name the repo and what to fix,
and :meth:`HfHubPublisher._redact` removes the token from any text that reaches an error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx2
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    get_session,
    hf_hub_url,
    hf_raise_for_status,
    set_client_factory,
)
from huggingface_hub.errors import HfHubHTTPError

# Public in huggingface_hub.utils, but re-exported dynamically there, so typed imports name
# the defining modules. hf_request_event_hook is the request hook of the library's default
# client (offline mode, request ids, debug logs): ours keeps it, to differ only in our calls.
from huggingface_hub.utils._headers import build_hf_headers
from huggingface_hub.utils._http import hf_request_event_hook, parse_ratelimit_headers
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from shared import __version__
from shared.adapters.retry_after import retry_after_seconds
from shared.core.errors import PermanentError, TransientError, VidcurateError
from shared.core.text import redact
from shared.platform.settings import PlatformSettings
from shared.ports.hub import HubCommit

log = logging.getLogger("vidcurate.hub")

T = TypeVar("T")

REPO_TYPE = "dataset"
README = "README.md"

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers that a later attempt may not get: timeouts, rate limits, an unavailable Hub."""

CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0


class _RetryableHubError(Exception):
    """A failure our retry layer handles. Deliberately not an httpx2 error nor an OSError:
    huggingface_hub retries those itself, and these must reach our layer on the first try."""

    status: int | None = None
    retry_after: float | None = None


class _RetryableStatusError(_RetryableHubError):
    def __init__(self, status: int, retry_after: float | None, request: str) -> None:
        self.status = status
        self.retry_after = retry_after
        wait = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
        super().__init__(f"HTTP {status} on {request}{wait}")


class _UnreachableError(_RetryableHubError):
    def __init__(self, exc: httpx2.TransportError, request: str) -> None:
        super().__init__(f"{type(exc).__name__} on {request}: {exc}")


class HubConflictError(TransientError):
    """The repo changed under a commit (HTTP 409/412); run the whole upload again."""


_SINGLE_TRY: ContextVar[httpx2.Timeout | None] = ContextVar(
    "vidcurate_hub_single_try", default=None
)
"""Set inside our calls: the timeout to give requests that have none."""


class _SingleTryClient(httpx2.Client):
    """huggingface_hub's shared client; inside our calls it hands every retry to us."""

    def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        """Send as httpx2 does; inside our calls, raise retryable failures as ours."""
        timeout = _SINGLE_TRY.get()
        if timeout is None:
            return super().send(request, **kwargs)
        current = request.extensions.get("timeout") or {}
        if all(value is None for value in current.values()):
            # huggingface_hub sends most requests without any timeout: a stalled connection
            # would hang until the function is killed instead of being retried.
            request.extensions["timeout"] = timeout.as_dict()
        what = f"{request.method} {request.url.path}"
        try:
            response = super().send(request, **kwargs)
        except httpx2.TransportError as exc:
            raise _UnreachableError(exc, what) from exc
        if response.status_code in RETRYABLE_STATUSES:
            retry_after = _retry_after(response)
            response.close()
            raise _RetryableStatusError(response.status_code, retry_after, what)
        return response


def _single_try_client() -> httpx2.Client:
    # The same configuration as huggingface_hub's default factory.
    return _SingleTryClient(
        event_hooks={"request": [hf_request_event_hook]}, follow_redirects=True, timeout=None
    )


_install_lock = threading.Lock()


def _ensure_single_try_client() -> None:
    """Make huggingface_hub's shared client ours (once; again if someone replaced it)."""
    with _install_lock:
        if not isinstance(get_session(), _SingleTryClient):
            set_client_factory(_single_try_client)


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds the Hub asks us to wait: ``Retry-After`` (seconds or an HTTP date), or the
    Hub's ``RateLimit`` header on a 429 whose quota is spent."""
    seconds = retry_after_seconds(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    if response.status_code == 429:
        info = parse_ratelimit_headers(response.headers)
        if info is not None and info.remaining == 0:
            return float(info.reset_in_seconds)
    return None


class HfHubPublisher:
    """Dataset repos on the Hub of ``settings.hf_endpoint``, written with ``settings.hf_token``.

    ``api`` replaces the ``HfApi`` client (tests, or a caller that already has one);
    ``sleep`` is what waits between attempts, and ``backoff_seconds`` /
    ``max_backoff_seconds`` shape the jittered exponential backoff used when the Hub gives
    no ``Retry-After``.
    """

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        api: HfApi | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self._token = settings.hub_token()
        self._settings = settings
        # token=False, not None: without a configured token huggingface_hub would look for
        # one on the machine, and only PlatformSettings may say where credentials come from.
        self._api = (
            api
            if api is not None
            else HfApi(
                endpoint=settings.hf_endpoint.rstrip("/"),
                token=self._token or False,
                library_name="vidcurate",
                library_version=__version__,
            )
        )
        self._sleep = sleep
        self._backoff = wait_random_exponential(
            multiplier=backoff_seconds, max=max(backoff_seconds, max_backoff_seconds)
        )
        # At most half the retry budget per request: a request that times out leaves time
        # for another attempt.
        half = settings.hub_max_seconds / 2
        self._timeout = httpx2.Timeout(
            min(READ_TIMEOUT_SECONDS, half), connect=min(CONNECT_TIMEOUT_SECONDS, half)
        )

    # -- the port ----------------------------------------------------------------------

    def commit_folder(
        self,
        repo_id: str,
        folder: str,
        files: Mapping[str, bytes],
        card: str | None,
        *,
        private: bool,
        message: str,
    ) -> HubCommit:
        """Create the dataset repo if missing, then commit ``files`` under ``folder`` at once.

        The repo is looked up before it is created: ``create_repo`` costs a write-rate-limited
        call, and on an existing repo it answers 409, or 403 to a token without rights on
        the owner even when the token may write to this repo.

        The commit names the branch head it was prepared on as its parent: if anything
        landed meanwhile (a duplicate delivery that published the same folder first, a person
        editing the README), the Hub refuses it with 412 instead of stacking a second commit
        or overwriting the README. Then, if the folder is on the Hub, that commit is
        returned; otherwise a :class:`HubConflictError` asks for the whole upload to run again
        (and read the README again). A retry of a commit whose answer was lost finds all its
        files already there: huggingface_hub skips unchanged files and makes no empty commit.
        """
        if not files:
            raise PermanentError(f"nothing to publish to {repo_id}: {folder!r} has no files")
        paths = {name: _path_in_repo(folder, name) for name in files}
        self._require_token(repo_id)
        head = self._ensure_repo(repo_id, private=private)

        def commit() -> Any:
            # Fresh operations on every attempt: huggingface_hub marks them as used.
            return self._api.create_commit(
                repo_id,
                _commit_operations(paths, files, card),
                commit_message=message,
                repo_type=REPO_TYPE,
                parent_commit=head,
            )

        try:
            info = self.call("committing to", repo_id, commit)
        except HubConflictError:
            landed = self._folder_commit(repo_id, folder)
            if landed is None:
                raise
            log.warning(
                "the folder was committed meanwhile; keeping that commit",
                extra={"labels": {"repo_id": repo_id, "folder": folder}, "oid": landed.oid},
            )
            return landed
        return HubCommit(repo_id=repo_id, oid=str(info.oid), url=str(info.commit_url))

    def folder_exists(self, repo_id: str, folder: str) -> bool:
        """Whether the main branch has anything under ``folder`` (False when no repo)."""
        return self._first_entry(repo_id, folder, expand=False) is not None

    def read_file(self, repo_id: str, path: str) -> bytes | None:
        """``path`` on the main branch, or None when it (or the repo) does not exist."""
        url = hf_hub_url(repo_id, path, repo_type=REPO_TYPE, endpoint=self._api.endpoint)
        headers = build_hf_headers(
            token=self._token or False, library_name="vidcurate", library_version=__version__
        )

        def download() -> bytes | None:
            # One GET of the resolve URL: hf_hub_download would add a HEAD, a local cache and
            # a fallback to stale cached copies, none of which a read-modify-write wants.
            response = get_session().get(url, headers=headers)
            try:
                hf_raise_for_status(response)
            except HfHubHTTPError as exc:
                if self._is_absent(exc):
                    return None
                raise
            return response.content

        return self.call(f"reading {path} from", repo_id, download)

    # -- helpers -----------------------------------------------------------------------

    def _head(self, repo_id: str) -> str | None:
        """The commit at the head of main, or None when the repo does not exist."""

        def head() -> str | None:
            try:
                return self._api.repo_info(repo_id, repo_type=REPO_TYPE).sha
            except HfHubHTTPError as exc:
                if exc.response.status_code == 404:
                    return None
                raise

        return self.call("reading the head of", repo_id, head)

    def _ensure_repo(self, repo_id: str, *, private: bool) -> str | None:
        """Create the dataset repo if it is missing; the commit at the head of main."""
        head = self._head(repo_id)
        if head is None:
            self.call(
                "creating the dataset repo",
                repo_id,
                lambda: self._api.create_repo(
                    repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True
                ),
            )
            head = self._head(repo_id)
        return head

    def _first_entry(self, repo_id: str, folder: str, *, expand: bool) -> Any:
        def first() -> Any:
            try:
                tree = self._api.list_repo_tree(
                    repo_id, path_in_repo=folder, repo_type=REPO_TYPE, expand=expand
                )
                return next(iter(tree), None)
            except HfHubHTTPError as exc:
                if self._is_absent(exc):
                    return None
                raise

        return self.call(f"listing {folder} in", repo_id, first)

    def _folder_commit(self, repo_id: str, folder: str) -> HubCommit | None:
        """The commit that last touched ``folder``, or None when it is not on the Hub."""
        entry = self._first_entry(repo_id, folder, expand=True)
        if entry is None or entry.last_commit is None:
            return None
        oid = str(entry.last_commit.oid)
        url = f"{self._api.endpoint}/datasets/{repo_id}/commit/{oid}"
        return HubCommit(repo_id=repo_id, oid=oid, url=url)

    def _is_absent(self, exc: HfHubHTTPError) -> bool:
        status = exc.response.status_code
        # Anonymous readers get 401 for private and missing repos alike: for them it is not
        # there. With a token, a 401 means the token is bad, which must not look like "absent".
        return status == 404 or (status == 401 and self._token is None)

    def _require_token(self, repo_id: str) -> None:
        if self._token is None:
            raise PermanentError(
                f"cannot publish to the Hugging Face dataset {repo_id}: no token configured; "
                "set HF_TOKEN (a Secret Manager secret in the cloud) to a token with write "
                "access to it"
            )

    def _redact(self, text: str) -> str:
        return redact(text, self._token)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableHubError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _log_retry(self, action: str, repo_id: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning(
                "Hub call failed; retrying",
                extra={
                    "labels": {"repo_id": repo_id},
                    "action": action,
                    "attempt": state.attempt_number,
                    "wait_seconds": round(state.upcoming_sleep, 3),
                    "error": self._redact(str(exc)),
                },
            )

        return before_sleep

    def call(self, action: str, repo_id: str, fn: Callable[[], T]) -> T:
        """Run one Hub call under our retry layer and translate what escapes it.

        The one retry layer of every Hub request: the shard source reads datasets through it
        too (``shared/adapters/hf/shards.py``)."""
        _ensure_single_try_client()
        settings = self._settings
        retrying = Retrying(
            stop=stop_after_attempt(settings.hub_max_attempts)
            | stop_before_delay(settings.hub_max_seconds),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableHubError),
            sleep=self._sleep,
            before_sleep=self._log_retry(action, repo_id),
        )
        scope = _SINGLE_TRY.set(self._timeout)
        try:
            return retrying(fn)
        except RetryError as exc:
            raise self._exhausted(exc, action, repo_id) from exc.last_attempt.exception()
        except HfHubHTTPError as exc:
            raise self._translate(exc, action, repo_id) from exc
        except json.JSONDecodeError as exc:
            raise TransientError(
                f"{action} {repo_id}: the Hub answered something that is not JSON"
            ) from exc
        except ValueError as exc:
            # Arguments huggingface_hub refuses before any request (repo id, paths), or
            # README metadata that /api/validate-yaml rejected.
            raise PermanentError(
                self._redact(f"{action} {repo_id}: rejected before upload: {exc}")
            ) from exc
        finally:
            _SINGLE_TRY.reset(scope)

    def _exhausted(self, exc: RetryError, action: str, repo_id: str) -> TransientError:
        attempt = exc.last_attempt
        last = attempt.exception()
        status = getattr(last, "status", None)
        retry_after = getattr(last, "retry_after", None)
        what = f"HTTP {status}" if status is not None else str(last)
        text = (
            f"{action} {repo_id}: the Hub still failed after {attempt.attempt_number} "
            f"attempt(s) (last: {what})"
        )
        if retry_after is not None and attempt.attempt_number < self._settings.hub_max_attempts:
            text += (
                f"; it asked to wait {retry_after:g} s, beyond the "
                f"{self._settings.hub_max_seconds:g} s retry budget"
            )
        return TransientError(self._redact(text))

    def _translate(self, exc: HfHubHTTPError, action: str, repo_id: str) -> VidcurateError:
        status = exc.response.status_code
        said = (exc.server_message or "").strip().replace("\n", " ")[:300]
        detail = f" (the Hub said: {said})" if said else ""
        owner = repo_id.split("/", 1)[0]
        if status == 401:
            text = (
                f"{action} {repo_id}: the Hub rejected the token (HTTP 401){detail}; set HF_TOKEN "
                f"to a valid Hugging Face token with write access to {repo_id}"
            )
        elif status == 403:
            text = (
                f"{action} {repo_id}: the token may not do this (HTTP 403){detail}; give it "
                f"write access to '{owner}' (a write token, or a fine-grained token with write "
                f"rights on {repo_id}), or publish to another repo"
            )
        elif status == 404:
            text = (
                f"{action} {repo_id}: not found (HTTP 404){detail}; check the repo id "
                f"(OWNER/NAME) and that the token's account can see '{owner}'"
            )
        elif status in (409, 412):
            return HubConflictError(
                self._redact(f"{action} {repo_id}: the repo changed meanwhile (HTTP {status})")
            )
        elif 400 <= status < 500:
            text = f"{action} {repo_id}: the Hub refused the request (HTTP {status}){detail}"
        else:
            return TransientError(self._redact(f"{action} {repo_id}: HTTP {status}{detail}"))
        return PermanentError(self._redact(text))


def _commit_operations(
    paths: Mapping[str, str], files: Mapping[str, bytes], card: str | None
) -> list[CommitOperationAdd]:
    """One addition per file, in name order, and the README when there is a card."""
    operations = [
        CommitOperationAdd(path_in_repo=paths[name], path_or_fileobj=bytes(data))
        for name, data in sorted(files.items())
    ]
    if card is not None:
        operations.append(CommitOperationAdd(path_in_repo=README, path_or_fileobj=card.encode()))
    return operations


def _path_in_repo(folder: str, name: str) -> str:
    """``<folder>/<name>``; names are relative and may not climb out of the folder."""
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise PermanentError(f"invalid file name in export {folder!r}: {name!r}")
    return f"{folder}/{name}"
