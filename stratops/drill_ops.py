"""The flatten drill (``stratops drill flatten``): rehearse flattening at the broker when our
stack is down, on a scratch paper exchange, end to end.

1. A runner trades the replay dataset until it holds a position (a scratch journal and
   paper exchange in the drill folder; nothing of the desk's stores is touched).
2. The stack goes down: the runner gets no more bars (as if killed).
3. The "broker console" flattens: every open order cancelled, an opposite market order per
   position - sent to the exchange directly, never through our runner or journal (what
   Kite's web "exit all", its kill switch or the dealing desk do at the real broker).
4. The market goes on (the next bars reach the exchange only) until every position is flat.
5. The stack comes back: a new runner recovers and reconciles; it must come up *halted*,
   naming the break (the journal still holds the position the console closed), so nothing
   trades until a person has reviewed it.

The drill passes when the exchange is flat within ``max_bars`` bars and the restarted runner
halts on the break; the report says what happened at each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

CONSOLE_PREFIX = "CONSOLE"  # the client key (tag) prefix of the console's orders


@dataclass
class DrillReport:
    position_before: dict[str, int] = field(default_factory=dict)
    stack_down_at: str = ""
    cancelled: list[str] = field(default_factory=list)
    console_orders: list[str] = field(default_factory=list)
    bars_to_flat: int | None = None
    position_after: dict[str, int] = field(default_factory=dict)
    restart_halted: bool = False
    restart_issues: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.bars_to_flat is not None and not any(self.position_after.values()) \
            and self.restart_halted


def console_flatten(exchange: Any, stamp: str) -> tuple[list[str], list[str]]:
    """What a broker console's "exit all" does, on ``exchange`` directly: cancel every open
    order, then send an opposite market order for each non-zero position. Returns (the
    cancelled broker order ids, the console orders' client keys)."""
    from live.broker import OrderRequest, OrderState, OrderType, Side

    cancelled = []
    for order in exchange.orders():
        if order.state is OrderState.OPEN:
            exchange.cancel(order.broker_order_id)
            cancelled.append(order.broker_order_id)
    keys = []
    for i, pos in enumerate(p for p in exchange.positions() if p.net_qty):
        key = f"{CONSOLE_PREFIX}{stamp}{i:02d}"[:20]
        exchange.submit(OrderRequest(
            client_key=key, symbol=pos.symbol, exchange="NFO",
            side=Side.SELL if pos.net_qty > 0 else Side.BUY, qty=abs(pos.net_qty),
            order_type=OrderType.MARKET))
        keys.append(key)
    return cancelled, keys


def _drill_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)  # record time of the scratch journal


class _Scratch:
    """The drill's own journal and paper exchange (SQLite files in ``folder``)."""

    def __init__(self, folder: Path, limits_path: Path, strategy: str) -> None:
        from live.runner.deployments import build
        from strategies.params import get_params
        from strategies.roster import get_strategy
        from strategies.version_config import VersionConfig

        self.folder, self.limits_path = folder, limits_path
        spec = get_strategy(strategy)
        config = {"strategy": strategy, "params": get_params(spec.default_params()),
                  "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
                  "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0,
                          "tick_size": 0.05}}
        self.deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "drill")

    def exchange(self) -> Any:
        from live.adapters.paper import FillModel, PaperExchange
        from live.db import make_engine

        return PaperExchange(make_engine(f"sqlite:///{self.folder / 'exchange.db'}"), seed=7,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))

    def runner(self, exchange: Any) -> Any:
        from live.journal import open_journal
        from live.risk.limits import load_risk_limits
        from live.risk.pretrade import PreTradeRiskEngine
        from live.runner.runner import Runner

        journal = open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=_drill_clock)
        return Runner(journal=journal, broker=exchange, deployed=[self.deployed], mode="live",
                      clock=_drill_clock,
                      risk=PreTradeRiskEngine(load_risk_limits(self.limits_path)),
                      market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high,
                                                       b.low, b.close))


def _positions(exchange: Any) -> dict[str, int]:
    return {p.symbol: p.net_qty for p in exchange.positions() if p.net_qty}


def flatten_drill(folder: Path, dataset: Path, day: date, limits_path: Path, *,
                  strategy: str = "ema_cross", max_bars: int = 3) -> DrillReport:
    """Run the drill in ``folder`` (created; must be empty) on ``day`` of ``dataset``."""
    from live.events import ReconciliationCompleted
    from live.runner.feed import replay_bars, replay_frame
    from live.runner.recovery import RunnerHalted

    folder.mkdir(parents=True, exist_ok=False)
    scratch = _Scratch(folder, limits_path, strategy)
    bars = list(replay_bars(replay_frame(dataset, ["NIFTY"], day, day)))
    exchange = scratch.exchange()
    runner = scratch.runner(exchange)
    runner.recover()
    report = DrillReport()
    at = len(bars) - 1
    for i, bar in enumerate(bars):  # 1. trade until a position is held at the exchange
        runner.run([bar])
        if _positions(exchange):
            at = i
            break
    report.position_before = _positions(exchange)
    report.stack_down_at = bars[at].ts.isoformat()  # 2. no more bars reach the runner
    stamp = bars[at].ts.strftime("%H%M")
    report.cancelled, report.console_orders = console_flatten(exchange, stamp)  # 3.
    for n, bar in enumerate(bars[at + 1:at + 1 + max_bars], start=1):  # 4. market goes on
        exchange.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)
        if not _positions(exchange):
            report.bars_to_flat = n
            break
    report.position_after = _positions(exchange)
    restarted = scratch.runner(exchange)  # 5. the stack comes back: it must halt
    try:
        restarted.recover()
    except RunnerHalted:
        report.restart_halted = True
    last = [m for _, m in restarted.journal.read() if isinstance(m, ReconciliationCompleted)]
    report.restart_issues = list(last[-1].issues) if last else ["no reconciliation ran"]
    return report
