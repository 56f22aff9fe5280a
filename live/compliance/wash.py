"""Wash trades: our own buy and sell in one symbol, by different strategies of the desk (one
beneficial owner), close in time and price - a trade with ourselves that changes nothing
but the printed volume."""

from __future__ import annotations

import bisect
from datetime import date, timedelta

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


def detect_wash(day: date, symbol: str, flow: SymbolFlow,
                cfg: WashThresholds) -> list[Finding]:
    """Pairs of opposite fills matched greedily in time order (each fill used once)."""
    buys = [f for f in flow.fills if f.side is Side.BUY]  # the flow keeps fills in time order
    sells = [f for f in flow.fills if f.side is Side.SELL]
    sell_times = [s.ts for s in sells]
    window = timedelta(seconds=cfg.window_s)
    used: set[str] = set()
    found = []
    for buy in buys:
        lo = bisect.bisect_left(sell_times, buy.ts - window)
        hi = bisect.bisect_right(sell_times, buy.ts + window)
        sell = next((s for s in sells[lo:hi]
                     if s.trade_id not in used and _matches(buy, s, cfg)), None)
        if sell is None:
            continue
        qty = min(buy.qty, sell.qty)
        if qty < cfg.min_qty:
            continue
        used.add(sell.trade_id)
        same = buy.price == sell.price and buy.qty == sell.qty
        found.append(Finding(
            detector="wash", severity=Severity.CRITICAL if same else Severity.WARNING,
            day=day, ts=max(buy.ts, sell.ts), symbol=symbol,
            summary=(f"{symbol}: {buy.strategy} bought {buy.qty} at {buy.price:g} and "
                     f"{sell.strategy} sold {sell.qty} at {sell.price:g} "
                     f"{abs(buy.ts - sell.ts).total_seconds():g}s apart (matched {qty})"),
            evidence={"matched_qty": qty, "fills": [
                {"trade_id": f.trade_id, "client_key": f.key, "strategy": f.strategy,
                 "side": f.side.value, "qty": f.qty, "price": f.price,
                 "ts": f.ts.isoformat()} for f in (buy, sell)]},
            keys=(buy.trade_id, sell.trade_id)))
    return found
