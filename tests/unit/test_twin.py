"""The paper twin's daily reconciliation (live/twin.py) on the synthetic NSE NIFTY day: a twin
of the same version on the bars live journaled agrees with live exactly; a live whose fills
slip far more than the twin's is caught by the slippage KS test; a twin of other params
(another version) disagrees on signals and is caught by the signal tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.db import make_engine
from live.journal import Journal
from live.runner.deployments import build
from live.runner.runner import Runner
from live.twin import (
    TwinLimits,
    TwinLimitsError,
    journaled_bars,
    reconcile_twin,
    text_lines,
    write_twin_report,
)
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.unit.test_runner_engine import Stores, day_bars, record_clock, stores_in

DAY = date(2025, 3, 3)


def twin_run(live: Journal, folder: Path, config: dict, slippage_ticks: float = 1.0) -> Journal:
    """A paper runner of ``config`` on the bars ``live`` journaled on DAY."""
    folder.mkdir(parents=True, exist_ok=True)
    journal = Stores(folder, config).journal()
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open",
                                                  slippage_ticks=slippage_ticks,
                                                  tick_size=0.05))
    deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=record_clock, risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    runner.recover()
    runner.run(journaled_bars(live, DAY))
    return journal


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    stores = stores_in(tmp_path_factory.mktemp("live"))
    stores.run(day_bars())
    return stores


def test_journaled_bars_are_the_bars_live_acted_on(live: Stores) -> None:
    bars = journaled_bars(live.journal(), DAY)
    assert [(b.ts, b.close) for b in bars] == [(b.ts, b.close) for b in day_bars()]


def test_twin_of_the_same_version_agrees_with_live(live: Stores, tmp_path: Path) -> None:
    twin = twin_run(live.journal(), tmp_path, live.config)
    report = reconcile_twin(live.journal(), twin, DAY, TwinLimits())
    (same,) = report.strategies
    assert report.breaches == [] and same.signal_agreement == 1.0
    assert same.live["fills"] == same.twin["fills"] > 0
    assert same.live["pnl_inr"] == pytest.approx(same.twin["pnl_inr"])
    assert same.ks_pnl["statistic"] == 0.0 and same.ks_slippage["statistic"] == 0.0
    path = write_twin_report(report, tmp_path / "report")
    assert path.name == "twin.json" and '"breaches": []' in path.read_text()


def test_live_slipping_far_more_than_its_twin_breaches_the_slippage_ks_test(
        live: Stores, tmp_path: Path) -> None:
    """The twin fills at the open exactly; live paid a tick on each fill."""
    twin = twin_run(live.journal(), tmp_path, live.config, slippage_ticks=0.0)
    report = reconcile_twin(live.journal(), twin, DAY, TwinLimits())
    (found,) = report.strategies
    assert found.signal_agreement == 1.0  # the same decisions, only the fills differ
    assert found.ks_slippage["p_value"] is not None and found.ks_slippage["p_value"] < 0.01
    assert any(b.startswith("slippage: KS") for b in found.breaches)
    assert "BREACH slippage: KS" in "\n".join(text_lines(report))


def test_twin_of_other_params_disagrees_on_signals(live: Stores, tmp_path: Path) -> None:
    other = {**live.config, "params": {**live.config["params"], "slow": 60}}
    twin = twin_run(live.journal(), tmp_path, other)
    (found,) = reconcile_twin(live.journal(), twin, DAY, TwinLimits()).strategies
    assert found.signal_agreement is not None and found.signal_agreement < 0.95
    assert found.breaches[0].startswith("signal agreement")


def test_twin_limits_out_of_range_are_refused() -> None:
    with pytest.raises(TwinLimitsError, match=r"alpha=0.7"):
        TwinLimits(alpha=0.7)
    assert replace(TwinLimits(), alpha=0.05).alpha == 0.05
