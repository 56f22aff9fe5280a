"""The registry that runs every detector on the runtime path: the runner's bus hands it each
journaled envelope (after the journal and the state's fold, :meth:`AnomalyRegistry.sink`),
the runner drains its findings at safe points (after each bar, between bars) and journals
each as an ``AlertRaised`` under the trace it is about. On restart the journal is folded
into it with :meth:`warm` (what it already found is not found again)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from live.anomaly.base import AnomalyThresholds, Detector, Finding
from live.anomaly.duplicate_signals import DuplicateSignals
from live.anomaly.fill_match import FillMatch
from live.anomaly.flip_flop import FlipFlop
from live.anomaly.latency import Latency
from live.anomaly.order_rate import OrderRate
from live.anomaly.pnl_explained import PnlExplained
from live.anomaly.stuck_orders import StuckOrders
from live.bus import Envelope, SeenIds
from live.events import AlertRaised, Event, Message
from live.state import LiveState

_NO_WALL = datetime(1970, 1, 1, tzinfo=UTC)  # warm-up: no detector but latency reads it


def detectors(t: AnomalyThresholds, state: LiveState) -> list[Detector]:
    """One detector per condition (stale data has its own: the feed's ``stale_feed``,
    ``entries_held`` and ``no_tick_minutes`` alerts - README, Anomaly detectors)."""
    return [StuckOrders(t.stuck_order_seconds), DuplicateSignals(),
            OrderRate(t.order_rate_window_seconds, t.max_orders_per_window),
            FlipFlop(t.flip_window_seconds, t.max_direction_changes), Latency(t),
            PnlExplained(state, t.pnl_tolerance_inr, t.pnl_tolerance_bps),
            FillMatch(t.fill_limit_tolerance_points)]


class AnomalyRegistry:
    """Feeds messages to the detectors and keeps their findings until drained."""

    def __init__(self, thresholds: AnomalyThresholds, state: LiveState,
                 wall_clock: Callable[[], datetime]) -> None:
        self.thresholds = thresholds
        self.detectors = detectors(thresholds, state)
        self.wall_clock = wall_clock
        self.pending: list[Finding] = []
        self._seen = SeenIds()

    def sink(self, envelope: Envelope) -> None:
        """The bus sink: every event of a journaled envelope, in order; a redelivered or
        duplicated envelope is skipped by message id (as the journal and the state do)."""
        if isinstance(envelope.messages[0], Event) and \
                self._seen.first_time(envelope.message_id):
            for message in envelope.messages:
                self.observe(message)

    def observe(self, message: Message) -> None:
        """One journaled message through every detector (an alert is no input)."""
        if isinstance(message, AlertRaised):
            return
        wall = self.wall_clock()
        for detector in self.detectors:
            self.pending += detector.observe(message, wall)

    def warm(self, message: Message) -> None:
        """A message folded back from the journal at a restart: learnt, nothing raised
        (latency is not: the replay's own clock says nothing about the run's)."""
        if isinstance(message, AlertRaised):
            return
        for detector in self.detectors:
            if not isinstance(detector, Latency):
                detector.observe(message, _NO_WALL)

    def tick(self, ts: datetime) -> None:
        """Market time ``ts`` between bars: the time-based conditions."""
        for detector in self.detectors:
            self.pending += detector.tick(ts)

    def drain(self) -> list[Finding]:
        """The findings since the last drain, in the order found."""
        found, self.pending = self.pending, []
        return found
