"""The runner's bar-close decisions (the simulator's rules mirrored) and its per-symbol bar
history (session clock, trimming, ordering, mixed timezone objects)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.runner.decisions import (
    Decision,
    Rules,
    UnsupportedVersionError,
    check_supported,
    decide,
    protective_levels,
)
from live.runner.feed import FeedBar
from live.runner.history import OutOfOrderBarError, SymbolHistory
from strategies.bars import Bars, bars_from_frame
from strategies.signals import Signals
from strategies.simulator import SimConfig, simulate
from strategies.venues import get_venue
from tests.stubs import nse_minute_bars

IST = ZoneInfo("Asia/Kolkata")
ROOT = Path(__file__).resolve().parents[2]
NSE = get_venue("NSE")
RULES = Rules(qty=75, max_trades_per_day=0, cutoff=time(15, 0), bar=timedelta(minutes=1),
              tz="Asia/Kolkata")
MORNING = datetime(2025, 3, 3, 10, 0, tzinfo=IST)
NONE, LONG_IN, LONG_OUT, SHORT_IN = ((False,) * 4, (True, False, False, False),
                                     (False, True, False, False), (False, False, True, False))


def decided(pos: int, signals: tuple[bool, bool, bool, bool], *, ts: datetime = MORNING,
            session_ends: bool = False, trades_today: int = 0,
            rules: Rules = RULES) -> list[Decision]:
    return decide(pos=pos, signals=signals, ts=ts, session_ends=session_ends,
                  trades_today=trades_today, rules=rules)


def at(hour: int, minute: int, day: int = 3) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=IST)


# --- decide -----------------------------------------------------------------------------------


def test_decide_flat_with_long_entry_enters_long_once() -> None:
    assert decided(0, LONG_IN) == [Decision("enter", 1, "entry")]


def test_decide_flat_with_short_entry_enters_short() -> None:
    assert decided(0, SHORT_IN) == [Decision("enter", -1, "entry")]


def test_decide_long_with_exit_signal_exits() -> None:
    assert decided(1, LONG_OUT) == [Decision("exit", -1, "signal")]


def test_decide_long_with_short_entry_exits_then_enters_short() -> None:
    assert decided(1, SHORT_IN) == [Decision("exit", -1, "signal"),
                                    Decision("enter", -1, "entry")]


def test_decide_short_with_long_entry_exits_then_enters_long() -> None:
    assert decided(-1, LONG_IN) == [Decision("exit", 1, "signal"), Decision("enter", 1, "entry")]


def test_decide_flat_with_both_entries_at_once_does_nothing() -> None:
    assert decided(0, (True, False, True, False)) == []


def test_decide_long_with_its_own_entry_again_does_not_pyramid() -> None:
    assert decided(1, LONG_IN) == []


def test_decide_at_close_before_cutoff_bar_with_position_exits_on_cutoff_only() -> None:
    flip = (False, True, True, False)  # long exit and short entry: a flip at any other time
    assert decided(1, flip, ts=at(14, 59)) == [Decision("exit", -1, "cutoff")]


def test_decide_at_close_before_cutoff_bar_flat_does_not_enter() -> None:
    assert decided(0, LONG_IN, ts=at(14, 59)) == []


def test_decide_entry_when_next_bar_is_after_cutoff_is_refused() -> None:
    assert decided(0, SHORT_IN, ts=at(15, 10)) == []


def test_decide_entry_two_bars_before_cutoff_is_allowed() -> None:
    assert decided(0, LONG_IN, ts=at(14, 58)) == [Decision("enter", 1, "entry")]


def test_decide_entry_with_cutoff_none_is_allowed_late_in_the_session() -> None:
    rules = Rules(qty=75, max_trades_per_day=0, cutoff=None, bar=timedelta(minutes=1),
                  tz="Asia/Kolkata")
    assert decided(0, LONG_IN, ts=at(15, 20), rules=rules) == [Decision("enter", 1, "entry")]


def test_decide_cutoff_is_read_in_venue_time_whatever_the_input_tz() -> None:
    in_utc = at(14, 59).astimezone(UTC)  # 09:29 UTC
    assert decided(1, NONE, ts=in_utc) == [Decision("exit", -1, "cutoff")]


def test_decide_position_still_open_after_cutoff_is_flattened() -> None:
    assert decided(1, NONE, ts=at(15, 5)) == [Decision("exit", -1, "cutoff")]


def test_decide_max_trades_per_day_reached_refuses_entry() -> None:
    rules = Rules(qty=75, max_trades_per_day=2, cutoff=time(15, 0), bar=timedelta(minutes=1),
                  tz="Asia/Kolkata")
    assert decided(0, LONG_IN, trades_today=2, rules=rules) == []


def test_decide_max_trades_per_day_reached_still_exits_on_flip() -> None:
    rules = Rules(qty=75, max_trades_per_day=1, cutoff=time(15, 0), bar=timedelta(minutes=1),
                  tz="Asia/Kolkata")
    assert decided(1, SHORT_IN, trades_today=1, rules=rules) == [
        Decision("exit", -1, "signal")]


def test_decide_max_trades_per_day_below_limit_enters() -> None:
    rules = Rules(qty=75, max_trades_per_day=2, cutoff=time(15, 0), bar=timedelta(minutes=1),
                  tz="Asia/Kolkata")
    assert decided(0, LONG_IN, trades_today=1, rules=rules) == [Decision("enter", 1, "entry")]


@pytest.mark.parametrize("pos, signals", [(0, LONG_IN), (1, SHORT_IN), (-1, NONE)])
def test_decide_at_session_end_does_nothing(pos: int, signals: tuple[bool, ...]) -> None:
    assert decided(pos, signals, ts=at(15, 29), session_ends=True) == []  # type: ignore[arg-type]


# --- decide mirrors the simulator -------------------------------------------------------------


def _afternoons() -> Bars:
    """Two NSE afternoons (14:30-15:29): entries, the cutoff, session ends and a new day."""
    frame = nse_minute_bars(start=date(2025, 1, 6), end=date(2025, 1, 7))
    local = frame["ts"].dt.tz_convert("Asia/Kolkata")
    return bars_from_frame(frame[local.dt.time >= time(14, 30)].reset_index(drop=True),
                           symbol="NIFTY", venue="NSE")


AFTERNOONS = _afternoons()


def _session_ends(ts: pd.Timestamp, nxt: pd.Timestamp | None) -> bool:
    """The runner's rule: the next bar is another day or at/after the venue close."""
    step = ts + pd.Timedelta(minutes=1)
    return step.date() != ts.date() or step.time() >= time(15, 30) or nxt is None


