"""Self-trade prevention across two strategies on the paper exchange: one strategy's limit
sell rests at the exchange; the other strategy's buy that would cross it is refused by the
runner's pre-trade step (journaled with both client keys) and never reaches the exchange,
while a buy below it rests beside it."""

from __future__ import annotations

from pathlib import Path

from live.broker import OrderState, OrderType, Side
from live.compliance_rules.config import load_compliance
from live.events import OrderIntended, RiskChecked, TradingMode
from live.risk.compliance_controls import ComplianceControls
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import day_bars, record_clock, stores_in, strategy_config

REPO = Path(__file__).resolve().parents[2]
BARS = 8  # past the 09:15-09:20 entry lockout, before the first signal


def _runner(tmp_path: Path) -> tuple[Runner, object]:
    stores = stores_in(tmp_path)
    exchange = stores.exchange()
    deployed = [build(VersionConfig.from_json(strategy_config(name)), 1, "live", 1.0, "0" * 64)
                for name in ("ema_cross", "range_breakout")]
    risk = PreTradeRiskEngine(
        load_risk_limits(REPO / "risk.yaml"),
        compliance=ComplianceControls(load_compliance(REPO / "compliance.yaml")))
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed, mode="live",
                    clock=record_clock, risk=risk,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.run(day_bars(BARS))  # no signal yet: the state knows the last trades
    return runner, exchange


def _rest(runner: Runner, key: str, strategy: str, side: Side, price: float) -> None:
    bar = day_bars(BARS)[-1]
    runner.executor.send(OrderIntended(
        trace_id=f"t{key}", ts_event=bar.ts, client_key=key, strategy=strategy, version="1",
        symbol="NIFTY", exchange="NFO", side=side, qty=75, order_type=OrderType.LIMIT,
        limit_price=price, mode=TradingMode.LIVE))


def test_self_trade_two_strategies_crossing_buy_is_refused_and_not_sent(tmp_path: Path
                                                                        ) -> None:
    runner, exchange = _runner(tmp_path)
    bar = day_bars(BARS)[-1]
    offer = round(bar.close * 1.01, 1)  # well above the market: it rests
    _rest(runner, "restsell1", "range_breakout", Side.SELL, offer)
    ema = next(d for d in runner.deployed if d.strategy == "ema_cross")
    verdict = runner.ask_risk("tbuy1", "crossbuy1", ema, bar, side=1, qty=75,
                              reduces_exposure=False, order_type="LIMIT",
                              limit_price=offer + 1.0)
    assert (verdict.passed, verdict.check) == (False, "self_trade")
    runner.bus.durable()  # the denial is deferred to the bar's commit (one commit per bar)
    checks = [m for _, m in runner.journal.read() if isinstance(m, RiskChecked)]
    assert checks[-1].check == "self_trade"
    assert "crossbuy1" in checks[-1].reason and "restsell1" in checks[-1].reason
    assert [o.client_key for o in exchange.orders()] == ["restsell1"]  # type: ignore[attr-defined]


def test_self_trade_two_strategies_non_crossing_buy_rests_beside(tmp_path: Path) -> None:
    runner, exchange = _runner(tmp_path)
    bar = day_bars(BARS)[-1]
    offer = round(bar.close * 1.01, 1)
    _rest(runner, "restsell1", "range_breakout", Side.SELL, offer)
    ema = next(d for d in runner.deployed if d.strategy == "ema_cross")
    bid = round(bar.close * 0.99, 1)
    verdict = runner.ask_risk("tbuy2", "restbuy2", ema, bar, side=1, qty=75,
                              reduces_exposure=False, order_type="LIMIT", limit_price=bid)
    assert verdict.passed, verdict
    _rest(runner, "restbuy2", "ema_cross", Side.BUY, bid)
    resting = sorted((o.client_key, o.state, o.filled_qty)
                     for o in exchange.orders())  # type: ignore[attr-defined]
    assert resting == [("restbuy2", OrderState.OPEN, 0), ("restsell1", OrderState.OPEN, 0)]
