"""Specification of the bar simulator on hand-built NSE minute bars with hand-set signals.

Every expected price is worked out by hand from the conventions in
:mod:`strategies.sim_kernel`: fills, order inside a bar, stops, cutoff, costs, ruin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from strategies.bars import Bars, BarsInputError, bars_from_frame
from strategies.costs import load_cost_rates, order_cost_breakdown
from strategies.params import ParamError
from strategies.signals import Signals
from strategies.sim_kernel import (
    N_TRADE_COLS,
    _on_tick,
    bar_flags,
    pack_signals,
    simulate_packed,
)
from strategies.simulator import BacktestResult, SimConfig, simulate

OHLC = tuple[float, float, float, float]
QUIET: OHLC = (100.0, 100.5, 99.5, 100.0)  # touches no stop (98/102) or target (103/97)
CAPITAL = 1_000_000.0
RATES = load_cost_rates(on=date(2025, 1, 1))


def minute_frame(rows: Sequence[OHLC], start: str, symbol: str = "X") -> pd.DataFrame:
    """A normalised frame of consecutive 1-minute bars from ``start`` (Asia/Kolkata)."""
    ts = pd.date_range(pd.Timestamp(start, tz="Asia/Kolkata"), periods=len(rows), freq="1min")
    o, h, lo, c = (list(col) for col in zip(*rows, strict=True))
    return pd.DataFrame({"ts": ts, "symbol": symbol, "open": o, "high": h, "low": lo,
                         "close": c, "volume": 1_000.0})


def make_bars(*sessions: tuple[str, Sequence[OHLC]]) -> Bars:
    """NSE bars of one or more sessions, each given as (first bar's time, OHLC rows)."""
    frame = pd.concat([minute_frame(rows, start) for start, rows in sessions],
                      ignore_index=True)
    return bars_from_frame(frame, symbol="X", venue="NSE")


def day(rows: Sequence[OHLC], start: str = "2025-01-06 09:15") -> Bars:
    return make_bars((start, rows))


def signals(n: int, *, le: Sequence[int] = (), lx: Sequence[int] = (), se: Sequence[int] = (),
            sx: Sequence[int] = ()) -> Signals:
    arrays = []
    for on in (le, lx, se, sx):
        flags = np.zeros(n, dtype=bool)
        flags[list(on)] = True
        arrays.append(flags)
    return Signals(*arrays)


def run(bars: Bars, config: SimConfig | None = None, **on: Sequence[int]) -> BacktestResult:
    return simulate(bars, signals(len(bars), **on), config or SimConfig())


def only_trade(result: BacktestResult) -> pd.Series:
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


STEPS = [(100.0, 101.0, 99.0, 100.5), (101.0, 102.0, 100.0, 101.5),
         (102.0, 103.0, 101.0, 102.5), (103.0, 104.0, 102.0, 103.5)]


# --- fills -----------------------------------------------------------------------------------


def test_fill_next_open_entry_signal_fills_at_next_bar_open() -> None:
    trade = only_trade(run(day(STEPS), le=[0], lx=[1]))
    assert (trade.entry_idx, trade.entry_price) == (1, 101.0)


def test_fill_next_open_exit_signal_fills_at_next_bar_open() -> None:
    trade = only_trade(run(day(STEPS), le=[0], lx=[1]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (2, 102.0, "signal")


def test_fill_close_signals_fill_at_signal_bar_close() -> None:
    trade = only_trade(run(day(STEPS), SimConfig(fill="close"), le=[0], lx=[1]))
    assert (trade.entry_idx, trade.entry_price, trade.exit_idx, trade.exit_price) == (
        0, 100.5, 1, 101.5)


# --- stops, trailing stops, targets ------------------------------------------------------------


def test_stop_points_hit_intrabar_fills_at_stop_level() -> None:
    bars = day([QUIET, QUIET, (99.5, 100.0, 97.0, 99.0), QUIET])
    trade = only_trade(run(bars, SimConfig(stop_points=2.0), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (2, 98.0, "stop")


def test_stop_points_gap_through_level_fills_at_open() -> None:
    bars = day([QUIET, QUIET, (96.0, 97.0, 95.0, 96.5), QUIET])
    trade = only_trade(run(bars, SimConfig(stop_points=2.0), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (2, 96.0, "stop")


def test_stop_points_short_position_stops_above_entry() -> None:
    bars = day([QUIET, QUIET, (100.5, 102.5, 100.0, 101.0), QUIET])
    trade = only_trade(run(bars, SimConfig(stop_points=2.0), se=[0]))
    assert (trade.side, trade.exit_price, trade.exit_reason) == ("short", 102.0, "stop")


def test_trailing_stop_points_follows_high_exits_on_retrace() -> None:
    # entry 100; peak 101 -> trail 99; peak 104 -> trail 102; the next low 101.5 hits 102.
    bars = day([QUIET, (100.0, 101.0, 99.5, 100.5), (100.5, 104.0, 100.0, 103.5),
                (103.0, 103.5, 101.5, 102.0), QUIET])
    trade = only_trade(run(bars, SimConfig(trail_points=2.0), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (3, 102.0, "trail")


def test_trailing_stop_peak_updated_after_stop_check_of_bar() -> None:
    # Bar 2 runs to 110 and dips to 99: checked against the old trail (98.5), it survives;
    # only then does the peak move to 110 (trail 108), which bar 3 hits.
    bars = day([QUIET, QUIET, (100.0, 110.0, 99.0, 109.0), (109.0, 109.5, 107.5, 108.0),
                QUIET])
    trade = only_trade(run(bars, SimConfig(trail_points=2.0), le=[0]))
    assert (trade.exit_idx, trade.exit_price) == (3, 108.0)


def test_stop_and_target_hit_in_same_bar_stop_wins() -> None:
    bars = day([QUIET, QUIET, (100.0, 104.0, 97.0, 101.0), QUIET])
    trade = only_trade(run(bars, SimConfig(stop_points=2.0, target_points=3.0), le=[0]))
    assert (trade.exit_price, trade.exit_reason) == (98.0, "stop")


def test_target_points_hit_intrabar_fills_at_target() -> None:
    bars = day([QUIET, QUIET, (100.0, 103.5, 99.5, 103.0), QUIET])
    trade = only_trade(run(bars, SimConfig(target_points=3.0), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (2, 103.0, "target")


def test_target_exit_is_a_limit_fill_without_slippage() -> None:
    # entry at 100 + 2 ticks = 100.1, target 103.1: bar 2 reaches it and the limit fills at
    # 103.1 itself (a stop or a signal exit would give up the 0.1 of slippage)
    bars = day([QUIET, QUIET, (100.0, 103.5, 99.5, 103.0), QUIET])
    config = SimConfig(target_points=3.0, slippage_ticks=2.0, tick_size=0.05)
    trade = only_trade(run(bars, config, le=[0]))
    assert (trade.entry_price, trade.exit_reason) == (pytest.approx(100.1), "target")
    assert trade.exit_price == pytest.approx(103.1, abs=1e-12)


def test_stop_level_off_the_tick_grid_is_rounded_tighter() -> None:
    # long entered at 100.03: the 2-point stop 98.03 goes on the 0.05 grid at 98.05, which
    # a low of 98.04 touches; with exact levels it is not touched
    bars = day([QUIET, (100.03, 100.5, 99.5, 100.0), (99.0, 99.5, 98.04, 99.0), QUIET])
    rounded = only_trade(run(bars, SimConfig(stop_points=2.0), le=[0]))
    assert (rounded.exit_idx, rounded.exit_price, rounded.exit_reason) == (2, 98.05, "stop")
    exact = only_trade(run(bars, SimConfig(stop_points=2.0, round_levels=False), le=[0]))
    assert exact.exit_reason != "stop"


def test_short_target_off_the_tick_grid_is_rounded_further() -> None:
    # short entered at 100.03: the 3-point target 97.03 goes on the grid at 97.00
    bars = day([QUIET, (100.03, 100.5, 99.5, 100.0), (99.0, 99.5, 97.01, 98.0),
                (98.0, 98.0, 96.9, 97.5), QUIET])
    trade = only_trade(run(bars, SimConfig(target_points=3.0), se=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (3, 97.0, "target")


@given(price=st.floats(1.0, 1e6), side=st.sampled_from([1.0, -1.0]),
       tick=st.sampled_from([0.05, 0.01, 0.25, 1.0]))
def test_on_tick_rounds_onto_the_grid_in_the_side_s_direction(price: float, side: float,
                                                                tick: float) -> None:
    on = _on_tick(price, side, tick)
    assert abs(on / tick - round(on / tick)) < 1e-6  # on the grid
    assert -1e-9 * price <= (on - price) * side < tick + 1e-9 * price  # within one tick
    assert _on_tick(price, side, 0.0) == price


def test_target_points_gap_through_level_fills_at_open() -> None:
    bars = day([QUIET, QUIET, (105.0, 106.0, 104.5, 105.5), QUIET])
    trade = only_trade(run(bars, SimConfig(target_points=3.0), le=[0]))
    assert (trade.exit_price, trade.exit_reason) == (105.0, "target")


def test_stop_frac_hit_intrabar_fills_at_fraction_below_entry() -> None:
    bars = day([QUIET, QUIET, (99.5, 100.0, 97.0, 99.0), QUIET])
    trade = only_trade(run(bars, SimConfig(stop_frac=0.02), le=[0]))
    assert (trade.exit_price, trade.exit_reason) == (pytest.approx(98.0, abs=1e-9), "stop")


def test_trail_frac_follows_high_exits_at_fraction_below_peak() -> None:
    bars = day([QUIET, (100.0, 100.0, 99.5, 100.0), (100.0, 110.0, 99.0, 109.0),
                (109.0, 109.5, 107.0, 108.0), QUIET])
    trade = only_trade(run(bars, SimConfig(trail_frac=0.02), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (
        3, pytest.approx(107.8, abs=1e-9), "trail")


def test_target_frac_hit_intrabar_fills_at_fraction_above_entry() -> None:
    bars = day([QUIET, QUIET, (100.0, 103.5, 99.5, 103.0), QUIET])
    trade = only_trade(run(bars, SimConfig(target_frac=0.03), le=[0]))
    assert (trade.exit_price, trade.exit_reason) == (pytest.approx(103.0, abs=1e-9), "target")


# --- session clock -----------------------------------------------------------------------------

# 14:56 .. 15:01 on 2025-01-06; bar 4 (15:00) is the cutoff bar.
NEAR_CUTOFF = [(100.0 + i, 100.5 + i, 99.5 + i, 100.2 + i) for i in range(6)]


def test_cutoff_entry_signals_at_or_after_cutoff_not_filled() -> None:
    # The 14:59 signal would fill at the 15:00 open, the 15:00 one at 15:01.
    result = run(day(NEAR_CUTOFF, start="2025-01-06 14:56"), le=[3, 4])
    assert result.trades.empty


def test_cutoff_fill_close_signal_on_cutoff_bar_not_filled() -> None:
    result = run(day(NEAR_CUTOFF, start="2025-01-06 14:56"), SimConfig(fill="close"), le=[4])
    assert result.trades.empty


def test_cutoff_position_open_at_1459_closes_at_1500_open() -> None:
    bars = day(NEAR_CUTOFF, start="2025-01-06 14:56")
    trade = only_trade(run(bars, le=[1]))
    assert (bars.ts[trade.exit_idx].strftime("%H:%M"), trade.exit_price, trade.exit_reason) == (
        "15:00", 104.0, "cutoff")


def test_session_closing_before_cutoff_flattens_at_last_bar_close() -> None:
    # NSE Muhurat trading, 2025-10-21 13:45-14:45: no bar reaches the 15:00 cutoff.
    muhurat = [(100.0, 100.5, 99.5, 100.0), (100.0, 100.5, 99.5, 100.1),
               (100.1, 100.6, 99.6, 100.2), (100.2, 100.7, 99.7, 100.3)]
    bars = make_bars(("2025-10-21 14:41", muhurat), ("2025-10-23 09:15", [QUIET] * 3))
    trade = only_trade(run(bars, le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (3, 100.3, "session_end")


def test_next_open_signal_on_session_last_bar_not_carried_to_next_session() -> None:
    bars = make_bars(("2025-01-06 09:15", [QUIET] * 3), ("2025-01-07 09:15", [QUIET] * 3))
    assert run(bars, le=[2]).trades.empty


def test_max_trades_per_day_limits_entries_in_session() -> None:
    bars = make_bars(("2025-01-06 09:15", [QUIET] * 6), ("2025-01-07 09:15", [QUIET] * 4))
    result = run(bars, SimConfig(max_trades_per_day=1), le=[0, 3, 6], lx=[1])
    assert result.trades["entry_idx"][result.trades["entry_idx"] < 6].tolist() == [1]


def test_max_trades_per_day_count_resets_next_session() -> None:
    bars = make_bars(("2025-01-06 09:15", [QUIET] * 6), ("2025-01-07 09:15", [QUIET] * 4))
    result = run(bars, SimConfig(max_trades_per_day=1), le=[0, 3, 6], lx=[1])
    assert result.trades["entry_idx"].tolist() == [1, 7]


# --- slippage and costs ------------------------------------------------------------------------


def test_slippage_ticks_against_long_on_entry_and_exit() -> None:
    config = SimConfig(slippage_ticks=2, tick_size=0.05)
    trade = only_trade(run(day(STEPS), config, le=[0], lx=[1]))
    assert (trade.entry_price, trade.exit_price) == (101.0 + 2 * 0.05, 102.0 - 2 * 0.05)


def test_slippage_ticks_against_short_on_entry_and_exit() -> None:
    config = SimConfig(slippage_ticks=2, tick_size=0.05)
    trade = only_trade(run(day(STEPS), config, se=[0], sx=[1]))
    assert (trade.entry_price, trade.exit_price) == (101.0 - 2 * 0.05, 102.0 + 2 * 0.05)


NIFTY_STEPS = [(23_500.0, 23_520.0, 23_490.0, 23_505.0), (23_510.0, 23_540.0, 23_500.0, 23_530.0),
               (23_560.0, 23_580.0, 23_550.0, 23_570.0), (23_575.0, 23_590.0, 23_560.0, 23_565.0),
               (23_540.0, 23_550.0, 23_530.0, 23_545.0)]


def test_costs_long_trade_equal_buy_then_sell_order_costs() -> None:
    config = SimConfig(lot_size=75, costs=RATES)
    trade = only_trade(run(day(NIFTY_STEPS), config, le=[0], lx=[1]))
    expected = (order_cost_breakdown(RATES, is_buy=True, notional_inr=23_510.0 * 75).total_inr
                + order_cost_breakdown(RATES, is_buy=False, notional_inr=23_560.0 * 75).total_inr)
    assert trade.costs_inr == pytest.approx(expected, rel=1e-12)


def test_costs_short_trade_equal_sell_then_buy_order_costs() -> None:
    config = SimConfig(lot_size=75, costs=RATES)
    trade = only_trade(run(day(NIFTY_STEPS), config, se=[0], sx=[1]))
    expected = (order_cost_breakdown(RATES, is_buy=False, notional_inr=23_510.0 * 75).total_inr
                + order_cost_breakdown(RATES, is_buy=True, notional_inr=23_560.0 * 75).total_inr)
    assert trade.costs_inr == pytest.approx(expected, rel=1e-12)


def test_costs_net_pnl_is_gross_less_costs() -> None:
    config = SimConfig(lot_size=75, costs=RATES)
    trade = only_trade(run(day(NIFTY_STEPS), config, le=[0], lx=[1]))
    assert trade.gross_pnl_inr == 50.0 * 75
    assert trade.net_pnl_inr == pytest.approx(trade.gross_pnl_inr - trade.costs_inr, rel=1e-12)


def test_equity_each_close_is_capital_plus_realised_less_costs_plus_open_pnl() -> None:
    config = SimConfig(lot_size=75, costs=RATES)
    result = run(day(NIFTY_STEPS), config, le=[0], lx=[2])  # long from bar 1's to bar 3's open
    buy = order_cost_breakdown(RATES, is_buy=True, notional_inr=23_510.0 * 75).total_inr
    sell = order_cost_breakdown(RATES, is_buy=False, notional_inr=23_575.0 * 75).total_inr
    expected = [
        CAPITAL,
        CAPITAL - buy + (23_530.0 - 23_510.0) * 75,
        CAPITAL - buy + (23_570.0 - 23_510.0) * 75,
        CAPITAL - buy - sell + (23_575.0 - 23_510.0) * 75,
        CAPITAL - buy - sell + (23_575.0 - 23_510.0) * 75,
    ]
    np.testing.assert_allclose(result.equity.to_numpy(), expected, rtol=1e-12)


# --- flips, stop-outs, ruin ----------------------------------------------------------------------


FIVE = [(100.0 + i, 100.5 + i, 99.5 + i, 100.2 + i) for i in range(5)]


def test_flip_long_to_short_closes_and_reopens_on_same_bar() -> None:
    trades = run(day(FIVE), le=[0], se=[2]).trades
    assert trades[["side", "entry_idx", "exit_idx", "entry_price", "exit_price"]].to_dict(
        "records") == [
        {"side": "long", "entry_idx": 1, "exit_idx": 3, "entry_price": 101.0,
         "exit_price": 103.0},
        {"side": "short", "entry_idx": 3, "exit_idx": 4, "entry_price": 103.0,
         "exit_price": 104.2},
    ]


def test_bar_that_stops_out_ignores_its_signals() -> None:
    bars = day([QUIET, QUIET, (99.5, 100.0, 97.0, 99.0), QUIET, QUIET])
    result = run(bars, SimConfig(stop_points=2.0), le=[0, 2])
    assert result.trades["exit_reason"].tolist() == ["stop"]


RUIN_BARS = [QUIET, QUIET, (100.0, 100.0, 85.0, 85.0), QUIET, QUIET, QUIET, QUIET]


def test_ruin_equity_at_or_below_zero_closes_position_at_close() -> None:
    # 100,000 units lose 15 points each: 1.5 crore against 10 lakh of capital.
    trade = only_trade(run(day(RUIN_BARS), SimConfig(qty_lots=100_000), le=[0]))
    assert (trade.exit_idx, trade.exit_price, trade.exit_reason) == (2, 85.0, "ruin")


def test_ruin_no_further_trades_taken() -> None:
    result = run(day(RUIN_BARS), SimConfig(qty_lots=100_000), le=[0, 3, 5])
    assert len(result.trades) == 1
    assert result.equity.iloc[-1] == CAPITAL - 15.0 * 100_000


# --- direction and sizing ----------------------------------------------------------------------


def test_direction_long_short_entry_closes_long_without_opening_short() -> None:
    trade = only_trade(run(day(FIVE), SimConfig(direction="long"), le=[0], se=[2]))
    assert (trade.side, trade.exit_idx, trade.exit_reason) == ("long", 3, "signal")


def test_direction_short_long_entries_not_taken() -> None:
    trade = only_trade(run(day(FIVE), SimConfig(direction="short"), le=[0], se=[1]))
    assert (trade.side, trade.entry_idx) == ("short", 2)


def test_size_percent_buys_fraction_of_equity_rounded_down_to_whole_lots() -> None:
    config = SimConfig(size_type="percent", size=0.5, lot_size=75)
    trade = only_trade(run(day(FIVE), config, le=[0], lx=[2]))
    assert trade.qty == (0.5 * CAPITAL / 101.0) // 75 * 75


def test_size_percent_below_one_lot_opens_nothing() -> None:
    config = SimConfig(size_type="percent", size=0.5, lot_size=75, initial_capital_inr=5_000.0)
    assert len(run(day(FIVE), config, le=[0], lx=[2]).trades) == 0


def test_size_percent_second_trade_is_sized_on_equity_after_the_first() -> None:
    config = SimConfig(size_type="percent", size=1.0, fractional=True, fill="close")
    trades = run(day(FIVE), config, le=[0, 2], lx=[1, 3]).trades
    first = trades.iloc[0]
    assert trades.iloc[1].qty == pytest.approx((CAPITAL + first.net_pnl_inr) / 102.2)


def test_size_amount_trades_that_many_units() -> None:
    trade = only_trade(run(day(FIVE), SimConfig(size_type="amount", size=150.0, lot_size=75),
                           le=[0], lx=[2]))
    assert trade.qty == 150


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "field"), [
    ({"stop_points": -1.0}, "stop_points"),
    ({"stop_points": 1.0, "stop_frac": 0.01}, "stop_frac"),
    ({"fill": "x"}, "fill"),
    ({"qty_lots": 0}, "qty_lots"),
    ({"direction": "up"}, "direction"),
    ({"size_type": "equity"}, "size_type"),
    ({"size_type": "percent", "size": 0.0}, "size"),
    ({"size_type": "amount", "size": 10.0, "lot_size": 75}, "size"),
    ({"size": 2.0}, "size"),
], ids=["negative_stop", "stop_points_and_frac", "unknown_fill", "zero_lots", "bad_direction",
        "bad_size_type", "zero_percent", "amount_not_whole_lots", "size_with_lots"])
def test_sim_config_invalid_value_raises_param_error_naming_field(overrides: dict[str, object],
                                                                  field: str) -> None:
    with pytest.raises(ParamError, match=rf"^{field}="):
        SimConfig(**overrides)  # type: ignore[arg-type]


# --- metrics -----------------------------------------------------------------------------------

# Close fills, 1 unit, capital 1,000: trades +10, -6, +6; equity 1000, 1010, 1010, 1004 x4, 1010.
METRIC_CLOSES = [100.0, 110.0, 110.0, 104.0, 104.0, 100.0, 100.0, 106.0]


@pytest.fixture(scope="module")
def metrics() -> dict[str, float]:
    bars = day([(c, c, c, c) for c in METRIC_CLOSES])
    config = SimConfig(fill="close", initial_capital_inr=1_000.0)
    return run(bars, config, le=[0, 2, 5], lx=[1, 3, 7]).metrics


def test_metrics_trades_counts_closed_trades(metrics: dict[str, float]) -> None:
    assert metrics["trades"] == 3


def test_metrics_hit_ratio_is_share_of_winning_trades(metrics: dict[str, float]) -> None:
    assert metrics["hit_ratio"] == pytest.approx(2 / 3)


def test_metrics_profit_factor_is_gains_over_losses(metrics: dict[str, float]) -> None:
    assert metrics["profit_factor"] == pytest.approx(16 / 6)


def test_metrics_max_drawdown_is_deepest_fall_from_equity_peak(
        metrics: dict[str, float]) -> None:
    assert metrics["max_drawdown"] == pytest.approx(6 / 1010)


def test_metrics_total_return_is_final_equity_over_capital(metrics: dict[str, float]) -> None:
    assert metrics["total_return"] == pytest.approx(0.01)


def test_trades_table_holds_every_trade_when_every_bar_flips() -> None:
    # A flip at every close; the last bar's entry is refused (it would close at once).
    n = 120
    bars = day([(100.0 + (i % 7), 101.0 + (i % 7), 99.0 + (i % 7), 100.5 + (i % 7))
                for i in range(n)])
    result = run(bars, SimConfig(fill="close"), le=range(0, n, 2), se=range(1, n, 2))
    assert len(result.trades) == result.metrics["trades"] == n - 1


# --- bad bars ----------------------------------------------------------------------------------


def _frame(**changes: tuple[int, float]) -> pd.DataFrame:
    frame = minute_frame([QUIET] * 4, "2025-01-06 09:15")
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(("column", "value", "shown"), [
    ("close", float("nan"), "nan"), ("low", 0.0, "0.0"), ("open", -5.0, "-5.0"),
], ids=["nan", "zero", "negative"])
def test_bars_from_frame_bad_price_raises_naming_value_and_ts(column: str, value: float,
                                                              shown: str) -> None:
    frame = _frame(**{column: (2, value)})
    with pytest.raises(BarsInputError) as info:
        bars_from_frame(frame, symbol="X", venue="NSE")
    assert column in str(info.value)
    assert shown in str(info.value)
    assert str(frame["ts"].iloc[2]) in str(info.value)


def test_bars_from_frame_unsorted_timestamps_raise_naming_ts() -> None:
    frame = _frame()
    frame.loc[[1, 2], "ts"] = frame["ts"].iloc[[2, 1]].to_numpy()
    with pytest.raises(BarsInputError, match=r"unsorted timestamp 2025-01-06 09:16:00\+05:30"):
        bars_from_frame(frame, symbol="X", venue="NSE")


def test_bars_from_frame_duplicated_timestamps_raise_naming_ts() -> None:
    frame = _frame()
    frame.loc[2, "ts"] = frame["ts"].iloc[1]
    with pytest.raises(BarsInputError,
                       match=r"duplicated timestamp 2025-01-06 09:16:00\+05:30"):
        bars_from_frame(frame, symbol="X", venue="NSE")


def test_bars_from_frame_unknown_symbol_raises_naming_symbol() -> None:
    with pytest.raises(BarsInputError, match="'NOPE'"):
        bars_from_frame(_frame(), symbol="NOPE", venue="NSE")


# --- properties ----------------------------------------------------------------------------------


@st.composite
def random_runs(draw: st.DrawFn) -> tuple[Bars, Signals, SimConfig]:
    """A random valid OHLC path of 60-200 minute bars inside one NSE session (it may cross
    the 15:00 cutoff), random signals, and a config with a stop and zero costs."""
    n = draw(st.integers(60, 200))
    # Minutes after 09:15 of the first bar; half the paths cross the 15:00 cutoff (minute 345).
    offset = draw(st.one_of(st.integers(0, 375 - n), st.integers(346 - n, 375 - n)))
    small = st.floats(-0.004, 0.004, allow_nan=False)
    rets = draw(hnp.arrays(np.float64, n, elements=small, fill=st.nothing()))
    gaps = draw(hnp.arrays(np.float64, n, elements=small, fill=st.nothing()))
    wicks = draw(hnp.arrays(np.float64, (2, n), elements=st.floats(0.0, 0.004),
                            fill=st.nothing()))
    close = 100.0 * np.exp(np.cumsum(rets))
    open_ = np.r_[100.0, close[:-1]] * np.exp(gaps)
    high = np.maximum(open_, close) * (1.0 + wicks[0])
    low = np.minimum(open_, close) * (1.0 - wicks[1])
    start = pd.Timestamp("2025-01-06 09:15") + pd.Timedelta(minutes=offset)
    bars = day(list(zip(open_, high, low, close, strict=True)), start=str(start))
    flags = draw(hnp.arrays(np.bool_, (4, n), elements=st.booleans(), fill=st.nothing()))
    config = SimConfig(
        fill=draw(st.sampled_from(["next_open", "close"])),
        stop_points=draw(st.floats(0.05, 2.0)),
        trail_points=draw(st.sampled_from([0.0, 0.3, 1.0])),
        target_points=draw(st.sampled_from([0.0, 0.5, 2.0])),
        max_trades_per_day=draw(st.sampled_from([0, 1, 5])),
    )
    return bars, Signals(*(np.ascontiguousarray(f) for f in flags)), config


@settings(max_examples=50, deadline=None)
@given(random_runs())
def test_simulate_random_paths_book_consistent_trades(run_case: tuple[Bars, Signals, SimConfig]
                                                      ) -> None:
    bars, sigs, config = run_case
    result = simulate(bars, sigs, config)
    trades = result.trades
    # Every closed trade is in the table, and together they are the whole P&L.
    assert len(trades) == result.metrics["trades"]
    assert trades["net_pnl_inr"].sum() == pytest.approx(result.equity.iloc[-1] - CAPITAL,
                                                        abs=1e-6)
    assert (trades["exit_idx"] >= trades["entry_idx"]).all()
    assert (trades["entry_idx"].to_numpy()[1:] >= trades["exit_idx"].to_numpy()[:-1]).all()
    # A long loses more than the stop only on a gap through the level or a forced/signal exit.
    qty = config.qty
    for trade in trades[trades["side"] == "long"].itertuples():
        if -trade.net_pnl_inr <= config.stop_points * qty + 1e-9:
            continue
        gap_exit = (trade.exit_reason in ("stop", "trail")
                    and trade.exit_price == bars.open[trade.exit_idx])
        assert gap_exit or trade.exit_reason in ("cutoff", "session_end", "signal"), trade


@st.composite
def sparse_multi_session_runs(draw: st.DrawFn) -> tuple[Bars, Signals, SimConfig]:
    """Two to four NSE sessions (some crossing the 15:00 cutoff), sparse random signals (so
    long quiet stretches exist), any stop/trail/target in points or fractions, costs,
    slippage, a trade cap, any sizing and direction and, sometimes, capital small enough to
    be ruined."""
    sessions = []
    for k in range(draw(st.integers(2, 4))):
        n = draw(st.integers(20, 120))
        offset = draw(st.integers(0, 375 - n))
        steps = draw(hnp.arrays(np.float64, n, elements=st.floats(-0.003, 0.003),
                                fill=st.nothing()))
        wick = draw(st.floats(0.0, 0.003))
        close = 100.0 * np.exp(np.cumsum(steps))
        open_ = np.r_[100.0, close[:-1]]
        high = np.maximum(open_, close) * (1.0 + wick)
        low = np.minimum(open_, close) * (1.0 - wick)
        start = pd.Timestamp(f"2025-01-{6 + k:02d} 09:15") + pd.Timedelta(minutes=offset)
        sessions.append((str(start), list(zip(open_, high, low, close, strict=True))))
    bars = make_bars(*sessions)
    density = draw(st.sampled_from([0.02, 0.1, 0.5]))
    seed = draw(st.integers(0, 2**32 - 1))
    on = np.random.default_rng(seed).random((4, len(bars))) < density
    unit = draw(st.sampled_from(["points", "frac"]))
    scale = 1.0 if unit == "points" else 0.01
    config = SimConfig(
        fill=draw(st.sampled_from(["next_open", "close"])),
        **{f"stop_{unit}": draw(st.sampled_from([0.0, 0.2, 1.0])) * scale,
           f"trail_{unit}": draw(st.sampled_from([0.0, 0.3, 0.8])) * scale,
           f"target_{unit}": draw(st.sampled_from([0.0, 0.5, 2.0])) * scale},
        max_trades_per_day=draw(st.sampled_from([0, 2])),
        slippage_ticks=draw(st.sampled_from([0.0, 2.0])),
        lot_size=75, costs=draw(st.sampled_from([None, RATES])),
        initial_capital_inr=draw(st.sampled_from([CAPITAL, 300.0])),
        direction=draw(st.sampled_from(["both", "long", "short"])),
        **draw(st.sampled_from([{}, {"size_type": "amount", "size": 150.0},
                                {"size_type": "percent", "size": 0.5},
                                {"size_type": "percent", "size": 3.0, "fractional": True}])),
    )
    return bars, Signals(*(np.ascontiguousarray(f) for f in on)), config


@settings(max_examples=150, deadline=None)
@given(sparse_multi_session_runs())
def test_simulate_quiet_bar_fast_path_equals_full_path_bit_for_bit(
        run_case: tuple[Bars, Signals, SimConfig]) -> None:
    bars, sigs, config = run_case
    n = len(bars)
    flags = bar_flags(bars.session, bars.cutoff_exit, bars.session_last)
    packed = np.empty(n, dtype=np.uint8)
    pack_signals(*sigs.arrays(), packed)
    outputs = []
    for skip_quiet in (True, False):
        trades, equity, daily = np.zeros((n, N_TRADE_COLS)), np.zeros(n), np.zeros(n)
        metrics = simulate_packed(
            bars.open, bars.high, bars.low, bars.close, flags, bars.entry_ok,
            bars.entry_ok_at_close, bars.flat_at_session_end, packed, config.to_array(),
            config.rates(), True, trades, equity, daily, skip_quiet)
        outputs.append((metrics, trades, equity, daily))
    for fast, full in zip(*outputs, strict=True):
        np.testing.assert_array_equal(fast, full)


# --- regressions from review -------------------------------------------------------------------


def test_close_fill_entry_at_the_cutoff_is_refused() -> None:
    bars = day([QUIET] * 3, start="2025-01-06 14:58")  # 14:58, 14:59, 15:00
    result = run(bars, SimConfig(fill="close"), le=[1])  # 14:59 close = 15:00: flat at once
    assert len(result.trades) == 0


def test_close_fill_entry_on_a_sessions_last_bar_is_refused() -> None:
    bars = day([QUIET] * 3, start="2025-01-06 13:57")  # data ends 13:59, before the cutoff
    result = run(bars, SimConfig(fill="close"), le=[2])
    assert len(result.trades) == 0


def test_bars_from_frame_cutoff_string_is_parsed() -> None:
    frame = minute_frame([QUIET] * 3, "2025-01-06 14:29")
    bars = bars_from_frame(frame, symbol="X", venue="NSE", cutoff="14:30")
    assert bars.cutoff_exit.tolist() == [False, True, False]


def test_bars_from_frame_bad_cutoff_string_names_it() -> None:
    frame = minute_frame([QUIET] * 3, "2025-01-06 14:29")
    with pytest.raises(BarsInputError, match="cutoff='25:00': must be 'venue', 'none' or a time"):
        bars_from_frame(frame, symbol="X", venue="NSE", cutoff="25:00")


def test_bars_from_frame_fx_session_runs_1700_to_1700_new_york() -> None:
    ts = pd.date_range("2025-03-09 17:00", "2025-03-11 16:00", freq="1h",
                       tz="America/New_York")
    frame = pd.DataFrame({"ts": ts, "symbol": "EURUSD", "open": 1.1, "high": 1.2, "low": 1.0,
                          "close": 1.1, "volume": 1.0})
    bars = bars_from_frame(frame, symbol="EURUSD", venue="FX")
    assert bars.session.tolist() == [0] * 24 + [1] * 24  # Sunday evening opens Monday's
    assert bars.bar_in_session[0] == 0 and bars.bar_in_session[24] == 0
