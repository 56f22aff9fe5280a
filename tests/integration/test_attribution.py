"""The attribution report on a real runner day (2025-03-03 NIFTY, EMA cross, the paper
exchange; flat at the cutoff): the components add up to the journal's realised net P&L."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from live.broker import Side
from live.events import OrderFilled, OrderIntended
from live.state import replay
from live.tca.attribution import COMPONENTS, attribution, write_attribution
from live.tca.extract import tca_tables
from strategies.costs import load_cost_rates, order_cost_breakdown
from tests.integration.test_anomaly_runner import bars, runner_in

DAY = date(2025, 3, 3)


@pytest.fixture(scope="module")
def day_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("attribution")
    runner_in(folder, None).run(bars(375))
    return folder


def test_attribution_components_sum_to_the_journals_realised_net_pnl(
        day_journal: Path) -> None:
    runner = runner_in(day_journal, None)
    rates = load_cost_rates(on=DAY)
    (row,) = attribution(tca_tables(runner.journal, DAY), {"ema_cross": rates}).rows
    state = replay(runner.journal)
    intents = {m.client_key: m for _, m in runner.journal.read() if isinstance(m, OrderIntended)}
    notional: dict[str, float] = defaultdict(float)
    for _, m in runner.journal.read():
        if isinstance(m, OrderFilled):
            notional[m.client_key] += m.qty * m.price
    costs = sum(order_cost_breakdown(rates, is_buy=intents[k].side is Side.BUY,
                                     notional_inr=v).total_inr for k, v in notional.items())
    realised_net = state.stats["ema_cross"].realised_pnl_inr - costs
    assert row.open_qty == 0 and row.filled_qty > 0 and row.unpriced_parents == 0
    assert sum(getattr(row, c) for c in COMPONENTS) == pytest.approx(realised_net, abs=1e-6)
    assert row.costs_inr == pytest.approx(-costs) and row.residual_inr == pytest.approx(
        0.0, abs=1e-6)


def test_attribution_report_files_are_written(day_journal: Path, tmp_path: Path) -> None:
    runner = runner_in(day_journal, None)
    report = attribution(tca_tables(runner.journal, DAY), {"ema_cross": load_cost_rates()})
    files = write_attribution(report, tmp_path / "out")
    assert "signal_inr" in files.html_path.read_text()
    assert files.json_path.read_text().count('"strategy": "ema_cross"') == 1
