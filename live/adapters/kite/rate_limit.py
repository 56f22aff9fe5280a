"""A client-side rate limiter in front of ``kiteconnect.KiteConnect``: every call takes from
the bucket of its Kite Connect limit before it is sent.

Kite Connect's documented limits (kite.trade API docs, "rate limits"): order placement,
modification and cancellation 10 requests/s; quote (``quote``, ``ltp``, ``ohlc``) 1/s;
historical data 3/s; every other endpoint 10/s; at most 400 orders a minute and 5,000 a day
per user; at most 25 modifications of one order. Each limit is a window of the last N
calls (:class:`RateWindow`): never more than N calls in any window, even at a window's
edge (a refilling bucket of N could pass nearly 2N there).

A command (place, modify, cancel, ...) that would have to wait longer than
``max_command_wait_s`` - or whose daily or per-order cap is used up - is refused before it
is sent (:class:`~live.adapters.kite.errors.KiteRateLimitedError`, ``rate_limited``; the
adapter classifies it REJECTED): an order is never sent late without its caller knowing.
A query waits for its turn. The clock and the sleep are injected (deterministic tests).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from live.adapters.kite.errors import KiteRateLimitedError
from strategies.errors import BadInputError

KITE_TZ = ZoneInfo("Asia/Kolkata")
QUOTE_CALLS = frozenset({"quote", "ltp", "ohlc"})
HISTORICAL_CALLS = frozenset({"historical_data"})
LOCAL_CALLS = frozenset({"login_url", "set_access_token", "set_session_expiry_hook"})
ORDER_CALLS = frozenset({"place_order", "modify_order", "cancel_order", "exit_order"})
COMMAND_PREFIXES = ("place_", "modify_", "cancel_", "exit_", "delete_", "convert_",
                    "invalidate_", "generate_", "renew_")


class KiteRateLimitConfigError(BadInputError, ValueError):
    """A rate limit that is not positive."""


@dataclass(frozen=True, kw_only=True, slots=True)
class KiteRateLimits:
    """Kite Connect's documented limits (module docstring) and our bound on a command's wait."""

    orders_per_s: int = 10
    quote_per_s: int = 1
    historical_per_s: int = 3
    other_per_s: int = 10
    orders_per_minute: int = 400
    orders_per_day: int = 5000
    modifications_per_order: int = 25
    max_command_wait_s: float = 0.25

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not value > 0:
                raise KiteRateLimitConfigError(f"Kite rate limit {name}={value!r}: must be "
                                               "positive")


class RateWindow:
    """At most ``limit`` calls in any ``window_s`` seconds (times in seconds, monotonic)."""

    def __init__(self, name: str, limit: int, window_s: float) -> None:
        self.name, self.limit, self.window_s = name, limit, window_s
        self._calls: deque[float] = deque()

    def wait_s(self, now_s: float) -> float:
        """How long a call at ``now_s`` must wait for a free slot (0 when there is one)."""
        while self._calls and self._calls[0] <= now_s - self.window_s:
            self._calls.popleft()
        if len(self._calls) < self.limit:
            return 0.0
        return self._calls[0] + self.window_s - now_s

    def take(self, now_s: float) -> None:
        self._calls.append(now_s)

    def describe(self) -> str:
        return f"{self.name}: {self.limit} per {self.window_s:g} s"


class RateLimitedKite:
    """``client`` (a ``KiteConnect``) behind Kite's limits. Every attribute of the client is
    reachable; calls are admitted by :meth:`admit` first. ``clock`` is the wall clock (aware;
    its seconds drive the windows, its IST date the daily order cap), ``sleep`` waits."""

    def __init__(self, client: Any, *, clock: Callable[[], datetime],
                 sleep: Callable[[float], None],
                 limits: KiteRateLimits | None = None) -> None:
        self._client, self._clock, self._sleep = client, clock, sleep
        self.limits = limits = limits or KiteRateLimits()
        self._orders = RateWindow("orders", limits.orders_per_s, 1.0)
        self._orders_minute = RateWindow("orders a minute", limits.orders_per_minute, 60.0)
        self._quote = RateWindow("quote", limits.quote_per_s, 1.0)
        self._historical = RateWindow("historical", limits.historical_per_s, 1.0)
        self._other = RateWindow("other endpoints", limits.other_per_s, 1.0)
        self._placed_on: tuple[date, int] | None = None
        self._modifications: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The wrapped client (for what is not an HTTP call, e.g. its ``root``)."""
        return self._client

    @property
    def orders_placed_today(self) -> int:
        """Orders counted toward today's (IST) cap."""
        with self._lock:
            today = _ist_day(self._clock())
            return self._placed_on[1] if self._placed_on and self._placed_on[0] == today else 0

    def count_placed_today(self, placed: int) -> None:
        """Start the daily order cap at ``placed`` (the day's order book at start: a restart
        does not reset Kite's count)."""
        if placed < 0:
            raise KiteRateLimitConfigError(f"orders placed today {placed!r}: must be >= 0")
        with self._lock:
            self._placed_on = (_ist_day(self._clock()), placed)

    def place_order(self, **kwargs: Any) -> Any:
        self.admit("place_order")
        return self._client.place_order(**kwargs)

    def modify_order(self, **kwargs: Any) -> Any:
        self.admit("modify_order", order_id=str(kwargs.get("order_id")))
        return self._client.modify_order(**kwargs)

    def cancel_order(self, **kwargs: Any) -> Any:
        self.admit("cancel_order")
        return self._client.cancel_order(**kwargs)

    def orders(self) -> Any:
        self.admit("orders")
        return self._client.orders()

    def trades(self) -> Any:
        self.admit("trades")
        return self._client.trades()

    def positions(self) -> Any:
        self.admit("positions")
        return self._client.positions()

    def profile(self) -> Any:
        self.admit("profile")
        return self._client.profile()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in LOCAL_CALLS or name.startswith("_"):
            return attribute

        def limited(*args: Any, **kwargs: Any) -> Any:
            self.admit(name)
            return attribute(*args, **kwargs)

        return limited

    def admit(self, call: str, *, order_id: str | None = None) -> None:
        """Wait for ``call``'s turn; a command that would be sent too late (its wait, plus
        any time spent behind another thread's command), or whose daily or per-order cap is
        used up, raises :class:`KiteRateLimitedError` (nothing is sent)."""
        if call in ORDER_CALLS or call.startswith(COMMAND_PREFIXES):
            self._admit_command(call, order_id)
        else:
            self._admit_query(call)

    def _admit_query(self, call: str) -> None:
        """A query sleeps outside the lock, so it never delays another thread's command."""
        windows = self._windows(call)
        while True:
            with self._lock:
                now_s = self._clock().timestamp()
                wait_s = max(w.wait_s(now_s) for w in windows)
                if wait_s <= 0:
                    for window in windows:
                        window.take(now_s)
                    return
            self._sleep(wait_s)

    def _admit_command(self, call: str, order_id: str | None) -> None:
        asked = self._clock()
        with self._lock:
            now = self._clock()
            self._check_caps(call, now, order_id)
            windows = self._windows(call)
            wait_s, blocking = max(((w.wait_s(now.timestamp()), w) for w in windows),
                                   key=lambda pair: pair[0])
            late_s = (now - asked).total_seconds() + wait_s
            if late_s > self.limits.max_command_wait_s:
                raise KiteRateLimitedError(
                    f"rate_limited: {call} would wait {late_s:.3f} s for Kite's "
                    f"{blocking.describe()} limit (at most "
                    f"{self.limits.max_command_wait_s:g} s); not sent")
            if wait_s > 0:
                self._sleep(wait_s)  # short (bounded above): other commands queue behind it
                now = self._clock()
            for window in windows:
                window.take(now.timestamp())
            if call == "place_order":
                day, count = self._placed_on or (_ist_day(now), 0)
                self._placed_on = (day, count + 1)
            if call == "modify_order" and order_id is not None:
                self._modifications[order_id] = self._modifications.get(order_id, 0) + 1

    def _check_caps(self, call: str, now: datetime, order_id: str | None) -> None:
        """The daily order cap and the per-order modification cap."""
        if call == "place_order":
            self._check_daily(now)
        if call == "modify_order" and order_id is not None:
            done = self._modifications.get(order_id, 0)
            if done >= self.limits.modifications_per_order:
                raise KiteRateLimitedError(
                    f"rate_limited: order {order_id} was modified {done} times, Kite's cap "
                    f"is {self.limits.modifications_per_order}; not sent (cancel and place "
                    "a new order)")

    def _windows(self, call: str) -> list[RateWindow]:
        if call == "place_order":
            return [self._orders, self._orders_minute]
        if call in ORDER_CALLS:
            return [self._orders]
        if call in QUOTE_CALLS:
            return [self._quote]
        if call in HISTORICAL_CALLS:
            return [self._historical]
        return [self._other]

    def _check_daily(self, now: datetime) -> None:
        today = _ist_day(now)
        if self._placed_on is None or self._placed_on[0] != today:
            self._placed_on = (today, 0)
        if self._placed_on[1] >= self.limits.orders_per_day:
            raise KiteRateLimitedError(
                f"rate_limited: {self._placed_on[1]} orders placed on {today}, Kite's cap is "
                f"{self.limits.orders_per_day} a day; not sent")


def _ist_day(now: datetime) -> date:
    return now.astimezone(KITE_TZ).date()
