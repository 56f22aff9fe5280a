"""Layering and spoofing: orders on the far side of one of our own fills, resting away from
the touch, placed and cancelled unfilled around it - the pattern of orders meant to move
the price for a fill on the other side, not to trade."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from live.compliance.findings import Finding
from live.compliance.flow import FlowFill, FlowOrder, SymbolFlow
from live.compliance.thresholds import LayeringThresholds
from live.events import Severity

BPS = 10_000.0


def away_bps(order: FlowOrder) -> float | None:
    """How far a limit order rested from the touch, in bps (None: no limit or no touch)."""
    if order.limit_price is None or order.touch is None or order.touch <= 0:
        return None
    return abs(order.limit_price - order.touch) / order.touch * BPS


def _far(orders: Iterable[FlowOrder], cfg: LayeringThresholds) -> list[FlowOrder]:
    """The cancelled, unfilled orders that rested at least ``min_away_bps`` away (never a
    protective stop or target: resting away and cancelled by its OCO twin is its job)."""
    return [o for o in orders if o.cancelled is not None and not o.filled_qty
            and not o.protective
            and (away_bps(o) or 0.0) >= cfg.min_away_bps]


def _suspect(order: FlowOrder, fill: FlowFill, cfg: LayeringThresholds) -> bool:
    """A far order (:func:`_far`) on the other side, placed and cancelled around it."""
    window = timedelta(seconds=cfg.window_s)
    if order.side is fill.side or order.cancelled is None:
        return False
    return fill.ts - window <= order.placed <= fill.ts + window and \
        order.cancelled <= fill.ts + window


def detect_layering(day: date, symbol: str, flow: SymbolFlow, cfg: LayeringThresholds,
                    near: datetime | None = None) -> list[Finding]:
    """One finding per fill with enough cancelled far-side orders around it (``near``:
    only the fills an event at that time can change - within the window of it)."""
    window = timedelta(seconds=cfg.window_s)
    found = []
    if near is None:
        fills, far = flow.fills, _far(flow.orders.values(), cfg)
    else:  # usually no far, cancelled order at all near an event: nothing to look at
        far = _far(flow.orders_placed_between(near - 2 * window, near + 2 * window), cfg)
        fills = flow.fills_between(near - window, near + window) \
            if len(far) >= cfg.min_orders else []
    for fill in fills:
        suspects = sorted((o for o in far if _suspect(o, fill, cfg)),
                          key=lambda o: (o.placed, o.key))
        qty = sum(o.qty for o in suspects)
        if len(suspects) < cfg.min_orders or qty < cfg.min_qty_ratio * fill.qty:
            continue
        severity = Severity.CRITICAL if len(suspects) >= cfg.critical_orders \
            else Severity.WARNING
        last = max(o.cancelled for o in suspects if o.cancelled is not None)
        evidence = {
            "fill": {"trade_id": fill.trade_id, "client_key": fill.key,
                     "strategy": fill.strategy, "side": fill.side.value, "qty": fill.qty,
                     "price": fill.price, "ts": fill.ts.isoformat()},
            "cancelled_orders": [
                {"client_key": o.key, "strategy": o.strategy, "side": o.side.value,
                 "qty": o.qty, "limit_price": o.limit_price, "touch": o.touch,
                 "away_bps": round(away_bps(o) or 0.0, 3), "placed": o.placed.isoformat(),
                 "cancelled": o.cancelled.isoformat() if o.cancelled else None}
                for o in suspects],
            "cancelled_qty": qty, "qty_ratio": round(qty / fill.qty, 3)}
        found.append(Finding(
            detector="layering", severity=severity, day=day, ts=max(last, fill.ts),
            symbol=symbol,
            summary=(f"{symbol}: {len(suspects)} {suspects[0].side.value} orders ({qty} "
                     f"units) placed away from the touch and cancelled unfilled around our "
                     f"{fill.side.value} fill {fill.trade_id} of {fill.qty} at {fill.price:g}"),
            # one finding per fill and severity: the cancels arriving after it add evidence,
            # an escalation to critical is a new finding
            evidence=evidence, keys=(fill.trade_id, severity.value)))
    return found
