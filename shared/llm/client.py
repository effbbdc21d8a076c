"""Calling models: provider choice, one retry layer, a per-model rate limit, a cost ledger.

Everything that asks a model something (critiques, frame descriptions) goes through
:meth:`ModelClient.generate`:

- the provider is chosen from the model name and the keys configured; without a key the
  offline provider answers (and says so in every record);
- one tenacity layer retries rate limits, 5xx, timeouts and malformed replies, waiting at
  least what ``Retry-After`` asks, bounded by attempts and by time (adapters never retry);
- a sliding-window limiter keeps requests and tokens per minute under each model's quota,
  shared by every worker thread of the process (in the cloud, function max instances and
  the subscription's retry policy bound the rest);
- every successful call is one document in ``model_calls`` (provider, model, prompt name
  and version, tokens, cost from the price table, labels), never a shared counter; so is
  every answer that was billed but not used (a reply that does not fit, a refusal);
- an optional ``deadline`` bounds everything (retries, waits for Retry-After or the quota,
  each attempt's timeout), so a job ends with an outcome before its function is killed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from shared.llm.ledger import cost_usd, record_call
from shared.llm.limits import RateLimiter
from shared.llm.prompts import DATA_RULE, Prompt
from shared.llm.settings import LlmSettings
from shared.platform.context import Context
from shared.ports import DocumentStore
from shared.ports.models import (
    MalformedReplyError,
    MediaPart,
    ModelError,
    ModelProvider,
    ModelReply,
    ModelRequest,
    ModelUnavailableError,
    RateLimitedError,
    S,
)

log = logging.getLogger("vidcurate.models")


RETRYABLE = (RateLimitedError, ModelUnavailableError, MalformedReplyError)


class ModelCallFailedError(ModelError):
    """Every attempt failed with a retryable error; carries the attempts and the last one."""

    def __init__(self, message: str, attempts: int, last: BaseException) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last


@dataclass(frozen=True)
class ModelResult(Generic[S]):
    """A validated answer and what it cost."""

    parsed: S
    text: str
    provider: str
    model: str  # as recorded: "offline-<model>" for the offline provider
    prompt_name: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    attempts: int
    call_id: str


@dataclass(frozen=True)
class _Call(Generic[S]):
    """One generate() call: who answers, what is asked, for what, and until when."""

    provider: ModelProvider
    prompt: Prompt
    request: ModelRequest[S]
    labels: Mapping[str, str]
    deadline: float | None


class ModelClient:
    """The one way to call a model (see the module docstring)."""

    def __init__(
        self,
        settings: LlmSettings,
        documents: DocumentStore,
        providers: Mapping[str, ModelProvider],
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._documents = documents
        self._providers = dict(providers)
        self._limiter = limiter or RateLimiter(settings, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._clock = clock
        self._unpriced_warned: set[str] = set()

    def provider_for(self, model: str) -> ModelProvider:
        """The provider that answers ``model`` with the keys configured (offline otherwise)."""
        family = "gemini" if model.startswith("gemini") else "openai"
        if self.settings.llm_provider != "offline" and family in self._providers:
            return self._providers[family]
        return self._providers["offline"]

    def is_offline(self, model: str) -> bool:
        """Whether calls to ``model`` would be answered by the offline provider."""
        return self.provider_for(model).name == "offline"

    def generate(
        self,
        prompt: Prompt,
        *,
        model: str,
        schema: type[S],
        data: Mapping[str, str],
        media: Sequence[MediaPart] = (),
        labels: Mapping[str, str] | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> ModelResult[S]:
        """Ask ``model`` with ``prompt`` over ``data`` and return the validated answer.

        ``deadline`` is an instant of the client's clock (``time.monotonic()``) that no
        attempt or wait may pass.
        Raises :class:`ModelCallFailedError` when retryable failures outlast the budget,
        and ``ModelRequestError`` (permanent) at once for a request that cannot succeed.
        """
        provider = self.provider_for(model)
        request = ModelRequest(
            model=model,
            instructions=f"{prompt.instructions}\n\n{DATA_RULE}",
            parts=[*prompt.render(data), *media],
            schema=schema,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            timeout_seconds=self.settings.model_timeout_seconds,
            labels={**(labels or {}), "prompt_name": prompt.name},
        )
        call = _Call(provider, prompt, request, labels or {}, deadline)
        reply, attempts = self._ask_with_retries(call, max_retries)
        return self._account(call, reply, attempts)

    def _retrying(self, call: _Call[Any], max_retries: int | None) -> Retrying:
        """The one retry layer: attempts, total time and the job's deadline bound it."""
        return retrying(
            self.settings,
            who=call.provider.name,
            model=call.request.model,
            max_retries=max_retries,
            deadline=call.deadline,
            clock=self._clock,
            sleep=self._sleep,
        )

    def _ask_with_retries(
        self, call: _Call[S], max_retries: int | None
    ) -> tuple[ModelReply[S], int]:
        """The provider's reply and the attempts it took; ModelCallFailedError when the
        retryable failures outlast the budget."""
        provider, model = call.provider, call.request.model
        estimated = _estimate_tokens(call.request)
        attempts = 0
        try:
            for attempt in self._retrying(call, max_retries):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if provider.name != "offline":  # no quota to respect on this machine
                        self._limiter.acquire(model, estimated, deadline=call.deadline)
                    reply = self._attempt(call, attempts)
        except RETRYABLE as exc:
            raise ModelCallFailedError(
                f"{provider.name} {model}: {type(exc).__name__} after {attempts} attempt(s): {exc}",
                attempts,
                exc,
            ) from exc
        if provider.name != "offline":
            self._limiter.settle(model, estimated, reply.input_tokens + reply.output_tokens)
        return reply, attempts

    def _attempt(self, call: _Call[S], attempts: int) -> ModelReply[S]:
        """One try, timed out by what is left of the deadline after any wait for the quota."""
        asked = call.request
        if call.deadline is not None:
            left = call.deadline - self._clock()
            if left <= 1:
                raise ModelUnavailableError(
                    f"{call.provider.name} {asked.model}: no time left before the deadline"
                )
            asked = replace(asked, timeout_seconds=min(asked.timeout_seconds or left, left))
        try:
            return call.provider.generate(asked)
        except ModelError as exc:
            if exc.billed:  # answered and charged, but not usable
                self._record_billed_failure(
                    exc, call.provider.name, asked.model, call.prompt, attempts, call.labels
                )
            raise

    def _account(self, call: _Call[S], reply: ModelReply[S], attempts: int) -> ModelResult[S]:
        """The result with its cost, recorded in the ledger."""
        provider, model = call.provider.name, call.request.model
        offline = provider == "offline"
        cost = (
            0.0
            if offline
            else cost_usd(self.settings, model, reply.input_tokens, reply.output_tokens)
        )
        if not offline and model not in self.settings.model_prices:
            self._warn_unpriced(model)
        result = ModelResult(
            parsed=reply.parsed,
            text=reply.text,
            provider=provider,
            model=reply.model,
            prompt_name=call.prompt.name,
            prompt_version=call.prompt.version,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cost_usd=cost,
            attempts=attempts,
            call_id=uuid.uuid4().hex,
        )
        self._record(result, requested_model=model, labels=call.labels)
        return result

    def _warn_unpriced(self, model: str) -> None:
        if model in self._unpriced_warned:
            return
        self._unpriced_warned.add(model)
        log.warning(
            "model has no price: its calls are recorded at $0 (set VIDCURATE_MODEL_PRICES)",
            extra={"labels": {"model": model}},
        )

    def _record(
        self, result: ModelResult[Any], *, requested_model: str, labels: Mapping[str, str]
    ) -> None:
        # One document per successful call: thousands of workers write side by side.
        record_call(
            self._documents,
            result.call_id,
            {
                "outcome": "success",
                "provider": result.provider,
                "model": result.model,
                "requested_model": requested_model,
                "prompt_name": result.prompt_name,
                "prompt_version": result.prompt_version,
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "cost_usd": result.cost_usd,
                "attempts": result.attempts,
                "labels": dict(labels),
            },
        )

    def _record_billed_failure(
        self,
        exc: ModelError,
        provider: str,
        model: str,
        prompt: Prompt,
        attempt: int,
        labels: Mapping[str, str],
    ) -> None:
        """A ledger entry for an answer that was charged but not used."""
        cost = (
            0.0
            if provider == "offline"
            else cost_usd(self.settings, model, exc.input_tokens, exc.output_tokens)
        )
        record_call(
            self._documents,
            uuid.uuid4().hex,
            {
                "outcome": "malformed" if isinstance(exc, MalformedReplyError) else "refused",
                "error": str(exc)[:500],
                "provider": provider,
                "model": f"offline-{model}" if provider == "offline" else model,
                "requested_model": model,
                "prompt_name": prompt.name,
                "prompt_version": prompt.version,
                "input_tokens": exc.input_tokens,
                "output_tokens": exc.output_tokens,
                "cost_usd": cost,
                "attempts": attempt,
                "labels": dict(labels),
            },
        )


