"""P&L that prices do not explain: at each bar of a symbol, the change of every position's
marked P&L in the live state (realised + net x (close - average price)) since the symbol's
previous bar must equal what the market explains - the previous net quantity x the close's
change, plus each fill since marked from its price to this close - within
``anomaly.pnl_tolerance_inr`` + ``anomaly.pnl_tolerance_bps`` of the notional involved.
A gap means the state's accounting and the fills disagree (a fold or snapshot fault, a fill
folded into the wrong position, a price or quantity corrupted)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from live.anomaly.base import PNL_UNEXPLAINED, Finding
from live.broker import Side
from live.events import BarClosed, Message, OrderFilled
from live.state import UNATTRIBUTED, LiveState

BPS = 1e4


@dataclass(frozen=True, slots=True)
class _Mark:
    pnl_inr: float
    net_qty: int
    close: float


class PnlExplained:
    """The last mark of each (strategy, symbol) and the fills since."""

    def __init__(self, state: LiveState, tolerance_inr: float, tolerance_bps: float) -> None:
        self.state = state
        self.tolerance_inr, self.tolerance_bps = tolerance_inr, tolerance_bps
        self.marks: dict[tuple[str, str], _Mark] = {}
        self.fills: dict[tuple[str, str], list[tuple[int, float, str]]] = defaultdict(list)
        self.symbols_seen: set[str] = set()

    def observe(self, message: Message, wall: datetime) -> list[Finding]:
        if isinstance(message, OrderFilled):
            order = self.state.orders.get(message.client_key)
            strategy = UNATTRIBUTED if order is None else order.strategy
            signed = message.qty if message.side is Side.BUY else -message.qty
            self.fills[(strategy, message.symbol)].append((signed, message.price,
                                                           message.trace_id))
        elif isinstance(message, BarClosed):
            return self._mark(message)
        return []

    def _mark(self, bar: BarClosed) -> list[Finding]:
        first = bar.symbol not in self.symbols_seen  # nothing to compare with yet
        self.symbols_seen.add(bar.symbol)
        out = []
        for (strategy, symbol), pos in self.state.positions.items():
            if symbol != bar.symbol:
                continue
            key = (strategy, symbol)
            pnl = pos.realised_pnl_inr + pos.net_qty * (bar.close - pos.avg_price)
            before = self.marks.get(key, _Mark(0.0, 0, bar.close))
            fills = self.fills.pop(key, [])
            self.marks[key] = _Mark(pnl, pos.net_qty, bar.close)
            if first:
                continue
            explained = before.net_qty * (bar.close - before.close) + sum(
                q * (bar.close - p) for q, p, _ in fills)
            notional = abs(before.net_qty) * bar.close + sum(abs(q) * p for q, p, _ in fills)
            gap = (pnl - before.pnl_inr) - explained
            allowed = self.tolerance_inr + self.tolerance_bps / BPS * notional
            if abs(gap) > allowed:
                trace = fills[-1][2] if fills else ""
                out.append(Finding(bar.ts_event, PNL_UNEXPLAINED, (
                    f"{strategy}/{symbol}: marked P&L moved {pnl - before.pnl_inr:+.2f} INR "
                    f"since the bar at {before.close:g} but net {before.net_qty:+d} and "
                    f"{len(fills)} fills explain {explained:+.2f}: {gap:+.2f} unexplained "
                    f"(tolerance {allowed:.2f})"), trace))
        return out

    def tick(self, ts: datetime) -> list[Finding]:
        return []
