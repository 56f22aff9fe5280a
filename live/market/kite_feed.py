"""The live feed from Kite's WebSocket ticker (full mode): an iterator of runner feed items.

It obeys the feed contract of :mod:`live.runner.feed`: closed 1-minute
:class:`~live.runner.feed.FeedBar` items (built by
:class:`~live.market.aggregator.MinuteBars` by exchange time), an
:class:`~live.runner.feed.Idle` at least every 200 ms, plus what a live feed adds:
:class:`~live.runner.feed.FeedAlert` (a refused, late or missing tick, a disconnect),
:class:`~live.runner.feed.FeedHold` (the stale-feed watch, :mod:`~live.market.staleness`)
and the start-up catch-up as :class:`~live.runner.feed.WarmBar` items.

The live edge is the first whole minute after the ticker first connects: ticks before it
are dropped (never a partial bar), the catch-up (:mod:`~live.market.catchup`, in a worker
thread so the feed keeps yielding ``Idle``) covers the warm-up window up to the minute
before it, and live bars that close while the catch-up is still running wait for it, so
the runner sees warm-up bars, then live bars, with no gap and no overlap. Every tick as it
arrived goes to the recorder (:mod:`~live.market.recorder`) when there is one. The
iterator ends after the session's close (the last bar flushed) and then closes the ticker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from live.events import Severity
from live.market.aggregator import MINUTE, MinuteBars
from live.market.catchup import CatchUpError, HistoricalSource, catch_up
from live.market.clock_offset import DEFAULT_WINDOW, ClockOffsetWatch, NtpProbe
from live.market.kite_ticker import Message, TickerLike, attach
from live.market.recorder import TickRecorder
from live.market.staleness import StaleWatch
from live.market.ticks import TickGate, tick_from_kite
from live.runner.feed import (
    IDLE_SLICE_SECONDS,
    FeedAlert,
    FeedBar,
    FeedHold,
    FeedItem,
    Idle,
    WarmBar,
)
from strategies.venues import Venue, session_schedule


@dataclass(frozen=True, kw_only=True, slots=True)
class KiteFeedConfig:
    """Feed knobs (settings ``live.market.*``)."""

    stale_after_seconds: float = 30.0
    grace_seconds: float = 2.0
    catchup_sessions: int = 5
    catchup_settle_seconds: float = 3.0  # after the edge minute starts, before fetching
    end_at_close: bool = True
    clock_max_offset_ms: float | None = None  # None: no clock-offset check (settings set it)
    clock_window_ticks: int = DEFAULT_WINDOW
    ntp_every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.grace_seconds + self.catchup_settle_seconds < MINUTE:
            raise ValueError(f"grace_seconds {self.grace_seconds} + catchup_settle_seconds "
                             f"{self.catchup_settle_seconds} must stay under a minute")
        if self.catchup_sessions < 1 or self.stale_after_seconds <= 0:
            raise ValueError(f"catchup_sessions={self.catchup_sessions} must be >= 1 and "
                             f"stale_after_seconds={self.stale_after_seconds} > 0")


class KiteFeed:
    """One session's live bars from a ticker (a real ``KiteTicker`` or a test double with
    its callback attributes). ``clock`` is the aware wall clock, ``monotonic`` its
    monotonic twin; ``history`` (``KiteConnect``) enables the catch-up."""

    def __init__(self, ticker: TickerLike, symbols: Mapping[int, str], venue: Venue, *,
                 clock: Callable[[], datetime], monotonic: Callable[[], float],
                 config: KiteFeedConfig | None = None,
                 history: HistoricalSource | None = None,
                 recorder: TickRecorder | None = None,
                 pause: Callable[[float], None] | None = None,
                 ntp_probe: NtpProbe | None = None) -> None:
        self.ticker, self.symbols, self.venue = ticker, dict(symbols), venue
        self.clock, self.monotonic = clock, monotonic
        self.config = config or KiteFeedConfig()
        self.history, self.recorder = history, recorder
        self.pause: Callable[[float], None] = pause or time.sleep
        self.bars = MinuteBars(venue, grace_seconds=self.config.grace_seconds)
        self.gate = TickGate(self.symbols)
        self.stale = StaleWatch(self.symbols.values(), venue,
                                after_seconds=self.config.stale_after_seconds,
                                started=monotonic())
        limit = self.config.clock_max_offset_ms
        self.clock_watch = None if limit is None else ClockOffsetWatch(
            self.symbols.values(), max_offset_ms=limit, ntp_probe=ntp_probe,
            window=self.config.clock_window_ticks,
            ntp_every_seconds=self.config.ntp_every_seconds)
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.edge: datetime | None = None  # the first live minute
        self._order_update: Callable[[Mapping[str, Any]], None] | None = None
        self._catchup = "off" if history is None else "waiting"  # -> running -> done
        self._held_bars: list[FeedItem] = []
        self._down_since: datetime | None = None
        self._started = self._stopped = False

    def on_order_update(self, callback: Callable[[Mapping[str, Any]], None]) -> None:
        """Register the broker side's order-update handler (Kite's postbacks over the
        socket); called on twisted's thread with the update's ``data`` dict. Before start."""
        if self._started:
            raise RuntimeError("register order updates before the feed starts")
        self._order_update = callback

    def start(self) -> None:
        """Wire the callbacks and connect (twisted's thread; once)."""
        if self._started:
            return
        self._started = True
        attach(self.ticker, sorted(self.symbols), self.inbox, self._order_update,
               stamp=lambda: int(self.clock().timestamp() * 1e9))
        self.ticker.connect(threaded=True)

    def stop(self) -> None:
        """Close the socket (no more reconnects) and write the recorder's last part."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            self.ticker.close()
        if self.recorder is not None:
            self.recorder.close()

    def __iter__(self) -> Iterator[FeedItem]:
        self.start()
        try:
            while True:
                deadline = self.monotonic() + IDLE_SLICE_SECONDS
                while (left := deadline - self.monotonic()) > 0:
                    try:
                        message = self.inbox.get(timeout=left)
                    except queue.Empty:
                        break
                    yield from self._release(self._handle(message))
                now = self.clock()
                yield from self._release(self._on_clock(now))
                if self._over(now):
                    self.bars.flush()
                    yield from self._release(self.bars.drain())
                    return
                yield Idle(now)
        finally:
            self.stop()

    # -- messages from the ticker's thread -----------------------------------------------

    def _handle(self, message: Message) -> list[FeedItem]:
        kind, at = message[0], datetime.fromtimestamp(message[1] / 1e9, self.clock().tzinfo)
        if kind == "ticks":
            return self._ticks(at, message[1], message[2])
        if kind == "connect":
            return self._connected(at)
        if kind == "catchup":
            return self._caught_up(at, message[2])
        if kind == "close":
            self._down_since = self._down_since or at
            return [FeedAlert(at, Severity.WARNING, "feed_disconnected",
                              f"Kite ticker closed (code {message[2]}: {message[3]}); "
                              "reconnecting with backoff")]
        if kind == "reconnect":
            return [FeedAlert(at, Severity.WARNING, "feed_reconnecting",
                              f"Kite ticker reconnect attempt {message[2]}")]
        if kind == "noreconnect":
            return self.stale.hold_all(at, self.monotonic(),
                                       "Kite ticker gave up reconnecting: no live data for "
                                       "the rest of this process")
        return [FeedAlert(at, Severity.ERROR, "feed_error",
                          f"Kite ticker error {message[2]}: {message[3]}")]

    def _ticks(self, now: datetime, recv_ns: int, raw_ticks: list[dict[str, Any]]
               ) -> list[FeedItem]:
        mono = self.monotonic()
        gate, bars, stale, recorder = self.gate, self.bars, self.stale, self.recorder
        watch = self.clock_watch
        for raw in raw_ticks:
            tick = tick_from_kite(raw, self.symbols)
            if recorder is not None:
                recorder.add(tick, recv_ns)
            if gate.admit(tick, now):
                stale.saw(tick.symbol, mono)
                bars.add(tick)
                if watch is not None and tick.ts is not None:
                    watch.observe(tick.ts, now)  # exchange time vs our clock at receipt
        out: list[FeedItem] = [*gate.alerts, *bars.drain()]
        gate.alerts.clear()
        return out

    def _connected(self, now: datetime) -> list[FeedItem]:
        if self.edge is None:
            minute = int(now.timestamp() // MINUTE) + 1
            self.edge = datetime.fromtimestamp(minute * MINUTE, now.tzinfo)
            for token, symbol in self.symbols.items():
                self.bars.start_live(token, symbol, minute)
            return [FeedAlert(now, Severity.INFO, "feed_connected",
                              f"Kite ticker connected, full mode, {len(self.symbols)} "
                              f"instrument(s); live bars from {self.edge.isoformat()}")]
        down, self._down_since = self._down_since, None
        since = f" after {(now - down).total_seconds():.1f} s down (bars of " \
                f"{down:%H:%M}-{now:%H:%M} may miss ticks)" if down is not None else ""
        return [FeedAlert(now, Severity.WARNING, "feed_reconnected",
                          f"Kite ticker reconnected and resubscribed{since}")]

    # -- the clock -----------------------------------------------------------------------

    def _on_clock(self, now: datetime) -> list[FeedItem]:
        self.bars.on_clock(now)
        mono = self.monotonic()
        out = [*self.bars.drain(), *self.stale.check(now, mono)]
        if self.clock_watch is not None:  # one hold per symbol whichever watch needs it
            out = self.clock_watch.merge([*out, *self.clock_watch.check(now, mono)],
                                         self.stale.held)
        recorder = self.recorder
        if recorder is not None and recorder.error is not None:
            out.append(FeedAlert(now, Severity.ERROR, "recording_failed", recorder.error))
            recorder.error = None
        if self._catchup == "waiting" and self.edge is not None and now >= self.edge + \
                timedelta(seconds=self.config.catchup_settle_seconds):
            self._catchup = "running"
            threading.Thread(target=self._fetch, args=(self.edge,), daemon=True,
                             name="kite-catchup").start()
        return out

    def _fetch(self, edge: datetime) -> None:
        assert self.history is not None
        try:
            result: Any = catch_up(self.history, self.symbols, venue=self.venue, edge=edge,
                                   sessions=self.config.catchup_sessions, pause=self.pause)
        except CatchUpError as exc:
            result = exc
        except Exception as exc:  # never leave live bars waiting on a thread that died
            result = CatchUpError(f"catch-up crashed: {type(exc).__name__}: {exc}")
        self.inbox.put(("catchup", int(self.clock().timestamp() * 1e9), result))

    def _caught_up(self, now: datetime, result: Any) -> list[FeedItem]:
        self._catchup = "done"
        held, self._held_bars = self._held_bars, []
        if isinstance(result, CatchUpError):  # entries held for good; exits still flow
            return [*self.stale.hold_all(now, self.monotonic(),
                                         f"catch-up failed, indicators are cold: {result}"),
                    *held]
        out: list[FeedItem] = [WarmBar(b) for b in result.bars]
        out += [FeedAlert(now, Severity.ERROR, "bad_candle", p) for p in result.problems]
        out.append(FeedAlert(now, Severity.INFO, "catch_up",
                             f"{len(result.bars)} historical minute bars before "
                             f"{self.edge} warm the history (no orders on them)"))
        return [*out, *held]

    def _release(self, items: list[FeedItem]) -> list[FeedItem]:
        """Live bars wait while the catch-up runs (warm-up bars come first)."""
        if self._catchup in ("off", "done"):
            return items
        out: list[FeedItem] = []
        for item in items:
            if isinstance(item, FeedBar | FeedHold):
                self._held_bars.append(item)
            else:
                out.append(item)
        return out

    def _over(self, now: datetime) -> bool:
        """Past today's last session close plus the grace (``end_at_close``)."""
        if not self.config.end_at_close:
            return False
        day = now.astimezone(self.bars.tz).date()
        closes = session_schedule(self.venue.name, day, day)["close"]
        if not len(closes):
            return self._catchup in ("off", "done")  # no session today: nothing to wait for
        end = closes.iloc[-1].to_pydatetime() + timedelta(seconds=self.config.grace_seconds
                                                          + 1)
        return now >= end and self._catchup in ("off", "done")
