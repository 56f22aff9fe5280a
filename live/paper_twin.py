"""The paper twin beside live: a paper runner of the same versions, on a thread of its own,
fed each bar of the live feed right after the live runner has handled it.

The live thread only ever appends to an in-memory queue (:meth:`PaperTwin.offer`, never
blocking); the twin's thread opens its runner (its own journal, paper exchange and state:
never live's), recovers it from its journal, catches up on the bars live journaled after
the twin's last one (a restart of the live process, a twin that was behind), then trades
the queued bars as they come. The twin is fail-isolated: anything it raises, a backlog of
more than ``max_lag_bars`` or a finish that takes longer than ``finish_timeout_s`` disables
it for the session; the live thread journals that once as a ``twin_failed`` warning in the
live journal (:func:`beside`) and trades on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from live.db import make_engine
from live.events import BarClosed, Severity
from live.journal import Journal
from live.runner.feed import FeedBar, FeedItem, WarmBar
from live.runner.runner import Runner

TWIN_FAILED = "twin_failed"
_STOP = object()

#: opens the twin's runner (its journal, exchange and state) on the twin's thread
TwinOpener = Callable[[], Runner]
#: opens a reader of the live journal on the twin's thread (its catch-up after a restart)
LiveReader = Callable[[], Journal]
#: the live runner's alert: ``(ts, severity, code, message)``
LiveAlert = Callable[[datetime, Severity, str, str], None]


def reader_of(journal: Journal) -> LiveReader:
    """Opens another reader of ``journal``'s store (a connection of the twin's thread)."""
    url = journal.engine.url.render_as_string(hide_password=False)
    return lambda: Journal(make_engine(url))


def catch_up_bars(live: Journal, twin_last: dict[str, datetime], upto_seq: int
                  ) -> list[FeedBar]:
    """The bars ``live`` journaled up to ``upto_seq`` from each symbol's last twin bar on
    (that one included: a recovered runner re-processes its last bar once); none of a
    symbol the twin has never traded (a fresh twin starts at the feed)."""
    bars = []
    for seq, m in live.read():
        if seq > upto_seq:
            break
        if isinstance(m, BarClosed) and not m.warm and m.symbol in twin_last and \
                m.ts_event >= twin_last[m.symbol]:
            bars.append(FeedBar(m.symbol, m.ts_event, m.open, m.high, m.low, m.close,
                                m.volume))
    return bars


class PaperTwin:
    """A paper runner on its own thread, fed the live feed's bars (:meth:`offer`).

    ``open_runner`` builds the twin's runner on the twin's thread; ``open_live`` (and
    ``live_seq``, the live journal's head when the session starts) give its catch-up."""

    def __init__(self, open_runner: TwinOpener, *, open_live: LiveReader | None = None,
                 live_seq: int = 0, max_lag_bars: int = 10_000,
                 finish_timeout_s: float = 60.0) -> None:
        self.open_runner, self.open_live, self.live_seq = open_runner, open_live, live_seq
        self.max_lag_bars, self.finish_timeout_s = max_lag_bars, finish_timeout_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._offered = 0
        self._done = 0
        self._progress = threading.Condition()
        self._failure: str | None = None
        self._reported = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="paper-twin", daemon=True)
        self.caught_up = 0  # bars from the live journal before the feed's (a restart)

    # --- the live thread -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def offer(self, item: FeedItem) -> None:
        """Hand the twin a bar live has handled (other feed items are live's alone); never
        blocks. Dropped once the twin is disabled; a backlog over ``max_lag_bars``
        disables it."""
        if not isinstance(item, FeedBar | WarmBar) or self.failure is not None:
            return
        lag = self._offered - self._done
        if lag >= self.max_lag_bars:
            self._fail(f"it fell {lag:,} bars behind live (live.paper_twin_max_lag_bars "
                       f"{self.max_lag_bars:,})")
            return
        self._offered += 1
        self._queue.put(item)

    def wait_current(self, timeout_s: float) -> bool:
        """Wait until the twin has handled every bar offered (or failed); True when current."""
        with self._progress:
            return self._progress.wait_for(
                lambda: self._done >= self._offered or self._failure is not None,
                timeout=timeout_s) and self._failure is None

    def finish(self) -> None:
        """End the twin's session: it trades what is queued, seals its journal and stops;
        one that takes longer than ``finish_timeout_s`` is abandoned (disabled)."""
        if not self._thread.is_alive():
            return
        deadline = time.monotonic() + self.finish_timeout_s
        self.wait_current(self.finish_timeout_s)  # its backlog traded (or it failed)
        self._queue.put(_STOP)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():  # it stops after the bar in hand
            self._fail(f"it did not finish its session within {self.finish_timeout_s:g} s")

    def abandon(self) -> None:
        """Stop the twin without waiting (live ended abnormally)."""
        self._stop.set()
        self._queue.put(_STOP)

    @property
    def failure(self) -> str | None:
        return self._failure

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def bars_done(self) -> int:
        return self._done

    def report_failure(self, alert: LiveAlert, ts: datetime) -> None:
        """Journal (once, through the live runner) why the twin was disabled."""
        if self._failure is None or self._reported:
            return
        self._reported = True
        alert(ts, Severity.WARNING, TWIN_FAILED,
              f"the paper twin is disabled for this session: {self._failure}; live trades "
              "on (the day's twin reconciliation is rebuilt from the live journal at the "
              "close)")

    # --- the twin's thread -----------------------------------------------------------
    def _fail(self, why: str) -> None:
        with self._progress:
            if self._failure is None:
                self._failure = why
            self._progress.notify_all()
        self._stop.set()  # the twin's thread ends after the bar in hand (its journal sealed)
        self._queue.put(_STOP)

    def _work(self) -> None:
        runner: Runner | None = None
        try:
            runner = self.open_runner()
            runner.recover()
            backlog = self._catch_up(runner)
            runner.run(self._items(backlog))
        except BaseException as exc:  # anything: the twin is disabled, live never sees it
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            if runner is not None:
                runner.journal.engine.dispose()

    def _catch_up(self, runner: Runner) -> list[FeedBar]:
        if self.open_live is None or not runner.recovered_last:
            return []
        live = self.open_live()
        try:
            bars = catch_up_bars(live, dict(runner.recovered_last), self.live_seq)
        finally:
            live.engine.dispose()
        self.caught_up = len(bars)
        return bars

    def _items(self, backlog: list[FeedBar]) -> Iterator[FeedItem]:
        """The catch-up bars, then the queue's; a feed bar at or before the last one the
        twin was given for its symbol is skipped (the catch-up already carried it)."""
        given: dict[str, datetime] = {}
        for bar in backlog:
            given[bar.symbol] = bar.ts
            yield bar
        while not self._stop.is_set():
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, FeedBar | WarmBar)
            bar = item.bar if isinstance(item, WarmBar) else item
            last = given.get(bar.symbol)
            if last is None or bar.ts > last:
                given.pop(bar.symbol, None)  # past the catch-up: the runner's own checks
                yield item
            with self._progress:
                self._done += 1
                self._progress.notify_all()


def beside(items: Iterable[FeedItem], twin: PaperTwin, live: Runner) -> Iterator[FeedItem]:
    """``items`` for the live runner; each one, once live has handled it (the runner asks
    for the next), is offered to ``twin``. A twin's failure is journaled in the live
    journal (``twin_failed``) between bars; at the feed's end the twin finishes its
    session."""
    twin.start()
    last_ts: datetime | None = None
    finished = False
    try:
        for item in items:
            yield item
            twin.offer(item)
            if isinstance(item, FeedBar | WarmBar):
                last_ts = item.bar.ts if isinstance(item, WarmBar) else item.ts
            if last_ts is not None:
                twin.report_failure(live.alert, last_ts)
        twin.finish()
        finished = True
        twin.report_failure(live.alert, last_ts or live.clock())
    finally:
        if not finished:  # live raised (or dropped its feed): the twin stops, unwaited
            twin.abandon()
