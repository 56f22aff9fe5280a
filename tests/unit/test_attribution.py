"""Attribution definitions on a hand-made journal with known prices: a long entered one bar
after its signal (timing) and filled above arrival (slippage), exited at its signal bar."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from live.broker import Side
from live.events import SignalSide, TradeExited
from live.journal import Journal, open_journal
from live.tca.attribution import AttributionInputError, attribution, text_lines
from live.tca.extract import tca_tables
from strategies.costs import load_cost_rates, order_cost_breakdown
from tests.anomaly_flows import T0, at, bar, fill, intent, signal

RATES = load_cost_rates(on=date(2025, 1, 6))


def journal_of_one_trade(folder: Path) -> Journal:
    journal = open_journal(f"sqlite:///{folder / 'j.db'}", clock=lambda: T0)
    entry = intent(at(60), "tr-in")  # intended a bar after the signal: arrival 101
    exit_ = intent(at(300), "tr-out", side=Side.SELL)
    for m in [bar(at(0), 100.0), signal(at(0), SignalSide.LONG, "tr-in"),
              bar(at(60), 101.0), entry, bar(at(120), 102.0), fill(entry, at(120), 101.5),
              bar(at(300), 105.0), signal(at(300), SignalSide.FLAT, "tr-out"), exit_,
              bar(at(360), 104.0), fill(exit_, at(360), 104.9, trade="t2"),
              TradeExited(trace_id="tr-out", ts_event=at(360), strategy="ema_cross",
                          symbol="NIFTY", reason="closed", pnl_inr=(104.9 - 101.5) * 75)]:
        journal.append(m)
    return journal


def test_attribution_splits_one_trade_by_its_definitions(tmp_path: Path) -> None:
    tables = tca_tables(journal_of_one_trade(tmp_path), T0.date())
    (row,) = attribution(tables, {"ema_cross": RATES}).rows
    costs = sum(order_cost_breakdown(RATES, is_buy=buy, notional_inr=p * 75).total_inr
                for buy, p in ((True, 101.5), (False, 104.9)))
    assert row.signal_inr == pytest.approx((105.0 - 100.0) * 75)  # at decision prices
    assert row.timing_inr == pytest.approx(-(101.0 - 100.0) * 75)  # signal close -> arrival
    assert row.slippage_inr == pytest.approx(-(0.5 * 75 + 0.1 * 75))  # fills vs arrival
    assert row.costs_inr == pytest.approx(-costs)
    assert row.net_inr == pytest.approx((104.9 - 101.5) * 75 - costs)
    assert row.residual_inr == pytest.approx(0.0, abs=1e-9)


def test_attribution_without_cost_rates_for_a_strategy_is_refused(tmp_path: Path) -> None:
    tables = tca_tables(journal_of_one_trade(tmp_path), T0.date())
    with pytest.raises(AttributionInputError, match="ema_cross"):
        attribution(tables, {})


def test_attribution_of_a_day_without_orders_says_so(tmp_path: Path) -> None:
    tables = tca_tables(journal_of_one_trade(tmp_path), date(2025, 1, 7))
    assert text_lines(attribution(tables, {})) == ["2025-01-07: no fills - nothing to attribute"]
