"""A version researched jointly on NIFTY and BANKNIFTY (joint walk-forward) is registered with
both symbols and their own lot sizes, walks shadow -> canary -> live under maker/checker,
loads as data, and the live runner (paper broker, replayed bars, the instrument master)
trades both symbols, each in its own lot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from live.adapters.paper import FillModel, PaperExchange
from live.contracts import ContractBook
from live.db import make_engine
from live.events import OrderFilled, OrderIntended
from live.journal import open_journal
from live.runner.deployments import load_deployed
from live.runner.feed import replay_bars
from live.runner.runner import Runner
from pipelines.datasets.instrument_master import build_master
from pipelines.research.config import ResearchSettings
from pipelines.research.gates import load_gates
from pipelines.research.joint_walk_forward import run_joint_walk_forward
from pipelines.research.study import version_config
from strategies.bars import bars_from_frame
from strategies.contracts import RollRule
from strategies.costs import load_cost_rates
from strategies.ema_cross import SPEC
from strategies.params import params_hash
from strategies.roster import STRATEGIES
from strategies.simulator import SimConfig
from tests.doubles import PassThroughRisk
from tests.integration.test_governance import EVIDENCE, LENIENT, Desk
from tests.integration.test_registry import COMBOS, WF, Candidate

pytestmark = pytest.mark.integration
SYMBOLS = ("NIFTY", "BANKNIFTY")
LOTS = {"NIFTY": 75, "BANKNIFTY": 35}


@pytest.fixture(scope="module")
def joint(candidate: Candidate, tmp_path_factory: pytest.TempPathFactory
          ) -> Candidate:
    """The registry test's candidate, researched on both symbols together."""
    frame = candidate.frame
    costs = load_cost_rates(on=date(2025, 1, 1))
    bars = {s: bars_from_frame(frame[frame["symbol"] == s].reset_index(drop=True),
                               symbol=s, venue="NSE") for s in SYMBOLS}
    configs = {s: SimConfig(lot_size=LOTS[s], costs=costs) for s in SYMBOLS}
    report = run_joint_walk_forward(SPEC, bars, configs, WF, combos=COMBOS, pbo_splits=4)
    folder = tmp_path_factory.mktemp("lenient")
    (folder / "gates.yaml").write_text(yaml.safe_dump(LENIENT))
    verdict = load_gates(folder / "gates.yaml", set(STRATEGIES)).evaluate(
        report.strategy, report.metrics)
    chosen = report.chosen_params()
    lineage = replace(candidate.lineage, params=chosen,
                      params_hash=params_hash(SPEC.make_params(**chosen)),
                      gates_digest=verdict.gates_digest, verdict_digest=verdict.digest(),
                      verdict_passed=verdict.passed)
    config = version_config("nse_index_1m", report, configs["NIFTY"], ResearchSettings(),
                            "NSE", configs)
    return replace(candidate, report=report, verdict=verdict, lineage=lineage,
                   model_config=config)


def test_two_symbol_version_registers_is_approved_and_trades_both_in_their_lots(
        tmp_path: Path, joint: Candidate) -> None:
    assert joint.verdict.passed, [c for c in joint.verdict.checks if not c.passed]
    desk = Desk(tmp_path, joint, evidence=lambda s, v: EVIDENCE)
    desk.approve_configs()
    v1 = desk.versions[0]
    version = desk.registry.get_version("ema_cross", v1)
    assert version.tags["stratops.symbols"] == "NIFTY,BANKNIFTY"
    for stage in ("shadow", "canary", "live"):
        check = desk.promote(v1, stage)
        assert check.ok, check.problems
    (deployed,), refused = load_deployed(desk.svc, "live", ["ema_cross"])
    assert refused == []
    assert deployed.symbols == SYMBOLS
    assert {s: deployed.lot_for(s) for s in SYMBOLS} == LOTS

    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=0.0,
                                                  tick_size=0.05))
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    book = ContractBook(build_master(date(2025, 1, 1), date(2025, 12, 31)),
                        RollRule(days_before_expiry=1))
    runner = Runner(journal=open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=clock),
                    broker=exchange, deployed=[deployed], mode="live", clock=clock,
                    risk=PassThroughRisk(), contracts=book,
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    frame = joint.frame
    day = frame[frame["ts"].dt.date == frame["ts"].dt.date.max()]
    runner.recover()
    runner.run(list(replay_bars(day.sort_values(["ts", "symbol"]).reset_index(drop=True))))
    messages = [m for _, m in runner.journal.read()]
    intents = [m for m in messages if isinstance(m, OrderIntended)]
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    for symbol in SYMBOLS:
        mine = [m.qty for m in intents if m.symbol == symbol]
        assert mine, f"no order on {symbol}"
        assert all(q % LOTS[symbol] == 0 for q in mine), (symbol, mine)
    assert {m.qty for m in intents if m.symbol == "BANKNIFTY" and not m.protective} == {35}
    assert {m.qty for m in intents if m.symbol == "NIFTY" and not m.protective} == {75}
    assert fills
