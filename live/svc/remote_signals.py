"""The execution service's signals when they come from the signal service
(``stratops svc execution --signals remote``; :mod:`live.svc.signal`).

The runner asks :meth:`RemoteSignals.signals` for a strategy's signals at the bar it is
deciding instead of running the kernel itself; everything position-dependent (``decide()``,
the session's entry count, carried exits, stop-outs, protection, parent orders, the kill
switch, governance holds, risk) stays in the runner, which journals as ever.

The answer is awaited on the signals stream (a durable consumer) until
``deadline_seconds`` from the first ask at that bar. Signals that come for a later bar are
kept for it; for an earlier bar (a restarted signal service reading the stream again) they
are acked and dropped; a bar's signals are used once, so a redelivered or republished one
changes nothing. No signals in time: :data:`MISSING`. The runner cross-checks the signals it
gets (version, classifier and regime reading against its own) and, when they are missing or
disagree, decides the bar on its own kernel and history with every new entry held - exits
never wait - journaling a critical alert (:mod:`live.runner.remote_signal_room`).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from live.events import BarSignals
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.remote_signal_room import SIGNALS_MISSING as MISSING
from live.runner.remote_signal_room import SIGNALS_WARMING as WARMING
from live.transport.jetstream import BusUnavailableError, JetStreamTransport
from live.transport.subjects import ACK_WAIT_SECONDS

log = logging.getLogger(__name__)
DEFAULT_DEADLINE_SECONDS = 0.25
FETCH_BARS = 16  # the market-data feed's batch (live.svc.bar_feed.FETCH_BATCH)
MAX_DEADLINE_SECONDS = ACK_WAIT_SECONDS / FETCH_BARS  # a batch of silent bars stays unacked
KEPT = 4096  # signals held for bars not decided yet


__all__ = ["MISSING", "WARMING", "RemoteSignals"]


class RemoteSignals:
    """The client (see the module) over ``bus`` (a consumer of the signals stream)."""

    def __init__(self, bus: JetStreamTransport, *,
                 deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> None:
        if not 0 < deadline_seconds <= MAX_DEADLINE_SECONDS:
            raise ValueError(f"signal deadline {deadline_seconds!r} s: must be > 0 and at most "
                             f"{MAX_DEADLINE_SECONDS:g} s (the bus's ack wait over a batch of "
                             f"{FETCH_BARS} bars)")
        self.bus, self.deadline_seconds = bus, deadline_seconds
        self.missing = 0  # (strategy, bar)s decided without signals
        self.stale = 0  # signals dropped: for a bar decided, or a second copy
        self._held: dict[tuple[str, str, datetime], BarSignals] = {}
        self._decided: dict[str, datetime] = {}  # symbol -> the last bar asked about
        self._used: dict[tuple[str, str], datetime] = {}  # (strategy, symbol) -> bar used
        self._deadline: tuple[tuple[str, datetime], float] | None = None

    def signals(self, d: Deployed, bar: FeedBar) -> BarSignals | str:
        """``d``'s ``BarSignals`` at ``bar`` (the runner cross-checks it) or
        :data:`MISSING`."""
        key = (d.strategy, bar.symbol, bar.ts)
        self._decided[bar.symbol] = bar.ts
        if self._deadline is None or self._deadline[0] != (bar.symbol, bar.ts):
            self._deadline = ((bar.symbol, bar.ts), time.monotonic() + self.deadline_seconds)
            for old in [k for k in self._held if k[1] == bar.symbol and k[2] < bar.ts]:
                del self._held[old]  # a bar decided without asking (a stop-out, a hold)
        deadline = self._deadline[1]
        while key not in self._held:
            left = deadline - time.monotonic()
            if left <= 0:
                self.missing += 1
                return MISSING
            self._receive(min(left, 0.05))
        got = self._held.pop(key)
        self._used[(d.strategy, bar.symbol)] = bar.ts
        return got

    def _receive(self, timeout_seconds: float) -> None:
        try:
            batch = self.bus.fetch(64, max(0.001, timeout_seconds))
        except BusUnavailableError as exc:
            log.error("signals not received: %s", exc)
            time.sleep(max(0.0, timeout_seconds))
            return
        for item in batch:
            message = item.envelope.messages[0]
            if not isinstance(message, BarSignals):
                self.bus.park(item.raw, f"not a BarSignals: {item.envelope.topic}")
                continue
            self.bus.ack(item)
            decided = self._decided.get(message.symbol)
            used = self._used.get((message.strategy, message.symbol))
            if (decided is not None and message.ts_event < decided) or \
                    (used is not None and message.ts_event <= used):
                self.stale += 1  # a bar already decided, or these signals already used:
                continue  # a restarted signal service re-read it, or a redelivery
            key = (message.strategy, message.symbol, message.ts_event)
            if key in self._held:
                self.stale += 1  # a second copy of signals not used yet: the first kept
                continue
            if len(self._held) >= KEPT:
                self._held.pop(next(iter(self._held)))
            self._held[key] = message
