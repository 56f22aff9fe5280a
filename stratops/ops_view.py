"""What the operator page shows, folded from the journal as it grows.

:class:`JournalView` follows a journal the way a hot standby does (``read_checked`` from the
last checked row: the hash chain is verified row by row, and a broken row stops the view -
the page then says so instead of showing numbers it cannot vouch for) and folds every row
into the runner's own :class:`~live.state.LiveState`, plus what the fold does not keep:
recent fills with their charges, alerts, and each strategy's last decision. It never writes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from live.broker import Side
from live.events import (
    AlertRaised,
    BarClosed,
    GovernanceDecided,
    KillSwitchChanged,
    Message,
    ModeChanged,
    OrderFilled,
    RiskChecked,
    SignalRaised,
    TradeExited,
)
from live.hashchain import GENESIS
from live.journal import JOURNAL, Journal, JournalCorruptError
from live.state import LiveState, kill_mode_for
from strategies.costs import CostRates, CostScheduleError, load_cost_rates, order_cost_breakdown


@dataclass(frozen=True, slots=True)
class FillRow:
    seq: int
    ts: str
    strategy: str
    symbol: str
    side: str
    qty: int
    price: float
    trade_id: str
    trace_id: str
    charges_inr: float | None  # None: no cost schedule in force on the fill's date


@dataclass(slots=True)
class _Health:
    last_decision: str = ""
    last_decision_ts: str = ""
    refusals: int = 0  # governance or risk said no


@dataclass
class JournalView:
    """The page's model of one journal; :meth:`poll` folds what was appended since."""

    journal: Journal
    recent_rows: int = 200
    state: LiveState = field(default_factory=LiveState)
    position: tuple[int, str] = (0, GENESIS)  # last checked (seq, hash)
    broken: str | None = None
    charges_inr: dict[str, float] = field(default_factory=dict)
    health: dict[str, _Health] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fills: deque[FillRow] = deque(maxlen=self.recent_rows)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=self.recent_rows)
        self._rates: dict[date, CostRates | None] = {}
        self.uncharged: set[str] = set()  # strategies with a fill no schedule prices

    def poll(self) -> int:
        """Fold the rows appended since the last poll; returns how many (0 once broken)."""
        if self.broken is not None:
            return 0
        folded, last = 0, self.position[0]
        try:
            for seq, message in self.journal.read_checked(self.position[0] + 1,
                                                          self.position[1]):
                self._fold(seq, message)
                folded, last = folded + 1, seq
        except JournalCorruptError as exc:
            self.broken = f"journal broken at seq {exc.seq}: {exc.reason}"
        if folded:
            self.position = next(self.journal.hashes(last, last))
        return folded

    def _fold(self, seq: int, message: Message) -> None:
        self.state.apply(message)
        if isinstance(message, OrderFilled):
            self._on_fill(seq, message)
        elif isinstance(message, AlertRaised):
            self.alerts.appendleft({"seq": seq, "ts": message.ts_event.isoformat(),
                                    "severity": str(message.severity), "code": message.code,
                                    "message": message.message, "trace_id": message.trace_id})
        else:
            self._decision(message)

    def _decision(self, message: Message) -> None:
        text: str | None = None
        strategy = getattr(message, "strategy", None)
        if isinstance(message, SignalRaised):
            text = f"signal {message.side} ({message.reason})"
        elif isinstance(message, GovernanceDecided | RiskChecked):
            verdict = message.allowed if isinstance(message, GovernanceDecided) \
                else message.passed
            what = "governance" if isinstance(message, GovernanceDecided) else message.check
            text = f"{what} {'allowed' if verdict else 'refused'}: {message.reason}"
            if not verdict:
                self._health(str(strategy)).refusals += 1
        elif isinstance(message, ModeChanged):
            text = f"mode {message.mode}: {message.reason}"
        elif isinstance(message, TradeExited):
            text = f"exit {message.symbol} ({message.reason}) {message.pnl_inr:,.2f} INR"
        elif isinstance(message, KillSwitchChanged) and message.scope != "all":
            strategy, text = message.scope, f"kill {message.mode} by {message.actor}"
        if text is not None and isinstance(strategy, str):
            health = self._health(strategy)
            health.last_decision, health.last_decision_ts = text, message.ts_event.isoformat()

    def _health(self, strategy: str) -> _Health:
        return self.health.setdefault(strategy, _Health())

    def _on_fill(self, seq: int, fill: OrderFilled) -> None:
        order = self.state.orders.get(fill.client_key)
        strategy = order.strategy if order is not None else "?"
        charges = self._charges(fill)
        if charges is None:
            self.uncharged.add(strategy)
        self.charges_inr[strategy] = self.charges_inr.get(strategy, 0.0) + (charges or 0.0)
        self.fills.appendleft(FillRow(seq, fill.ts_event.isoformat(), strategy, fill.symbol,
                                      str(fill.side), fill.qty, fill.price, fill.trade_id,
                                      fill.trace_id, charges))

    def _charges(self, fill: OrderFilled) -> float | None:
        """The fill's charges by the cost schedule in force on its date (None: none is)."""
        day = fill.ts_event.date()
        if day not in self._rates:
            try:
                self._rates[day] = load_cost_rates("index_future", on=day)
            except CostScheduleError:
                self._rates[day] = None
        rates = self._rates[day]
        if rates is None:
            return None
        return order_cost_breakdown(rates, is_buy=fill.side is Side.BUY,
                                    notional_inr=abs(fill.qty * fill.price)).total_inr

    # --- what the page shows ------------------------------------------------------------

    def positions(self) -> list[dict[str, Any]]:
        """Every position held or traded: net quantity, average, last close, P&L in INR."""
        rows = []
        for (strategy, symbol), pos in sorted(self.state.positions.items()):
            bar: BarClosed | None = self.state.last_bars.get(symbol)
            last = bar.close if bar is not None else None
            unrealised = 0.0 if last is None else (last - pos.avg_price) * pos.net_qty
            rows.append({"strategy": strategy, "symbol": symbol, "net_qty": pos.net_qty,
                         "avg_price": pos.avg_price, "last": last,
                         "unrealised_inr": unrealised,
                         "realised_inr": pos.realised_pnl_inr})
        return rows

    def pnl(self) -> list[dict[str, Any]]:
        """Per strategy: realised + marked-to-last-close - charges of every fill = net."""
        out = []
        names = sorted({s for s, _ in self.state.positions} | set(self.charges_inr))
        for strategy in names:
            realised = sum(p.realised_pnl_inr for (s, _), p in self.state.positions.items()
                           if s == strategy)
            unrealised = sum(r["unrealised_inr"] for r in self.positions()
                             if r["strategy"] == strategy)
            charges = self.charges_inr.get(strategy, 0.0)
            out.append({"strategy": strategy, "realised_inr": realised,
                        "unrealised_inr": unrealised, "charges_inr": charges,
                        "net_inr": None if strategy in self.uncharged
                        else realised + unrealised - charges})
        return out

    def working_orders(self) -> list[dict[str, Any]]:
        return [{"client_key": o.client_key, "strategy": o.strategy, "symbol": o.symbol,
                 "side": str(o.side), "qty": o.qty, "filled_qty": o.filled_qty,
                 "status": str(o.status), "type": str(o.order_type),
                 "limit_price": o.limit_price, "trigger_price": o.trigger_price,
                 "trace_id": o.trace_id} for o in self.state.working.values()]

    def strategy_health(self) -> list[dict[str, Any]]:
        names = sorted(set(self.state.stats) | set(self.state.modes) | set(self.health))
        out = []
        for name in names:
            stats = self.state.stats_for(name) if name in self.state.stats else None
            health = self.health.get(name, _Health())
            out.append({"strategy": name, "kill": str(kill_mode_for(self.state, name)),
                        "mode": str(self.state.modes.get(name, "-")),
                        "refusals": health.refusals,
                        "signals": stats.signals if stats else 0,
                        "orders": stats.orders if stats else 0,
                        "fills": stats.fills if stats else 0,
                        "last_decision": health.last_decision,
                        "last_decision_ts": health.last_decision_ts})
        return out

    def snapshot(self) -> dict[str, Any]:
        """Everything the page renders except risk and promotion (kept by the server)."""
        return {"seq": self.position[0], "broken": self.broken,
                "positions": self.positions(), "pnl": self.pnl(),
                "working_orders": self.working_orders(),
                "fills": [_plain(f) for f in self.fills], "alerts": list(self.alerts),
                "health": self.strategy_health(),
                "kill_switches": {k: str(v) for k, v in self.state.kill_switches.items()}}

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """One trace's checked entries in order: the event-time latency since its first
        entry and since the previous one, and the record-time gap to the previous one (how
        long the runner took to journal it; ms)."""
        query = (sa.select(JOURNAL.c.seq, JOURNAL.c.ts_event, JOURNAL.c.ts_record,
                           JOURNAL.c.kind)
                 .where(JOURNAL.c.trace_id == trace_id, JOURNAL.c.seq <= self.position[0])
                 .order_by(JOURNAL.c.seq))
        with self.journal.engine.connect() as conn:
            rows = conn.execute(query).all()
        out: list[dict[str, Any]] = []
        first = prev = prev_record = None
        for row in rows:
            ts, recorded = datetime.fromisoformat(row.ts_event), \
                datetime.fromisoformat(row.ts_record)
            first = first or ts
            out.append({"seq": row.seq, "ts": row.ts_event, "kind": row.kind,
                        "since_start_ms": _ms(ts - first),
                        "since_prev_ms": 0.0 if prev is None else _ms(ts - prev),
                        "recorded_after_prev_ms": 0.0 if prev_record is None
                        else _ms(recorded - prev_record)})
            prev, prev_record = ts, recorded
        return out


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def _plain(row: FillRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in FillRow.__slots__}
