"""The signal service (``stratops svc signal``): each deployed strategy's signal kernel and
regime classifier in a process of its own.

It reads the market-data stream (a consumer created afresh at each start: the whole stream
is read again, so a restarted service rebuilds its symbol histories - the same
:class:`~live.runner.history.SymbolHistory` the runner keeps, with the runner's bar
admission: an unsound, out-of-order or second bar never enters it) and, for every bar and
every deployed strategy trading its symbol, publishes a
:class:`~live.events.BarSignals` on the signals stream (``<prefix>.sig.BarSignals``): the
bar's raw signals (``le``, ``lx``, ``se``, ``sx``; ``warming`` while the kernel cannot read
the history yet) from the very ``spec.signals`` the embedded runner calls, and the
version's regime reading at that bar (the classifier the runner's
:class:`~live.runner.signal_room.SignalRoom` reads).

The message id ``BarSignals:<strategy>:<symbol>:<bar time>`` is deterministic: a bar read
again after a restart publishes the same id, which JetStream stores once (its
de-duplication window), and the execution service uses a bar's signals once whatever comes
again. Nothing position-dependent happens here (entry counts, protection, parent orders,
the kill switch, risk): the execution service decides on these signals
(:mod:`live.svc.remote_signals`) and stays the one journal writer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence

from live.bus import Envelope
from live.events import BarClosed, BarSignals, new_trace_id, prepare_codecs
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar, bar_problem
from live.runner.history import OutOfOrderBarError, SymbolHistory
from live.runner.pipeline import LEG_ENTER
from live.runner.preload import warm_deployed
from live.svc.market_data import feed_bar
from live.svc.serving import serve_polls
from live.transport.jetstream import JetStreamTransport, Received
from live.transport.subjects import SIGNALS
from strategies.bars import BarsInputError
from strategies.regime_features import regime_features_digest
from strategies.venues import get_venue

log = logging.getLogger(__name__)


def signal_id(strategy: str, symbol: str, bar: FeedBar) -> str:
    """The message id of ``strategy``'s signals on ``symbol`` at ``bar`` (de-duplication)."""
    return f"{BarSignals.KIND}:{strategy}:{symbol}:{bar.ts.isoformat()}"


def read_signals(d: Deployed, bar: FeedBar, history: SymbolHistory) -> BarSignals:
    """``d``'s signals at ``bar`` (the last bar of ``history``) and its regime reading."""
    bars = history.bars()
    regime, probability, classifier, features = None, None, None, None
    values: tuple[float | None, ...] = ()
    if d.governance is not None:
        reading = d.governance.model.read_last(bars.open, bars.high, bars.low, bars.close,
                                               bars.session)
        regime = reading.regime
        probability = reading.probability if math.isfinite(reading.probability) else None
        classifier, features = d.governance.digest, regime_features_digest()
        values = tuple(v if math.isfinite(v) else None for v in reading.features)
    try:
        le, lx, se, sx = (bool(a[-1]) for a in d.spec.signals(bars, d.params).arrays())
        warming = False
    except BarsInputError:
        le = lx = se = sx = False
        warming = True  # the runner decides nothing on such a bar
    return BarSignals(trace_id=new_trace_id(d.strategy, bar.symbol, bar.ts, LEG_ENTER),
                      ts_event=bar.ts, strategy=d.strategy,
                      version=str(d.version),
                      symbol=bar.symbol, le=le, lx=lx, se=se, sx=sx, warming=warming,
                      regime=regime, regime_probability=probability,
                      classifier_digest=classifier, features_digest=features,
                      feature_values=values)


class SignalService:
    """Histories of the bars read from ``bars`` (a from-start market-data consumer) and the
    signals of ``deployed`` at each, published on ``bars``' transport (the signals stream)."""

    def __init__(self, deployed: Sequence[Deployed], bars: JetStreamTransport, *,
                 max_sessions: int = 5) -> None:
        self.deployed, self.bars, self.max_sessions = list(deployed), bars, max_sessions
        self.history: dict[str, SymbolHistory] = {}
        self.published = 0  # BarSignals published (a restart's re-reads included)
        self.refused = 0  # bars not admitted (unsound, out of order, a second one)
        self.failed = 0  # (strategy, bar)s whose signals could not be read: none published

    def _history(self, symbol: str) -> SymbolHistory:
        found = self.history.get(symbol)
        if found is None:
            venue = next((d.venue for d in self.deployed if symbol in d.symbols), "NSE")
            found = self.history[symbol] = SymbolHistory(symbol, get_venue(venue),
                                                         self.max_sessions)
        return found

    def warm(self, bars: Iterable[FeedBar]) -> int:
        """Admit stored bars from before the live edge into the histories, publishing
        nothing (the replay's warm-up the execution service prepends to its feed:
        :meth:`~stratops.live_ops.LiveRun.warm`); returns how many were admitted."""
        return sum(self._admit(bar) for bar in bars)

    def _admit(self, bar: FeedBar) -> bool:
        history = self._history(bar.symbol)
        last = history.last_ts
        if bar_problem(bar, history.venue) is not None or (last is not None and
                                                           bar.ts <= last):
            self.refused += 1
            return False
        try:
            history.append(bar)
        except OutOfOrderBarError:
            self.refused += 1
            return False
        return True

    def on_bar(self, bar: FeedBar) -> int:
        """Admit ``bar`` as the runner does and publish each strategy's signals at it;
        returns how many were published (0: refused, or no strategy trades its symbol)."""
        if not self._admit(bar):
            return 0
        history = self.history[bar.symbol]
        sent = 0
        for d in self.deployed:
            if bar.symbol not in d.symbols:
                continue
            try:
                message = read_signals(d, bar, history)
            except Exception:  # fail closed: none published, execution enters nothing on it
                self.failed += 1
                log.exception("%s/%s at %s: signals not read", d.strategy, bar.symbol, bar.ts)
                continue
            self.bars.publish(Envelope(BarSignals.KIND, signal_id(d.strategy, bar.symbol, bar),
                                       (message,)), kind=SIGNALS, wait=False)
            sent += 1
        self.published += sent
        return sent

    def poll(self, timeout_seconds: float = 0.2) -> int:
        """Read the bars that came within ``timeout_seconds``; returns how many bars."""
        got = self.bars.fetch(64, timeout_seconds)
        for item in got:
            self._take(item)
        if got:
            self.bars.flush()  # the signals stored before their bars are acked
            for item in got:
                self.bars.ack(item)
        return len(got)

    def catch_up(self, idle_seconds: float = 0.3) -> int:
        """Read every bar already on the stream (a start: the histories rebuilt, their
        signals published again - stored once); returns how many bars."""
        read = 0
        while got := self.poll(idle_seconds):
            read += got
        return read

    def _take(self, item: Received) -> None:
        for message in item.envelope.messages:
            if isinstance(message, BarClosed):
                self.on_bar(feed_bar(message))


def serve_signal(service: SignalService, *, idle_exit_seconds: float | None = None,
                 idle_slice_seconds: float = 0.2,
                 beat: Callable[[], None] | None = None) -> SignalService:
    """Load the strategies' kernels and the message codecs, read the bars already on the stream
    (:meth:`SignalService.catch_up`), then publish signals for every bar until
    ``idle_exit_seconds`` pass without one after the first (``None``: forever); ``beat`` is
    called at each poll (heartbeat)."""
    warm_deployed(service.deployed)
    prepare_codecs()
    service.catch_up()
    serve_polls(service.poll, idle_exit_seconds=idle_exit_seconds,
                idle_slice_seconds=idle_slice_seconds, beat=beat)
    return service
