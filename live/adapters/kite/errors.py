"""Classify what a Kite Connect call raised into an :class:`~live.broker.Outcome`.

A refusal the broker answered (bad input, RMS / margin, permissions, an expired session) is
``REJECTED``: nothing happened. A lost or garbled answer (timeout, disconnect, an OMS or
gateway failure, a 5xx) is ``UNKNOWN``: the order may exist, so it is settled by a lookup
by tag, never by sending again. When in doubt the answer is ``UNKNOWN`` (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiteconnect import exceptions as kex

from live.broker import BrokerUnavailableError, NotSent, Outcome
from live.orders.retry import not_sent_of
from strategies.errors import StratopsError

HTTP_TOO_MANY_REQUESTS = 429


class KiteRateLimitedError(StratopsError, RuntimeError):
    """A command the client-side rate limiter refused before sending: it would have had to
    wait longer than allowed (or a daily / per-order cap is used up). Nothing was sent."""


# Everything a call through ``kiteconnect.KiteConnect`` may raise for a broker or transport
# reason. requests' exceptions derive from OSError, as do ConnectionError and TimeoutError;
# KeyError is a success envelope without the expected field (the answer is garbled).
KITE_CALL_ERRORS: tuple[type[Exception], ...] = (kex.KiteException, OSError, KeyError,
                                                 KiteRateLimitedError)

_REFUSALS: tuple[type[kex.KiteException], ...] = (
    kex.InputException, kex.OrderException, kex.PermissionException, kex.TokenException,
)


class KiteQueryError(BrokerUnavailableError):
    """A report request (orders, trades, positions) got no usable answer; nothing is known."""


class KiteSessionError(KiteQueryError):
    """The Kite access token is invalid or expired: the runner must halt and log in again."""


@dataclass(frozen=True, slots=True)
class KiteFailure:
    """A classified failure: the outcome, the broker's message, and whether the session died."""

    outcome: Outcome
    reason: str
    session_invalid: bool = False
    not_sent: NotSent | None = None  # certainly not received: retryable (live.orders.retry)


def classify_kite_error(exc: Exception) -> KiteFailure:
    """Map an exception from a Kite call to REJECTED or UNKNOWN (see the module docstring).

    ``GeneralException`` is classified by its HTTP code: a 4xx is a refusal, anything else
    (5xx, unset) may have happened. Unrecognised exceptions are ``UNKNOWN``. A 429, our own
    rate limiter's refusal (THROTTLED) and a connection never established (TRANSIENT) are
    ``REJECTED`` with ``not_sent`` set: the order certainly did not reach Kite.
    """
    reason = _describe(exc)
    if isinstance(exc, KiteRateLimitedError):  # refused before sending
        return KiteFailure(Outcome.REJECTED, reason, not_sent=NotSent.THROTTLED)
    if isinstance(exc, kex.KiteException) and _code(exc) == HTTP_TOO_MANY_REQUESTS:
        return KiteFailure(Outcome.REJECTED, reason, not_sent=NotSent.THROTTLED)
    if isinstance(exc, _REFUSALS):
        return KiteFailure(Outcome.REJECTED, reason,
                           session_invalid=isinstance(exc, kex.TokenException))
    if isinstance(exc, kex.GeneralException) and 400 <= _code(exc) < 500:
        return KiteFailure(Outcome.REJECTED, reason)
    if isinstance(exc, OSError) and not_sent_of(exc) is not None:
        return KiteFailure(Outcome.REJECTED, reason, not_sent=NotSent.TRANSIENT)
    return KiteFailure(Outcome.UNKNOWN, reason)


def _code(exc: kex.KiteException) -> int:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else 500


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    if isinstance(exc, kex.KiteException):
        return f"{name} ({_code(exc)}): {exc}"
    if isinstance(exc, KiteRateLimitedError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"malformed Kite answer: missing field {exc}"
    return f"{name}: {exc}" if str(exc) else name
