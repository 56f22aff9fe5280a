"""The broker's book decides an internal cross (``compliance.yaml`` ``self_trade: net``).

A cross withdraws part (a quantity modification to a lower total) or all (a cancel) of our
resting limit order at the broker, then books to both strategies only what was really
withdrawn: the resting order's total when the cross started, less what the broker's book
still holds of it - its total while it is open or filled (a quantity modification only
removes unfilled units: a fill that raced it came out of what stays), its filled quantity
once it is cancelled (a fill that raced the cancel is the broker's, never crossed again).
The same rule finishes a cross a crash interrupted: nothing is booked twice, nothing sent
twice, and the booked quantity never exceeds what the broker no longer has.
"""

from __future__ import annotations

from live.broker import OrderReport, OrderState
from live.events import InternalCrossStarted


def withdrawn_qty(started: InternalCrossStarted, report: OrderReport) -> int:
    """Units of the resting order no longer at the broker since ``started`` (>= 0)."""
    still = report.filled_qty if report.state in (OrderState.CANCELLED, OrderState.REJECTED) \
        else report.qty
    return max(0, started.resting_qty - still)


def crossed_qty(started: InternalCrossStarted, report: OrderReport) -> int:
    """What the cross books: what was withdrawn, at most the quantity it set out to cross."""
    return min(withdrawn_qty(started, report), started.qty)
