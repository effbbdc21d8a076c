"""A sliding-window limiter per model: requests and tokens per minute."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from shared.llm.settings import LlmSettings
from shared.ports.models import (
    RateLimitedError,
)


class RateLimiter:
    """Requests and tokens per minute per model, over a sliding 60-second window.

    A sliding window (not a token bucket) never lets more than the quota through in ANY
    minute, which is how providers count. Thread-safe; ``acquire`` blocks until the call fits.
    """

    WINDOW = 60.0

    def __init__(
        self,
        settings: LlmSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}

    def acquire(self, model: str, tokens: int, *, deadline: float | None = None) -> float:
        """Wait until one more request of ``tokens`` fits; returns the seconds waited.

        With ``deadline`` (on this limiter's clock), a wait that would end after it raises
        :class:`RateLimitedError` at once instead (the caller's retry layer then stops).
        """
        limit = self._settings.model_limit(model)
        tokens = min(tokens, limit.tokens_per_minute)  # a single huge call must still pass
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                requests = self._requests.setdefault(model, deque())
                spent = self._tokens.setdefault(model, deque())
                while requests and requests[0] <= now - self.WINDOW:
                    requests.popleft()
                while spent and spent[0][0] <= now - self.WINDOW:
                    spent.popleft()
                used = sum(t for _, t in spent)
                if len(requests) < limit.requests_per_minute and (
                    used + tokens <= limit.tokens_per_minute
                ):
                    requests.append(now)
                    spent.append((now, tokens))
                    return waited
                waits = []
                if len(requests) >= limit.requests_per_minute:
                    waits.append(requests[0] + self.WINDOW - now)
                if used + tokens > limit.tokens_per_minute and spent:
                    waits.append(spent[0][0] + self.WINDOW - now)
                delay = max(0.01, min(waits) if waits else 0.01)
            if deadline is not None and now + delay > deadline:
                raise RateLimitedError(
                    f"{model}: the local quota frees a slot in {delay:.1f} s, after the "
                    "job's deadline",
                    retry_after=delay,
                )
            self._sleep(delay)
            waited += delay

    def settle(self, model: str, estimated: int, actual: int) -> None:
        """Correct the newest estimate of ``model`` with the tokens the provider reported."""
        with self._lock:
            spent = self._tokens.get(model)
            if not spent:
                return
            for index in range(len(spent) - 1, -1, -1):
                moment, tokens = spent[index]
                if tokens == estimated:
                    spent[index] = (moment, actual)
                    return
