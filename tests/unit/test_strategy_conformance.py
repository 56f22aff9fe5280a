"""Conformance of every registered strategy: the contract research and live both rely on.

Each strategy, with its default params and a few drawn from its declared space, on real-ish
minute bars (the shipped synthetic NSE dataset and the ``tests.stubs`` factory): output as long
as the input, inputs untouched, deterministic, no look-ahead; its params frozen, keyword-only
and validated; its grid evaluation equal to a standalone backtest.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets.schema import read_dataset
from strategies.bars import Bars, BarsInputError, bars_from_frame
from strategies.costs import load_cost_rates
from strategies.grid import run_grid
from strategies.params import ParamError, expand_space, get_params, params_hash
from strategies.roster import STRATEGIES
from strategies.signals import Signals, resolve_by_priority
from strategies.sim_kernel import METRIC_NAMES
from strategies.simulator import SimConfig, simulate
from strategies.spec import StrategySpec
from tests.stubs import nse_minute_bars
from tests.synthetic_datasets import nse_index_1m_path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET_SESSIONS = 20
SOURCES = ("dataset", "stub")

# One value per strategy that its params class must reject, and the field the error names.
INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "ema_cross": ({"fast": 21, "slow": 21}, "slow"),
    "atr_reversal": ({"k": 0.0}, "k"),
    "atr_divergence": ({"left": 0}, "left"),
    "range_breakout": ({"mode": "weekly"}, "mode"),
}


def _sample_params(spec: StrategySpec) -> list[Any]:
    """The default params plus the first, middle and last combination of the declared space."""
    space = list(expand_space(spec.params_cls, spec.space))
    picks = [spec.default_params(), space[0], space[len(space) // 2], space[-1]]
    return list(dict.fromkeys(picks))


def _label(params: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in get_params(params).items())


SPECS = [pytest.param(spec, id=name) for name, spec in STRATEGIES.items()]
CASES = [
    pytest.param(spec, params, id=f"{name}-{_label(params)}")
    for name, spec in STRATEGIES.items()
    for params in _sample_params(spec)
]


@pytest.fixture(scope="module")
def dataset_bars() -> Bars:
    """The first sessions of the synthetic NSE dataset, built in process by its DVC stage's
    command (no ``dvc repro`` needed)."""
    frame = read_dataset(nse_index_1m_path())
    nifty = frame[frame["symbol"] == "NIFTY"]
    days = nifty["ts"].dt.normalize()
    first = days.drop_duplicates().iloc[:DATASET_SESSIONS]
    return bars_from_frame(nifty[days.isin(first)], symbol="NIFTY", venue="NSE")


@pytest.fixture(scope="module")
def stub_bars() -> Bars:
    frame = nse_minute_bars(start=date(2025, 1, 6), end=date(2025, 1, 17))
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE")


@pytest.fixture(params=SOURCES)
def bars(request: pytest.FixtureRequest) -> Bars:
    return request.getfixturevalue(f"{request.param}_bars")


def _array_fields(bars: Bars) -> dict[str, np.ndarray]:
    return {name: np.asarray(getattr(bars, name)) for name in Bars.__dataclass_fields__
            if isinstance(getattr(bars, name), np.ndarray | pd.DatetimeIndex)}


def _assert_same_signals(left: Signals, right: Signals) -> None:
    for name, a, b in zip(("long_entry", "long_exit", "short_entry", "short_exit"),
                          left.arrays(), right.arrays(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


def _cut_points(bars: Bars, need: int) -> list[int]:
    """Truncation points: the warm-up boundary, a session's first bar, inside its opening
    range, mid-session, and near the end."""
    second = int(np.flatnonzero(bars.session == 1)[0])
    cuts = [need, second, second + 1, second + 7, second + 160, len(bars) // 2 + 37,
            len(bars) - 1]
    return sorted({k for k in cuts if need <= k < len(bars)})


# --- signals on real bars ------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_signals_on_real_bars_length_equals_bars(spec: StrategySpec, params: Any,
                                                 bars: Bars) -> None:
    signals = spec.signals(bars, params)
    assert [len(a) for a in signals.arrays()] == [len(bars)] * 4


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_signals_on_real_bars_leave_inputs_unmutated(spec: StrategySpec, params: Any,
                                                     bars: Bars) -> None:
    before = {name: value.copy() for name, value in _array_fields(bars).items()}
    spec.signals(bars, params)
    after = _array_fields(bars)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_signals_on_real_bars_two_runs_identical(spec: StrategySpec, params: Any,
                                                 bars: Bars) -> None:
    _assert_same_signals(spec.signals(bars, params), spec.signals(bars, params))


@pytest.mark.parametrize(("spec", "params"), CASES)
def test_signals_on_truncated_bars_equal_prefix_of_full_run(spec: StrategySpec, params: Any,
                                                            bars: Bars) -> None:
    full = spec.signals(bars, params)
    for k in _cut_points(bars, spec.warmup(params) + 2):
        cut = spec.signals(bars.slice(k), params)
        prefix = Signals(*(a[:k] for a in full.arrays()))
        _assert_same_signals(cut, prefix)


@pytest.mark.parametrize("spec", SPECS)
def test_signals_default_params_on_real_bars_produce_entries(spec: StrategySpec,
                                                             bars: Bars) -> None:
    # Guards the checks above against passing vacuously on all-False signals.
    signals = spec.signals(bars, spec.default_params())
    assert signals.long_entry.any() or signals.short_entry.any()


@pytest.mark.parametrize("spec", SPECS)
def test_signals_bars_shorter_than_warmup_raise_naming_strategy(spec: StrategySpec,
                                                                stub_bars: Bars) -> None:
    params = spec.default_params()
    short = stub_bars.slice(spec.warmup(params) + 1)
    with pytest.raises(BarsInputError, match=spec.name):
        spec.signals(short, params)


@pytest.mark.parametrize("spec", SPECS)
def test_signals_bars_exactly_warmup_long_are_accepted(spec: StrategySpec,
                                                       stub_bars: Bars) -> None:
    params = spec.default_params()
    need = spec.warmup(params) + 2
    assert len(spec.signals(stub_bars.slice(need), params)) == need


# --- params --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_params_assignment_raises_frozen_error(spec: StrategySpec) -> None:
    params = spec.default_params()
    field = dataclasses.fields(params)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(params, field, getattr(params, field))


@pytest.mark.parametrize("spec", SPECS)
def test_params_positional_construction_raises_type_error(spec: StrategySpec) -> None:
    values = list(get_params(spec.default_params()).values())
    with pytest.raises(TypeError):
        spec.params_cls(*values)


@pytest.mark.parametrize("spec", SPECS)
def test_params_unknown_field_raises_type_error(spec: StrategySpec) -> None:
    with pytest.raises(TypeError, match="no_such_field"):
        spec.params_cls(no_such_field=1)


@pytest.mark.parametrize("spec", SPECS)
def test_params_invalid_value_raises_param_error_naming_field(spec: StrategySpec) -> None:
    overrides, field = INVALID[spec.name]
    with pytest.raises(ParamError, match=rf"^{field}="):
        spec.params_cls(**overrides)


@pytest.mark.parametrize("spec", SPECS)
def test_params_default_is_inside_declared_space(spec: StrategySpec) -> None:
    default = spec.default_params()
    assert spec.make_params(**get_params(default)) == default


@pytest.mark.parametrize("spec", SPECS)
def test_expand_space_every_combination_accepted_by_make_params(spec: StrategySpec) -> None:
    combos = list(expand_space(spec.params_cls, spec.space))
    assert combos
    for params in combos:
        assert isinstance(params, spec.params_cls)
        assert spec.make_params(**get_params(params)) == params


@pytest.mark.parametrize("spec", SPECS)
def test_params_hash_repeated_calls_stable(spec: StrategySpec) -> None:
    default = spec.default_params()
    rebuilt = spec.make_params(**get_params(default))
    assert params_hash(default) == params_hash(default) == params_hash(rebuilt)


@pytest.mark.parametrize("spec", SPECS)
def test_params_hash_distinct_params_differ(spec: StrategySpec) -> None:
    combos = list(expand_space(spec.params_cls, spec.space))
    assert len({params_hash(p) for p in combos}) == len(combos)


# --- grid ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_run_grid_metrics_equal_single_backtest_metrics(spec: StrategySpec, bars: Bars) -> None:
    space = list(expand_space(spec.params_cls, spec.space))
    combos = [space[0], space[len(space) // 3], space[-1]]
    config = SimConfig(lot_size=75, stop_points=25.0, slippage_ticks=1,
                       costs=load_cost_rates(on=date(2025, 1, 1)))
    grid = run_grid(spec, bars, config, combos)
    for row, params in zip(grid.metrics, combos, strict=True):
        single = simulate(bars, spec.signals(bars, params), config).metrics
        assert list(row) == [single[name] for name in METRIC_NAMES], _label(params)


# --- priority ------------------------------------------------------------------------------


def _signals(n: int, **on: list[int]) -> Signals:
    arrays = {name: np.zeros(n, dtype=bool) for name in
              ("long_entry", "long_exit", "short_entry", "short_exit")}
    for name, bars_on in on.items():
        arrays[name][bars_on] = True
    return Signals(**arrays)


def test_resolve_by_priority_same_bar_entries_lower_priority_number_wins() -> None:
    ema, breakout = STRATEGIES["ema_cross"], STRATEGIES["range_breakout"]
    resolved = resolve_by_priority([
        (ema.priority, _signals(6, long_entry=[3])),
        (breakout.priority, _signals(6, short_entry=[3])),
    ])
    assert breakout.priority < ema.priority
    assert resolved.entry_owner.tolist() == [-1, -1, -1, 1, -1, -1]
    assert (resolved.signals.short_entry[3], resolved.signals.long_entry[3]) == (True, False)


def test_resolve_by_priority_exits_from_any_strategy_kept() -> None:
    ema, breakout = STRATEGIES["ema_cross"], STRATEGIES["range_breakout"]
    resolved = resolve_by_priority([
        (ema.priority, _signals(6, long_entry=[1], long_exit=[2], short_exit=[5])),
        (breakout.priority, _signals(6, long_entry=[1], long_exit=[4], short_exit=[0])),
    ])
    assert np.flatnonzero(resolved.signals.long_exit).tolist() == [2, 4]
    assert np.flatnonzero(resolved.signals.short_exit).tolist() == [0, 5]


# --- strategy-specific regressions found by this suite --------------------------------------


def test_range_breakout_opening_range_of_first_session_includes_its_first_bar() -> None:
    # A first bar whose high no later close reaches: no long breakout in that session.
    frame = nse_minute_bars(start=date(2025, 1, 6), end=date(2025, 1, 6))
    frame.loc[0, "high"] = frame["close"].max() + 1_000.0
    bars = bars_from_frame(frame, symbol="NIFTY", venue="NSE")
    spec = STRATEGIES["range_breakout"]
    signals = spec.signals(bars, spec.make_params(mode="opening", range_bars=5))
    assert not signals.long_entry.any()
