"""Dataset shards read from the Hugging Face Hub."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from shared import __version__
from shared.core.errors import (
    TransientError,
)
from shared.core.text import redact
from shared.platform.settings import PlatformSettings

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from shared.adapters.hf.publisher import HfHubPublisher
from shared.ports.datasets import DatasetAccessError, DatasetNotFoundError, ShardNotFoundError

T = TypeVar("T")


REPO_TYPE = "dataset"


class _DownloadProgress:
    """Stands in for tqdm in ``hf_hub_download``: forwards the byte count, draws nothing.

    huggingface_hub instantiates the class it is given with tqdm's keyword arguments and
    calls a handful of tqdm methods; the others are no-ops here. ``update_transfer`` being
    present makes Xet downloads report reconstructed bytes on this one bar.
    """

    def __init__(
        self, *args: Any, total: int | None = None, initial: int = 0, **kwargs: Any
    ) -> None:
        self.n = initial
        self.total = total

    def _report(self, done: int, total: int | None) -> None:
        """Replaced per download by :func:`_progress_class`."""

    def update(self, n: float | None = 1) -> None:
        """Count ``n`` more bytes (negative when a download restarts)."""
        self.n += int(n or 0)
        self._report(self.n, self.total)

    def update_transfer(self, n: float | None = 1) -> None:
        """Network bytes (Xet): the reconstructed bytes in :meth:`update` are what counts."""

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def set_transfer_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def _progress_class(report: Callable[[int, int | None], None]) -> type[_DownloadProgress]:
    class Progress(_DownloadProgress):
        def _report(self, done: int, total: int | None) -> None:
            report(done, total)

    return Progress


class HfShardSource:
    """Dataset repos on the Hub of ``settings.hf_endpoint``, read with ``settings.hf_token``.

    Every request runs in the retry layer of :class:`shared.adapters.hf.HfHubPublisher`
    (408, 429, 5xx, timeouts and connection errors retried with jittered backoff and
    ``Retry-After``, huggingface_hub's own retries kept out of it, ``settings.hub_max_attempts``
    and ``hub_max_seconds`` as bounds), so the Hub is retried by one layer only. ``sleep``
    and the backoff arguments are the publisher's (tests wait without sleeping).
    """

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        # huggingface_hub is heavy to import and reads its environment when first imported:
        # only here, when the Hub is used.
        from huggingface_hub import HfApi  # noqa: PLC0415

        from shared.adapters.hf.publisher import HfHubPublisher  # noqa: PLC0415

        self._token = settings.hub_token()
        self._endpoint = settings.hf_endpoint.rstrip("/")
        # token=False, not None: huggingface_hub would otherwise look for a token on the
        # machine, and only PlatformSettings says where credentials come from.
        self._api: HfApi = HfApi(
            endpoint=self._endpoint,
            token=self._token or False,
            library_name="vidcurate",
            library_version=__version__,
        )
        self._hub: HfHubPublisher = HfHubPublisher(
            settings,
            api=self._api,
            sleep=sleep,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
        )

    def list_files(self, dataset: str) -> list[str]:
        """Every file path in the dataset repo's main branch (the Hub pages long listings)."""
        from huggingface_hub.errors import HfHubHTTPError  # noqa: PLC0415

        action = "listing the files of"

        def listing() -> list[str]:
            try:
                files = self._api.list_repo_files(dataset, repo_type=REPO_TYPE)
                return [str(name) for name in files]
            except HfHubHTTPError as exc:
                self._raise_refused(exc, action, dataset)
                raise

        return self._retrying(action, dataset, listing)

    def download(
        self,
        dataset: str,
        filename: str,
        directory: Path,
        *,
        on_bytes: Callable[[int, int | None], None] | None = None,
    ) -> Path:
        """Download ``filename`` whole into ``directory`` with ``hf_hub_download``."""
        from huggingface_hub import hf_hub_download  # noqa: PLC0415
        from huggingface_hub.errors import (  # noqa: PLC0415
            HfHubHTTPError,
            LocalEntryNotFoundError,
        )

        action = f"downloading {filename} from"
        progress = _progress_class(on_bytes) if on_bytes is not None else None

        def fetch() -> str:
            try:
                return hf_hub_download(
                    dataset,
                    filename,
                    repo_type=REPO_TYPE,
                    local_dir=directory,
                    endpoint=self._endpoint,
                    token=self._token or False,
                    library_name="vidcurate",
                    library_version=__version__,
                    tqdm_class=cast(Any, progress),
                )
            except HfHubHTTPError as exc:
                self._raise_refused(exc, action, dataset)
                raise
            except LocalEntryNotFoundError as exc:
                # The file's metadata could not be read and there is no local copy: an HTTP
                # error the library wrapped, or an endpoint that is not a Hub.
                cause = exc.__cause__
                if isinstance(cause, HfHubHTTPError):
                    self._raise_refused(cause, action, dataset)
                    raise cause from exc
                raise TransientError(self._redact(f"{action} {dataset}: {exc}")) from exc
            except OSError as exc:
                # A download whose size did not match, a full disk: try the whole pull again.
                raise TransientError(self._redact(f"{action} {dataset} failed: {exc}")) from exc

        return Path(self._retrying(action, dataset, fetch))

    def _retrying(self, action: str, dataset: str, fn: Callable[[], T]) -> T:
        # The publisher's retry layer, reused as is so that the Hub has one retry policy.
        return self._hub.call(action, dataset, fn)

    def _raise_refused(self, exc: HfHubHTTPError, action: str, dataset: str) -> None:
        """Raise our error for the Hub refusing a read; return when the Hub adapter's
        translation of ``exc`` says it as well (a 400, say)."""
        error = self._refused(exc, action, dataset)
        if error is not None:
            raise error from exc

    def _refused(self, exc: HfHubHTTPError, action: str, dataset: str) -> Exception | None:
        status = exc.response.status_code
        code = exc.response.headers.get("X-Error-Code")
        said = (exc.server_message or "").strip().replace("\n", " ")[:300]
        detail = f" (the Hub said: {said})" if said else ""
        page = f"{self._endpoint}/datasets/{dataset}"
        if code == "GatedRepo":
            how = (
                "with the token's account"
                if self._token
                else "and set HF_TOKEN to a token of the account that accepted them"
            )
            text = (
                f"{action} {dataset}: the dataset is gated (HTTP {status}); accept its "
                f"conditions at {page} {how}"
            )
            return DatasetAccessError(self._redact(text))
        if code == "EntryNotFound":
            return ShardNotFoundError(
                self._redact(f"{action} {dataset}: no such file (HTTP {status}){detail}")
            )
        if status == 404 or (status == 401 and self._token is None):
            hint = "" if self._token else ", or set HF_TOKEN if it is private or gated"
            text = (
                f"{action} {dataset}: dataset not found (HTTP {status}){detail}; check "
                f"OWNER/NAME{hint}"
            )
            return DatasetNotFoundError(self._redact(text))
        if status == 401:
            text = (
                f"{action} {dataset}: the Hub rejected the token (HTTP 401){detail}; set "
                "HF_TOKEN to a valid Hugging Face token"
            )
            return DatasetAccessError(self._redact(text))
        if status == 403:
            text = (
                f"{action} {dataset}: the token may not read this dataset (HTTP 403){detail}; "
                "use a token with read access to it"
            )
            return DatasetAccessError(self._redact(text))
        return None

    def _redact(self, text: str) -> str:
        return redact(text, self._token)