def _stepped(bars: Bars, sig: Signals, rules: Rules) -> list[tuple[int, int, int, str]]:
    """Trades of decide() stepped bar by bar, each order filled at the next bar's open."""
    trades, pos, entry, pending, today = [], 0, 0, [], 0
    for t in range(len(bars)):
        if t > 0 and bars.session[t] != bars.session[t - 1]:
            today = 0
        for d in pending:
            if d.action == "exit":
                trades.append((entry, t, pos, d.reason))
                pos = 0
            else:
                pos, entry = d.side, t
        nxt = bars.ts[t + 1] if t + 1 < len(bars) else None
        pending = decide(pos=pos, signals=tuple(bool(a[t]) for a in sig.arrays()),
                         ts=bars.ts[t].to_pydatetime(),
                         session_ends=_session_ends(bars.ts[t], nxt), trades_today=today,
                         rules=rules)
        today += sum(d.action == "enter" for d in pending)
    return trades


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.02, 0.5),
       max_trades=st.integers(0, 3))
def test_decide_stepped_bar_by_bar_trades_like_the_simulator(seed: int, density: float,
                                                             max_trades: int) -> None:
    n = len(AFTERNOONS)
    rng = np.random.default_rng(seed)
    sig = Signals(*(rng.random(n) < density for _ in range(4)))
    rules = Rules(qty=1, max_trades_per_day=max_trades, cutoff=time(15, 0),
                  bar=timedelta(minutes=1), tz="Asia/Kolkata")
    table = simulate(AFTERNOONS, sig, SimConfig(max_trades_per_day=max_trades)).trades
    expected = [(int(a), int(b), 1 if s == "long" else -1, r) for a, b, s, r in zip(
        table["entry_idx"], table["exit_idx"], table["side"], table["exit_reason"],
        strict=True)]
    assert _stepped(AFTERNOONS, sig, rules) == expected


