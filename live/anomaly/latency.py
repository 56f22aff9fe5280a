"""Latency spikes on the runner's clock: bar journaled -> first order intended on it
(decision latency) and order intended -> broker confirmation (``OrderSubmitted``
confirmed or ``OrderAcknowledged``: submit -> ack). A sample beyond its budget
(``anomaly.*_budget_ms``), or - once ``anomaly.latency_min_samples`` are known - at or over
``anomaly.latency_floor_ms`` with a robust z-score (median and MAD of the last
``anomaly.latency_window`` samples) above ``anomaly.latency_z_max``, is a spike."""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from live.anomaly.base import (
    LATENCY_BAR_TO_INTENT,
    LATENCY_SUBMIT_TO_ACK,
    AnomalyThresholds,
    Finding,
)
from live.broker import Outcome
from live.events import (
    BarClosed,
    Message,
    OrderAcknowledged,
    OrderCancelled,
    OrderFilled,
    OrderIntended,
    OrderRejected,
    OrderSubmitted,
)

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of a normal sample
MIN_SCALE_MS = 1.0  # a window of identical samples: deviations are measured in ms


class SpikeTest:
    """One latency series: its budget and recent samples."""

    def __init__(self, budget_ms: float, t: AnomalyThresholds) -> None:
        self.budget_ms, self.t = budget_ms, t
        self.samples: deque[float] = deque(maxlen=t.latency_window)

    def why(self, ms: float) -> str | None:
        """Why ``ms`` is a spike (None: it is not); the sample joins the window either way."""
        reason = None
        if ms > self.budget_ms:
            reason = f"over its budget {self.budget_ms:g} ms"
        elif len(self.samples) >= self.t.latency_min_samples and ms >= self.t.latency_floor_ms:
            median = statistics.median(self.samples)
            mad = statistics.median(abs(s - median) for s in self.samples)
            z = (ms - median) / max(MAD_TO_SIGMA * mad, MIN_SCALE_MS)
            if z > self.t.latency_z_max:
                reason = (f"robust z-score {z:.3g} > {self.t.latency_z_max:g} (median "
                          f"{median:.3g} ms, MAD {mad:.3g} ms over {len(self.samples)})")
        self.samples.append(ms)
        return reason


def _ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000.0


class Latency:
    """Bar -> intent and intent -> ack, each against its own :class:`SpikeTest`."""

    def __init__(self, t: AnomalyThresholds) -> None:
        self.decision = SpikeTest(t.bar_to_intent_budget_ms, t)
        self.ack = SpikeTest(t.submit_to_ack_budget_ms, t)
        self.bar_seen: dict[str, tuple[datetime, datetime]] = {}  # symbol -> (bar ts, wall)
        self.sent: dict[str, datetime] = {}  # client key -> wall time intended

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if isinstance(message, BarClosed):
            self.bar_seen[message.symbol] = (message.ts_event, wall)
        elif isinstance(message, OrderIntended):
            self.sent[message.client_key] = wall
            return self._decided(message, wall)
        elif isinstance(message, OrderSubmitted | OrderAcknowledged):
            if isinstance(message, OrderSubmitted) and message.outcome is not Outcome.CONFIRMED:
                if message.outcome is Outcome.REJECTED:
                    self.sent.pop(message.client_key, None)
                return []
            start = self.sent.pop(message.client_key, None)
            if start is not None:
                ms = _ms(start, wall)
                why = self.ack.why(ms)
                if why is not None:
                    return [Finding(message.ts_event, LATENCY_SUBMIT_TO_ACK, (
                        f"order {message.client_key} confirmed {ms:.0f} ms after its intent: "
                        f"{why}"), message.trace_id)]
        elif isinstance(message, OrderCancelled | OrderRejected | OrderFilled):
            self.sent.pop(message.client_key, None)
        return []

    def _decided(self, intent: OrderIntended, wall: datetime) -> list[Finding]:
        seen = self.bar_seen.get(intent.symbol)
        if seen is None or seen[0] != intent.ts_event:
            return []  # not decided on a bar of this process (between bars, a restart)
        del self.bar_seen[intent.symbol]  # the first intent of the bar: the decision
        ms = _ms(seen[1], wall)
        why = self.decision.why(ms)
        if why is None:
            return []
        return [Finding(intent.ts_event, LATENCY_BAR_TO_INTENT, (
            f"{intent.strategy}/{intent.symbol}: order {intent.client_key} intended {ms:.0f} "
            f"ms after its bar was journaled: {why}"), intent.trace_id)]

    def tick(self, ts: datetime) -> list[Finding]:
        return []
