"""The product a version trades with, against the broker's MIS square-off: a MIS (intraday)
position is closed by the broker itself at its square-off time, at market and with a charge,
so a MIS version's own cutoff must come safely before it - our cutoff flattens first."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

MIS = "MIS"


def mis_refusal(*, product: str, cutoff: time | None, square_off: time | None,
                margin_minutes: int, broker: str, exchange: str) -> str | None:
    """Why a version of ``product`` with ``cutoff`` may not trade on ``broker``/``exchange``
    (None: it may). Only MIS is concerned: NRML positions are not squared off."""
    if product != MIS:
        return None
    if square_off is None:
        return (f"product MIS on broker {broker!r} segment {exchange!r}: no MIS square-off "
                "time configured (risk.yaml orders.mis_square_off); refusing rather than "
                "guessing when the broker closes the position")
    if cutoff is None:
        return (f"product MIS without a cutoff: {broker} squares MIS positions off at "
                f"{square_off:%H:%M} ({exchange}); set a cutoff at least {margin_minutes} "
                "min before it or trade NRML")
    latest = (datetime.combine(date(2000, 1, 3), square_off)
              - timedelta(minutes=margin_minutes)).time()
    if cutoff > latest:
        return (f"product MIS with cutoff {cutoff:%H:%M}: {broker} squares MIS positions off "
                f"at {square_off:%H:%M} ({exchange}) and the cutoff must be at or before "
                f"{latest:%H:%M} (orders.mis_cutoff_margin_minutes={margin_minutes}); our "
                "cutoff must flatten first")
    return None