# --- check_supported --------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["stop", "trail", "target"])
def test_check_supported_with_points_and_frac_of_one_rule_refuses_version(rule: str) -> None:
    with pytest.raises(UnsupportedVersionError, match=f"{rule}_points and sim.{rule}_frac"):
        check_supported({f"{rule}_points": 5.0, f"{rule}_frac": 0.01})


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_check_supported_with_bad_stop_value_refuses_naming_it(value: float) -> None:
    with pytest.raises(UnsupportedVersionError, match="stop_points"):
        check_supported({"stop_points": value})


def test_check_supported_with_stop_trail_and_target_accepts_version() -> None:
    check_supported({"stop_points": 20.0, "trail_frac": 0.002, "target_points": 40.0})


def test_check_supported_with_fill_close_refuses_version() -> None:
    with pytest.raises(UnsupportedVersionError, match="close"):
        check_supported({"fill": "close"})


def test_check_supported_with_zero_rules_and_next_open_accepts_version() -> None:
    check_supported({"stop_points": 0, "trail_frac": 0.0, "target_points": None,
                     "fill": "next_open", "qty_lots": 2})


# --- SymbolHistory ----------------------------------------------------------------------------


def bar(ts: datetime, close: float = 100.0) -> FeedBar:
    return FeedBar("NIFTY", ts, close, close + 1.0, close - 1.0, close, 1_000.0)


def history_of(*stamps: datetime, max_sessions: int = 5) -> SymbolHistory:
    history = SymbolHistory("NIFTY", NSE, max_sessions)
    for i, ts in enumerate(stamps):
        history.append(bar(ts, 100.0 + i))
    return history


def test_history_two_days_numbers_sessions_and_bars_in_session() -> None:
    bars = history_of(at(9, 15), at(9, 16), at(9, 17), at(9, 15, day=4), at(9, 16, day=4)).bars()
    assert bars.session.tolist() == [0, 0, 0, 1, 1]
    assert bars.bar_in_session.tolist() == [0, 1, 2, 0, 1]


def test_history_append_first_bar_of_a_day_reports_a_new_session() -> None:
    history = history_of(at(9, 15), at(9, 16))
    assert [history.append(bar(at(9, 17))), history.append(bar(at(9, 15, day=4)))] == [
        False, True]


def test_history_beyond_max_sessions_keeps_only_the_last_sessions() -> None:
    history = history_of(at(9, 15), at(9, 16), at(9, 15, day=4), at(9, 16, day=4),
                         at(9, 15, day=5), max_sessions=2)
    bars = history.bars()
    assert len(history) == 3
    assert list(bars.ts) == [pd.Timestamp(at(9, 15, day=4)), pd.Timestamp(at(9, 16, day=4)),
                             pd.Timestamp(at(9, 15, day=5))]
    assert bars.bar_in_session.tolist() == [0, 1, 0]
    assert bars.close.tolist() == [102.0, 103.0, 104.0]


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=-1)])
def test_history_bar_at_or_before_the_last_raises_out_of_order(offset: timedelta) -> None:
    history = history_of(at(9, 15), at(9, 16))
    with pytest.raises(OutOfOrderBarError, match="NIFTY"):
        history.append(bar(at(9, 16) + offset))
    assert len(history) == 2


