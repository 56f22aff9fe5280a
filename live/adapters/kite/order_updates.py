"""Kite's order updates ("postbacks over the WebSocket"): parsed and queued for the runner.

``KiteTicker`` hands each order update to ``on_order_update(ws, data)`` on its own thread;
``data`` is an order as in the order book (``order_id``, ``status``, ``tag`` - our client
key -, ``filled_quantity``, ``average_price``, timestamps as strings, plus ``checksum``,
``app_id``, ``user_id``, ``unfilled_quantity``). :class:`OrderUpdateQueue` parses it there
(never raising into the ticker's thread) and keeps it until the runner drains the queue on
its own thread (at each bar and each ``Idle``). An update is a hint, never the record: the
runner reacts by reading the trade book and the order book, whose fills are deduplicated by
trade id, so a postback and a poll never count a fill twice. When a postback carries a
checksum and the api secret is known, the checksum (SHA-256 of order id, order timestamp
and api secret) must match, or the update is refused as a problem.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from live.adapters.kite.parsing import KITE_TS_FORMAT, KiteParseError, parse_order
from live.broker import OrderReport, PushedOrderUpdates

MAX_QUEUED = 10_000  # updates kept between two drains; beyond, the oldest are dropped


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: SHA-256 hex of order id + order timestamp + api secret."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


def parse_order_update(payload: Mapping[str, Any], *,
                       api_secret: str | None = None) -> OrderReport:
    """One order update as an :class:`OrderReport`; :class:`KiteParseError` names what is
    wrong (a missing field, an unknown value, a checksum that does not match)."""
    if not isinstance(payload, Mapping):
        raise KiteParseError(f"Kite order update: not an object: {payload!r:.200}")
    report = parse_order(payload)
    checksum = payload.get("checksum")
    if checksum and api_secret:
        stamp = payload.get("order_timestamp")
        text = stamp.strftime(KITE_TS_FORMAT) if isinstance(stamp, datetime) else str(stamp)
        expected = postback_checksum(report.broker_order_id, text, api_secret)
        if not isinstance(checksum, str) or not hmac.compare_digest(
                checksum.encode(), expected.encode()):
            raise KiteParseError(f"Kite order update of order {report.broker_order_id!r}: "
                                 "checksum does not match (not from Kite for this app?)")
    return report


class OrderUpdateQueue:
    """Thread-safe: :meth:`put` from the ticker's thread, :meth:`drain` from the runner's."""

    def __init__(self, *, api_secret: str | None = None) -> None:
        self._api_secret = api_secret
        self._lock = threading.Lock()
        self._reports: list[OrderReport] = []
        self._problems: list[str] = []
        self._dropped = 0

    def put(self, payload: Mapping[str, Any]) -> None:
        """Parse and keep one update; a bad one is kept as a problem (never raised)."""
        try:
            report = parse_order_update(payload, api_secret=self._api_secret)
        except KiteParseError as exc:
            with self._lock:
                self._problems.append(str(exc))
            return
        with self._lock:
            self._reports.append(report)
            if len(self._reports) > MAX_QUEUED:
                del self._reports[0]
                self._dropped += 1

    def drain(self) -> PushedOrderUpdates:
        """Everything queued since the last drain, oldest first."""
        with self._lock:
            reports, problems, dropped = self._reports, self._problems, self._dropped
            self._reports, self._problems, self._dropped = [], [], 0
        if dropped:
            problems.append(f"{dropped} Kite order updates dropped (more than {MAX_QUEUED} "
                            "between two drains); the books are read in full")
        return PushedOrderUpdates(orders=tuple(reports), problems=tuple(problems))