def retrying(
    settings: LlmSettings,
    *,
    who: str,
    model: str,
    max_retries: int | None,
    deadline: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Retrying:
    """The retry layer of every model call (text or image): retryable errors only, bounded
    by attempts, total time and the job's ``deadline`` (an instant of ``clock``), honouring
    Retry-After; ``who`` (the provider) and ``model`` name the retries in the logs."""
    retries = settings.model_max_retries if max_retries is None else max_retries
    stop = stop_after_attempt(retries + 1) | stop_before_delay(settings.model_max_retry_seconds)
    if deadline is not None:
        stop = stop | _StopBefore(deadline, clock)
    return Retrying(
        retry=retry_if_exception_type(RETRYABLE),
        stop=stop,
        wait=_wait_honouring_retry_after(),
        sleep=sleep,
        reraise=True,
        before_sleep=_log_retry(who, model),
    )


class _StopBefore(stop_base):
    """Stop when the next attempt would start after ``deadline`` (on ``clock``)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


def _estimate_tokens(request: ModelRequest[Any]) -> int:
    text = request.instructions + "".join(getattr(p, "text", "") for p in request.parts)
    return max(1, len(text) // 4) + (request.max_output_tokens or 512)


def _wait_honouring_retry_after() -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(initial=1, max=60, jitter=1)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        computed = float(backoff(state))
        return max(computed, float(asked)) if asked is not None else computed

    return wait


def _log_retry(provider: str, model: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "model call failed; retrying",
            extra={
                "labels": {"provider": provider, "model": model},
                "attempt": state.attempt_number,
                "error": f"{type(exc).__name__}: {exc}",
                "wait_seconds": round(state.upcoming_sleep, 2),
            },
        )

    return before_sleep


def model_client(context: Context[LlmSettings]) -> ModelClient:
    """The context's model client: its providers and ONE rate limiter for every worker of the
    process (built on first use, again only if the context's settings are replaced)."""
    settings = context.settings
    return context.remotes.once(
        ModelClient,
        settings,
        lambda: ModelClient(settings, context.documents, context.model_providers()),
    )
