"""A version that trades several symbols, each with its own contract sizes
(``model_config.symbol_sizes``): the config codec, the runner's sizing per symbol against the
instrument master, and the refusal of sizes the master contradicts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.contracts import ContractBook, version_contract_problems
from live.db import make_engine
from live.events import OrderIntended, RiskChecked
from live.journal import open_journal
from live.orders.rules import OrderRules
from live.runner.deployments import build, order_rule_problem
from live.runner.feed import replay_bars, replay_frame
from live.runner.runner import Runner
from pipelines.datasets.instrument_master import build_master
from strategies.contracts import RollRule
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig, VersionConfigError
from stratops.instruments_ops import contract_refusals
from tests.synthetic_datasets import nse_index_1m_path
from tests.unit.test_contracts_live import RecordingRisk

BOOK = ContractBook(build_master(date(2025, 1, 1), date(2025, 12, 31)),
                    RollRule(days_before_expiry=1))
SIZES = {"NIFTY": {"lot_size": 75, "tick_size": 0.05},
         "BANKNIFTY": {"lot_size": 35, "tick_size": 0.05}}


def two_symbol_config(**changes: Any) -> dict[str, Any]:
    spec = get_strategy("ema_cross")
    config: dict[str, Any] = {
        "strategy": "ema_cross", "params": get_params(spec.default_params()), "venue": "NSE",
        "cutoff": "venue", "symbols": ["NIFTY", "BANKNIFTY"],
        "sim": {"qty_lots": 2, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05},
        "symbol_sizes": SIZES}
    return {**config, **changes}


def test_symbol_sizes_round_trip_and_one_symbol_config_is_unchanged() -> None:
    config = VersionConfig.from_json(two_symbol_config())
    assert config.to_json()["symbol_sizes"] == SIZES
    assert VersionConfig.from_json(config.to_json()) == config
    assert (config.size_of("BANKNIFTY").lot_size, config.size_of("NIFTY").lot_size) == (35, 75)
    single = {k: v for k, v in two_symbol_config(symbols=["NIFTY"]).items()
              if k != "symbol_sizes"}
    assert "symbol_sizes" not in VersionConfig.from_json(single).to_json()
    assert VersionConfig.from_json(single).size_of("NIFTY").lot_size == 75


@pytest.mark.parametrize(("changes", "match"), [
    ({"symbol_sizes": {"NIFTY": SIZES["NIFTY"]}}, "one entry per symbol"),
    ({"symbol_sizes": {**SIZES, "NIFTY": {"lot_size": 50, "tick_size": 0.05}}},
     "symbol_sizes.NIFTY=.50, 0.05. differs from model_config.sim's lot_size 75"),
    ({"symbol_sizes": {**SIZES, "BANKNIFTY": {"lot_size": 0, "tick_size": 0.05}}},
     r"symbol_sizes.BANKNIFTY.lot_size=0: must be an int >= 1"),
    ({"symbol_sizes": {**SIZES, "BANKNIFTY": {"lot_size": 35}}}, r"lacks \['tick_size'\]"),
    ({"symbol_sizes": {**SIZES, "BANKNIFTY": {"lot_size": 35, "tick_size": 0.05, "x": 1}}},
     r"unknown keys \['x'\]"),
    ({"symbol_sizes": ["NIFTY"]}, "must be a mapping"),
])
def test_bad_symbol_sizes_are_refused_naming_the_field(changes: dict[str, Any],
                                                       match: str) -> None:
    with pytest.raises(VersionConfigError, match=match):
        VersionConfig.from_json(two_symbol_config(**changes))


def test_deployed_sizes_each_symbol_with_its_own_lot() -> None:
    deployed = build(VersionConfig.from_json(two_symbol_config()), 1, "live", 1.0, "0" * 64)
    assert (deployed.rules_for("NIFTY").qty, deployed.rules_for("BANKNIFTY").qty) == (150, 70)
    assert deployed.lot_for("BANKNIFTY") == 35
    with pytest.raises(KeyError, match="no contract sizes for 'FINNIFTY'"):
        deployed.lot_for("FINNIFTY")  # never another symbol's lot
    canary = build(VersionConfig.from_json(two_symbol_config()), 1, "canary", 0.5, "0" * 64)
    assert (canary.rules_for("NIFTY").qty, canary.rules_for("BANKNIFTY").qty) == (75, 35)


def test_protective_freeze_check_uses_each_symbols_quantity() -> None:
    config = two_symbol_config(sim={"qty_lots": 20, "lot_size": 75, "tick_size": 0.05,
                                    "stop_points": 40.0})
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    rules = OrderRules(freeze_qty={"default": 1800, "NIFTY": 1800, "BANKNIFTY": 600})
    problem = order_rule_problem(deployed, rules, "paper", "NFO")
    assert problem is not None and "700 units per trade in BANKNIFTY" in problem


def test_contract_check_at_load_compares_each_symbol_with_the_master() -> None:
    day = date(2025, 3, 3)
    good = build(VersionConfig.from_json(two_symbol_config()), 1, "live", 1.0, "0" * 64)
    kept, refused = contract_refusals(BOOK, [good], day, ("NSE",))
    assert (kept, refused) == ([good], [])
    wrong = two_symbol_config(symbol_sizes={**SIZES, "BANKNIFTY": {"lot_size": 75,
                                                                    "tick_size": 0.05}})
    bad = build(VersionConfig.from_json(wrong), 1, "live", 1.0, "0" * 64)
    kept, refused = contract_refusals(BOOK, [bad], day, ("NSE",))
    assert kept == []
    ((strategy, reason),) = refused
    assert strategy == "ema_cross"
    assert reason.startswith("BANKNIFTY: the version simulates lot size 75, the master says 35")
    assert version_contract_problems(BOOK, ("NIFTY", "BANKNIFTY"), day, lot_size=75,
                                     tick_size=0.05)  # one lot for both: refused


def test_runner_trades_both_symbols_with_their_own_lot_sizes(tmp_path: Path) -> None:
    config = VersionConfig.from_json(two_symbol_config())
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    risk = RecordingRisk()
    runner = Runner(journal=open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=clock),
                    broker=exchange, deployed=[build(config, 1, "live", 1.0, "0" * 64)],
                    mode="live", clock=clock, risk=risk, contracts=BOOK,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    frame = replay_frame(nse_index_1m_path(), ["NIFTY", "BANKNIFTY"], date(2025, 3, 3),
                         date(2025, 3, 3))
    runner.recover()
    runner.run(list(replay_bars(frame))[:110])
    intents = [m for _, m in runner.journal.read() if isinstance(m, OrderIntended)]
    by_symbol = {s: {m.qty for m in intents if m.symbol == s} for s in ("NIFTY", "BANKNIFTY")}
    assert by_symbol["NIFTY"] and by_symbol["BANKNIFTY"], by_symbol
    assert all(q % 75 == 0 for q in by_symbol["NIFTY"])
    assert all(q % 35 == 0 and q % 75 for q in by_symbol["BANKNIFTY"])
    entries = {(p.symbol, p.qty, p.lot_size) for p in risk.proposals if not p.reduces_exposure}
    assert ("NIFTY", 150, 75) in entries and ("BANKNIFTY", 70, 35) in entries
    denied = [m for _, m in runner.journal.read() if isinstance(m, RiskChecked)
              and not m.passed]
    assert denied == []
    nets = {k[1]: abs(p.net_qty) for k, p in runner.state.positions.items() if p.net_qty}
    assert nets.get("BANKNIFTY", 70) % 35 == 0 and nets.get("NIFTY", 150) % 75 == 0


def test_operator_text_shows_each_symbols_quantity() -> None:
    import json

    from live.runner.deployments import describe, qty_text

    deployed = build(VersionConfig.from_json(two_symbol_config()), 1, "live", 1.0, "0" * 64)
    assert qty_text(deployed) == "NIFTY 150 qty, BANKNIFTY 70 qty"
    (row,) = json.loads(describe([deployed]))
    assert row["qty_by_symbol"] == {"NIFTY": 150, "BANKNIFTY": 70}