def test_history_mixed_fixed_offset_and_zoneinfo_bars_form_one_session() -> None:
    fixed = datetime(2025, 3, 3, 9, 15, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    history = history_of(fixed, at(9, 16), datetime(2025, 3, 3, 3, 47, tzinfo=UTC))
    bars = history.bars()
    assert bars.session.tolist() == [0, 0, 0]
    assert bars.bar_in_session.tolist() == [0, 1, 2]
    assert [t.strftime("%H:%M") for t in bars.ts] == ["09:15", "09:16", "09:17"]
    assert str(bars.ts.tz) == "Asia/Kolkata"


def test_history_mixed_tz_older_bar_in_another_tz_raises_out_of_order() -> None:
    history = history_of(at(9, 16))
    with pytest.raises(OutOfOrderBarError):
        history.append(bar(datetime(2025, 3, 3, 3, 45, tzinfo=UTC)))  # 09:15 IST


# --- protective levels (the simulator's compiled level functions) -----------------------------


def _rules(**levels: float) -> Rules:
    return Rules(qty=75, max_trades_per_day=0, cutoff=None, bar=timedelta(minutes=1),
                 tz="Asia/Kolkata", **levels)


def test_protective_levels_long_stop_and_target_in_points() -> None:
    assert protective_levels(1, 100.0, 100.0, _rules(stop_points=2.0, target_points=3.0)) == (
        98.0, 103.0)


def test_protective_levels_short_stop_above_target_below() -> None:
    assert protective_levels(-1, 100.0, 100.0, _rules(stop_points=2.0, target_points=3.0)) == (
        102.0, 97.0)


def test_protective_levels_trail_tighter_than_stop_after_a_run_up() -> None:
    # stop 98; the peak 104 puts the 2-point trail at 102, which stops first
    assert protective_levels(1, 100.0, 104.0, _rules(stop_points=2.0, trail_points=2.0)) == (
        102.0, None)


def test_protective_levels_fractions_of_the_entry_and_the_peak() -> None:
    stop, target = protective_levels(1, 200.0, 210.0, _rules(stop_frac=0.01, trail_frac=0.02,
                                                             target_frac=0.05))
    assert (stop, target) == (pytest.approx(205.8), pytest.approx(210.0))


def test_protective_levels_without_rules_are_none() -> None:
    assert protective_levels(1, 100.0, 120.0, _rules()) == (None, None)


@pytest.mark.parametrize("sim", [{"size_type": "percent", "size": 1.0},
                                 {"direction": "long"}, {"fractional": True}])
def test_check_supported_sizing_or_direction_the_runner_does_not_trade_is_refused(
        sim: dict) -> None:
    with pytest.raises(UnsupportedVersionError, match=next(iter(sim))):
        check_supported(sim)


def test_check_supported_default_sizing_and_direction_are_accepted() -> None:
    check_supported({"size_type": "lots", "direction": "both", "fractional": False})


_RUNTIME_CALLS = """
from datetime import time, timedelta
from live.runner.decisions import Rules, decide, preload_rules, protective_levels
from strategies import rules
from tests.unit.test_runner_decisions import LONG_IN, MORNING

kernels = (rules.decide, rules.room_for_entry, rules.entry_levels, rules.trail_level,
           rules.stop_level)
assert all(not k.overloads for k in kernels), "loaded before preload_rules"
assert preload_rules() == len(kernels)
loaded = [sorted(map(str, k.overloads)) for k in kernels]
stopped = Rules(qty=75, max_trades_per_day=2, cutoff=time(15, 0), bar=timedelta(minutes=1),
                tz="Asia/Kolkata", stop_points=20.0, trail_frac=0.01, target_points=40.0,
                level_tick=0.05)
decide(pos=1, signals=(False, True, True, False), ts=MORNING, session_ends=False,
       trades_today=0, rules=stopped)
decide(pos=0, signals=LONG_IN, ts=MORNING, session_ends=False, trades_today=1, rules=stopped)
protective_levels(-1, 101.0, 99.5, stopped)
assert [sorted(map(str, k.overloads)) for k in kernels] == loaded, "a call compiled more"
"""


def test_preloaded_rules_are_the_overloads_the_runner_calls() -> None:
    # a fresh process: in this one, earlier tests may have loaded the overloads already;
    # a call with other argument types than preload_rules' would load one on a live bar
    done = subprocess.run([sys.executable, "-c", _RUNTIME_CALLS], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
