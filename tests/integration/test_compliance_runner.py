"""The order-to-trade controls through the runner on the paper exchange: orders placed and
cancelled at the exchange are counted from the journal; the runner's pre-trade step journals
a near-breach alert, then a denial, for the strategy that churns - and a restart counts the
same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from live.broker import OrderType, Side
from live.compliance_rules.config import load_compliance
from live.events import AlertRaised, CancelOrder, OrderIntended, RiskChecked, TradingMode
from live.risk.compliance_controls import ComplianceControls
from live.risk.interface import RiskDecision
from live.risk.limits import load_risk_limits
from live.risk.pretrade import PreTradeRiskEngine
from live.runner.deployments import build
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from tests.unit.test_runner_engine import day_bars, record_clock, stores_in, strategy_config

REPO = Path(__file__).resolve().parents[2]
BARS = 8  # past the 09:15-09:20 entry lockout, before the first signal


def _runner(folder: Path, algo: dict[str, Any] | None = None) -> Runner:
    data = yaml.safe_load((REPO / "compliance.yaml").read_text())
    data["order_to_trade"] = [{"effective_from": "2025-01-01", "exchange_ratio": 500,
                               "throttle_ratio": 5, "alert_fraction": 0.6,
                               "min_messages": 4}]
    data["algo"].update(algo or {})
    path = folder / "compliance.yaml"
    path.write_text(yaml.safe_dump(data))
    stores = stores_in(folder)
    exchange = stores.exchange()
    deployed = [build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)]
    risk = PreTradeRiskEngine(load_risk_limits(REPO / "risk.yaml"),
                              compliance=ComplianceControls(load_compliance(path)))
    runner = Runner(journal=stores.journal(), broker=exchange, deployed=deployed, mode="live",
                    clock=record_clock, risk=risk,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    return runner


def _churn(runner: Runner, n: int) -> None:
    """``n`` resting limit buys of ema_cross, each cancelled at the exchange."""
    bar = day_bars(BARS)[-1]
    for i in range(n):
        key = f"churn{len(runner.state.orders)}{i}"
        runner.executor.send(OrderIntended(
            trace_id=f"t{key}", ts_event=bar.ts, client_key=key, strategy="ema_cross",
            version="1", symbol="NIFTY", exchange="NFO", side=Side.BUY, qty=75,
            order_type=OrderType.LIMIT, limit_price=round(bar.close * 0.98, 1),
            mode=TradingMode.LIVE))
        order = runner.state.orders[key]
        assert order.broker_order_id is not None
        runner.bus.send(CancelOrder(trace_id=f"t{key}", ts_event=bar.ts, client_key=key,
                                    broker_order_id=order.broker_order_id, reason="churn"))


def _ask(runner: Runner, key: str, lots: int = 1) -> RiskDecision:
    bar = day_bars(BARS)[-1]
    return runner.ask_risk(f"t{key}", key, runner.deployed[0], bar, side=1, qty=75 * lots,
                           reduces_exposure=False)


def test_otr_runner_journals_near_breach_alert_then_denial(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.run(day_bars(BARS))
    _churn(runner, 2)  # 4 messages, 0 trades: the next order makes 5 / 1 >= 0.6 x 5
    assert _ask(runner, "ask1").passed
    journal = [m for _, m in runner.journal.read()]
    (alert,) = [m for m in journal if isinstance(m, AlertRaised)
                and m.code == "otr_near_breach"]
    assert "5 order messages (2 orders, 0 modifications, 2 cancellations" in alert.message
    _churn(runner, 1)  # 6 messages: the next would be 7 / 1 > 5
    denied = _ask(runner, "ask2", lots=2)  # not the duplicate of ask1
    assert (denied.passed, denied.check) == (False, "order_to_trade_ratio")
    runner.bus.durable()  # the denial is deferred to the bar's commit (one commit per bar)
    checks = [m for _, m in runner.journal.read() if isinstance(m, RiskChecked)]
    assert checks[-1].check == "order_to_trade_ratio" and not checks[-1].passed


def test_otr_runner_restart_counts_the_journal_again(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.run(day_bars(BARS))
    _churn(runner, 3)
    restarted = _runner(tmp_path)  # a new process over the same journal and exchange
    restarted.run(day_bars(BARS)[-1:])
    denied = _ask(restarted, "ask3")
    assert (denied.passed, denied.check) == (False, "order_to_trade_ratio")


def test_algo_id_of_the_version_is_on_every_intent(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.deployed[0] = replace(runner.deployed[0], algo_id="NSEALGO42")
    runner.run(day_bars(26))  # the first entry is decided at bar 22
    intents = [m for _, m in runner.journal.read() if isinstance(m, OrderIntended)]
    assert intents and {i.algo_id for i in intents} == {"NSEALGO42"}


_APPROVED = {"require_algo_id": True, "approvals": [
    {"strategy": "ema_cross", "version": 1, "algo_id": "NSEALGO42", "broker": "zerodha",
     "approval_ref": "ZAPP-42", "approved_on": "2025-01-01"}]}


def test_every_order_sent_carries_the_approved_algo_id(tmp_path: Path) -> None:
    """SEBI's algo framework end to end: the paper exchange (standing in for the broker,
    which receives it as Kite's ``algo_id``) holds the approved version's algo id on every
    order the runner sent, and the orders are still found by their client key (tag)."""
    runner = _runner(tmp_path, _APPROVED)
    runner.deployed[0] = replace(runner.deployed[0], algo_id="NSEALGO42")
    runner.run(day_bars(40))
    intents = [m for _, m in runner.journal.read() if isinstance(m, OrderIntended)]
    sent = runner.broker.orders()
    assert intents and len(sent) == len(intents)
    assert {o.algo_id for o in sent} == {"NSEALGO42"}
    assert {o.client_key for o in sent} == {i.client_key for i in intents}


def test_an_order_with_an_unapproved_algo_id_is_refused_pre_trade(tmp_path: Path) -> None:
    runner = _runner(tmp_path, _APPROVED)
    runner.deployed[0] = replace(runner.deployed[0], algo_id="FORGED7")
    runner.run(day_bars(26))
    denied = [m for _, m in runner.journal.read()
              if isinstance(m, RiskChecked) and not m.passed]
    assert denied and {m.check for m in denied} == {"algo_id"}
    assert runner.broker.orders() == []


def test_an_exit_without_its_algo_id_is_sent_with_a_compliance_alert(tmp_path: Path) -> None:
    """Risk-reducing orders are never held: a version whose algo id is gone mid-position
    (entries denied from then on) still exits, and the runner alerts ``compliance_exit``."""
    runner = _runner(tmp_path, _APPROVED)
    runner.deployed[0] = replace(runner.deployed[0], algo_id="NSEALGO42")
    bars = day_bars(60)
    runner.run(bars[:24])  # the short entry of bar 22 has filled
    runner.deployed[0] = replace(runner.deployed[0], algo_id=None)
    runner.run(bars[24:])
    journal = [m for _, m in runner.journal.read()]
    entry, exit_ = [m for m in journal if isinstance(m, OrderIntended)]
    assert (entry.side, entry.algo_id, exit_.side, exit_.algo_id) == (
        Side.SELL, "NSEALGO42", Side.BUY, None)
    (alert,) = [m for m in journal if isinstance(m, AlertRaised)
                and m.code == "compliance_exit"]
    assert "carries no exchange algo id" in alert.message
    assert {m.check for m in journal if isinstance(m, RiskChecked) and not m.passed} == {
        "algo_id"}
