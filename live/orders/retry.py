"""Retries by error class: what the executor does when a submit, cancel or modify fails.

Each result is classified (:func:`classify`) into one :class:`ErrorClass`:

- ``REJECTED``: the broker refused (RMS, bad input): never retried, journaled as today.
- ``UNKNOWN``: the answer was lost; the command may have happened: never sent again, settled
  by a status query (``Executor.settle_in_doubt``).
- ``TRANSIENT`` (the connection was refused before the request left) and ``THROTTLED`` (HTTP
  429, or our own rate limiter): the broker certainly did not receive it, so it is sent again
  after an exponential backoff with seeded jitter, while the order's latency budget lasts.
  Each retry is journaled (``OrderRetried``) before its sleep; when the attempts or the budget
  run out the last refusal stands, with the reason saying so (a journaled rejection, alerted).

Only a result whose adapter set :attr:`~live.broker.SubmitResult.not_sent` is retried: a
transport error after the request may have left is ``UNKNOWN``. The sleep and the monotonic
clock are injected (no real sleeping in tests). Settings: ``live.execution.retry``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from live.broker import NotSent, Outcome, SubmitResult


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


def classify(result: SubmitResult) -> ErrorClass | None:
    """The error class of a command's result; None when it was confirmed."""
    if result.outcome is Outcome.CONFIRMED:
        return None
    if result.outcome is Outcome.UNKNOWN:
        return ErrorClass.UNKNOWN
    if result.not_sent is NotSent.TRANSIENT:
        return ErrorClass.TRANSIENT
    if result.not_sent is NotSent.THROTTLED:
        return ErrorClass.THROTTLED
    return ErrorClass.REJECTED


def not_sent_of(exc: BaseException) -> NotSent | None:
    """Whether a transport exception certainly left nothing at the broker: a refused
    connection or an unknown host (TRANSIENT); None (may have been sent) otherwise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or \
                type(current).__name__ in _NEVER_CONNECTED:
            return NotSent.TRANSIENT
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError wraps the cause
        inner = current.args[0] if current.args and isinstance(current.args[0],
                                                               BaseException) else None
        current = reason if isinstance(reason, BaseException) else \
            inner or current.__cause__ or current.__context__
    return None


# urllib3's names for "the connection could not be opened" (refused, or the host not found),
# matched by name so that this module imports no HTTP library. A connect *timeout* stays
# UNKNOWN (fail closed: it is not told apart from a slow handshake here).
_NEVER_CONNECTED = frozenset({"NewConnectionError", "NameResolutionError"})


class ClassPolicy(BaseModel):
    """The retry policy of one retryable error class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=20, description="attempts in all (1: never retry)")
    base_backoff_ms: int = Field(100, ge=0, le=60_000, description="first retry's delay")
    max_backoff_ms: int = Field(2000, ge=0, le=60_000, description="longest delay")

    @model_validator(mode="after")
    def _max_not_below_base(self) -> ClassPolicy:
        if self.max_backoff_ms < self.base_backoff_ms:
            raise ValueError(f"max_backoff_ms {self.max_backoff_ms} is below base_backoff_ms "
                             f"{self.base_backoff_ms}")
        return self


class RetryPolicy(BaseModel):
    """``live.execution.retry``: per-class policies, jitter and the per-order latency budget.
    REJECTED is never retried and UNKNOWN never resent (settled by a status query): fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transient: ClassPolicy = Field(default_factory=lambda: ClassPolicy(
        max_attempts=3, base_backoff_ms=100, max_backoff_ms=1000))
    throttled: ClassPolicy = Field(default_factory=lambda: ClassPolicy(
        max_attempts=4, base_backoff_ms=200, max_backoff_ms=800))
    # 1 s by default: the runner's thread waits out the backoff, and a kill acts within 1 s
    latency_budget_ms: int = Field(1000, ge=0, le=60_000,
                                   description="all retries of one command end within this")
    jitter_pct: float = Field(20.0, ge=0, le=100, description="delay +- this percent")
    seed: int = Field(7, description="seeds the jitter (with the client key and attempt)")

    def for_class(self, error: ErrorClass) -> ClassPolicy | None:
        """The policy of a retryable class; None for REJECTED and UNKNOWN."""
        if error is ErrorClass.TRANSIENT:
            return self.transient
        if error is ErrorClass.THROTTLED:
            return self.throttled
        return None

    def delay_ms(self, error: ErrorClass, key: str, attempt: int) -> int:
        """The delay before ``attempt`` (2 = first retry) of command ``key``: exponential
        from the class's base, capped, with jitter seeded by (seed, key, attempt)."""
        policy = self.for_class(error)
        if policy is None or attempt < 2:
            return 0
        raw = min(policy.max_backoff_ms, policy.base_backoff_ms << (attempt - 2))
        unit = random.Random(f"{self.seed}:{key}:{attempt}").uniform(-1.0, 1.0)
        return max(0, min(policy.max_backoff_ms, round(raw * (1 + unit * self.jitter_pct / 100))))


NO_RETRY = RetryPolicy(transient=ClassPolicy(max_attempts=1, base_backoff_ms=0,
                                             max_backoff_ms=0),
                       throttled=ClassPolicy(max_attempts=1, base_backoff_ms=0,
                                             max_backoff_ms=0), latency_budget_ms=0)


@dataclass(frozen=True, slots=True)
class Retry:
    """One retry about to happen (what ``OrderRetried`` journals)."""

    attempt: int
    error_class: ErrorClass
    delay_ms: int
    reason: str


class Retrier:
    """Runs a broker command, retrying what certainly did not reach the broker.

    ``sleep`` takes seconds; ``monotonic_s`` reads seconds (injected: a test's fake clock
    advances when it sleeps). ``on_retry`` is told of each retry before its sleep (the
    executor journals it there)."""

    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None],
                 monotonic_s: Callable[[], float]) -> None:
        self.policy, self.sleep, self.monotonic_s = policy, sleep, monotonic_s

    def run(self, key: str, call: Callable[[], SubmitResult],
            on_retry: Callable[[Retry], None]) -> SubmitResult:
        """``call``'s result, retried per class within the latency budget; a result still
        TRANSIENT or THROTTLED at the end says why it stopped."""
        started = self.monotonic_s()
        attempt = 1
        while True:
            result = call()
            error = classify(result)
            policy = None if error is None else self.policy.for_class(error)
            if error is None or policy is None or policy.max_attempts == 1:
                return result  # confirmed, not retryable, or this class's retries are off
            if attempt >= policy.max_attempts:
                return _exhausted(result, error, f"{attempt} attempt(s), the {error} "
                                  f"policy's max_attempts={policy.max_attempts}")
            delay = self.policy.delay_ms(error, key, attempt + 1)
            spent_ms = (self.monotonic_s() - started) * 1000
            if spent_ms + delay > self.policy.latency_budget_ms:
                return _exhausted(result, error, f"latency budget "
                                  f"{self.policy.latency_budget_ms} ms used up after "
                                  f"{attempt} attempt(s)")
            attempt += 1
            on_retry(Retry(attempt, error, delay, result.reason))
            self.sleep(delay / 1000)


def _exhausted(result: SubmitResult, error: ErrorClass, why: str) -> SubmitResult:
    return replace(result, reason=f"{result.reason} ({error}; retries exhausted: {why})")


def _no_sleep(seconds: float) -> None:
    """The sleep of :data:`NEVER_RETRY` (which never sleeps)."""


NEVER_RETRY = Retrier(NO_RETRY, sleep=_no_sleep, monotonic_s=lambda: 0.0)
