"""Wash trades: our own buy and sell in one symbol, by different strategies of the desk (one
beneficial owner), close in time and price - a trade with ourselves that changes nothing
but the printed volume."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from live.broker import Side
from live.compliance.findings import Finding
from live.compliance.flow import FlowFill, SymbolFlow
from live.compliance.thresholds import WashThresholds
from live.events import Severity

BPS = 10_000.0


def _matches(buy: FlowFill, sell: FlowFill, cfg: WashThresholds) -> bool:
    if buy.strategy == sell.strategy:
        return False  # one strategy's round trip changes its own position: not a wash
    if abs(buy.ts - sell.ts) > timedelta(seconds=cfg.window_s):
        return False
    mid = (buy.price + sell.price) / 2
    return mid > 0 and abs(buy.price - sell.price) / mid * BPS <= cfg.price_tolerance_bps


def detect_wash(day: date, symbol: str, flow: SymbolFlow, cfg: WashThresholds,
                near: datetime | None = None) -> list[Finding]:
    """A finding per matching (buy, sell) pair - every pair is evidence of its own
    (``near``: only the pairs of the fills at that time, i.e. those a new fill makes)."""
    window = timedelta(seconds=cfg.window_s)
    anchors = flow.fills if near is None else flow.fills_between(near, near)
    pairs: dict[tuple[str, str], tuple[FlowFill, FlowFill]] = {}
    for fill in anchors:
        for other in flow.fills_between(fill.ts - window, fill.ts + window):
            if other.side is fill.side:
                continue
            buy, sell = (fill, other) if fill.side is Side.BUY else (other, fill)
            if _matches(buy, sell, cfg) and min(buy.qty, sell.qty) >= cfg.min_qty:
                pairs[(buy.trade_id, sell.trade_id)] = (buy, sell)
    return [_finding(day, symbol, buy, sell, min(buy.qty, sell.qty))
            for buy, sell in pairs.values()]


def _finding(day: date, symbol: str, buy: FlowFill, sell: FlowFill, qty: int) -> Finding:
    same = buy.price == sell.price and buy.qty == sell.qty
    return Finding(
        detector="wash", severity=Severity.CRITICAL if same else Severity.WARNING,
        day=day, ts=max(buy.ts, sell.ts), symbol=symbol,
        summary=(f"{symbol}: {buy.strategy} bought {buy.qty} at {buy.price:g} and "
                 f"{sell.strategy} sold {sell.qty} at {sell.price:g} "
                 f"{abs(buy.ts - sell.ts).total_seconds():g}s apart (matched {qty})"),
        evidence={"matched_qty": qty, "fills": [
            {"trade_id": f.trade_id, "client_key": f.key, "strategy": f.strategy,
             "side": f.side.value, "qty": f.qty, "price": f.price,
             "ts": f.ts.isoformat()} for f in (buy, sell)]},
        keys=(buy.trade_id, sell.trade_id))
