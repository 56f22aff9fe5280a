"""Strategy health (strategies/health.py): the CUSUMs catch an injected edge decay within N
trades and stay quiet on a healthy stream (false-alarm rate over seeds), and bad
expectations or limits are refused with the field named."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from live.governance.policy import PolicyConfigError, load_policy
from strategies.health import (
    HealthExpectation,
    HealthExpectationError,
    HealthLimits,
    HealthState,
    observe,
)
from strategies.version_config import VersionConfig, VersionConfigError
from tests.unit.test_runner_engine import strategy_config

QTY = 75
SEEDS = 200
HEALTHY_TRADES = 250  # about a year of a strategy trading once a day


def first_alarm(pnl: npt.ArrayLike, expectation: HealthExpectation, limits: HealthLimits,
                qty: int = QTY) -> int | None:
    state = HealthState()
    for i, x in enumerate(np.asarray(pnl, dtype=np.float64), start=1):
        step = observe(state, float(x), expectation, qty, limits)
        if step.breaches:
            return i
        state = step.state
    return None


def skewed(rng: np.random.Generator, n: int, shift_inr: float = 0.0) -> npt.NDArray[np.float64]:
    """Intraday-like trade P&L: 45 % winners (exponential, mean 1500), losers cut shorter
    (mean 900), minus ``shift_inr`` per trade (the injected decay)."""
    win = rng.random(n) < 0.45
    return np.where(win, rng.exponential(1500.0, n), -rng.exponential(900.0, n)) - shift_inr


@pytest.fixture(scope="module")
def expectation() -> HealthExpectation:
    found = HealthExpectation.from_trades(skewed(np.random.default_rng(0), 2000), QTY)
    assert found is not None
    return found


def test_healthy_stream_false_alarm_rate_over_seeds_is_below_five_percent(
        expectation: HealthExpectation) -> None:
    alarms = [first_alarm(skewed(np.random.default_rng(s), HEALTHY_TRADES), expectation,
                          HealthLimits()) for s in range(SEEDS)]
    rate = np.mean([a is not None for a in alarms])
    assert rate < 0.05, rate  # measured 0.025 over 200 seeds


@pytest.mark.parametrize(("k_sigma", "within", "share"), [(1.0, 30, 0.95), (1.5, 15, 0.95)])
def test_pnl_shifted_by_k_sigma_is_caught_within_n_trades(
        expectation: HealthExpectation, k_sigma: float, within: int, share: float) -> None:
    shift = k_sigma * expectation.pnl_std_inr
    alarms = [first_alarm(skewed(np.random.default_rng(1000 + s), 100, shift), expectation,
                          HealthLimits()) for s in range(SEEDS)]
    caught = np.mean([a is not None and a <= within for a in alarms])
    assert caught >= share, caught  # measured 0.99 (1 sigma, median 12), 1.0 (1.5 sigma)


def test_hit_ratio_collapse_alone_is_caught_by_the_bernoulli_cusum(
        expectation: HealthExpectation) -> None:
    """Winners fall from 45 % to 20 %, each winner larger, so the mean P&L holds."""
    rng = np.random.default_rng(7)
    win = rng.random(200) < 0.20
    pnl = np.where(win, rng.exponential(4700.0, 200), -rng.exponential(900.0, 200))
    limits = HealthLimits(cusum_h=1e6)  # the P&L CUSUM out of the way
    at = first_alarm(pnl, expectation, limits)
    assert at is not None and at <= 60
    state = HealthState()
    for x in pnl[:at]:
        step = observe(state, float(x), expectation, QTY, limits)
        state = step.state
    assert step.breaches and step.breaches[0].startswith("hit-ratio CUSUM")


def test_alarm_restarts_the_statistics_at_zero(expectation: HealthExpectation) -> None:
    step = observe(HealthState(3, 6.9, 0.0), -10 * expectation.pnl_std_inr, expectation, QTY,
                   HealthLimits())
    assert step.breaches and step.state == HealthState()


def test_pnl_is_judged_at_the_live_quantity(expectation: HealthExpectation) -> None:
    """A canary at a third of research's size: a third of the P&L is the expected trade."""
    mean, std = expectation.at_qty(QTY // 3)
    step = observe(HealthState(), mean, expectation, QTY // 3, HealthLimits(margin_se=0.0))
    assert step.z == pytest.approx(0.0) and std == pytest.approx(expectation.pnl_std_inr / 3)


def test_expectation_from_fewer_than_two_distinct_trades_is_none() -> None:
    assert HealthExpectation.from_trades([100.0], QTY) is None
    assert HealthExpectation.from_trades([5.0, 5.0, 5.0], QTY) is None


@pytest.mark.parametrize(("field", "value", "match"), [
    ("hit_ratio", 1.5, "hit_ratio=1.5: must be <= 1"),
    ("pnl_std_inr", 0.0, "pnl_std_inr=0.0: must be > 0"),
    ("pnl_per_trade_inr", float("nan"), "pnl_per_trade_inr=nan: must be a finite"),
    ("trades", 1, "trades=1: must be an int >= 2"),
    ("qty", 0, "qty=0: must be an int >= 1"),
])
def test_bad_expectation_in_a_version_config_is_refused_naming_the_field(
        expectation: HealthExpectation, field: str, value: object, match: str) -> None:
    config = {**strategy_config(), "health": {**expectation.to_json(), field: value}}
    with pytest.raises(VersionConfigError, match=f"model_config.health.{match}"):
        VersionConfig.from_json(config)


def test_version_config_round_trips_its_health_expectation(
        expectation: HealthExpectation) -> None:
    config = VersionConfig.from_json({**strategy_config(), "health": expectation.to_json()})
    assert config.health == expectation
    assert VersionConfig.from_json(config.to_json()) == config
    assert "health" not in VersionConfig.from_json(strategy_config()).to_json()


def test_unknown_health_key_is_refused(expectation: HealthExpectation) -> None:
    with pytest.raises(VersionConfigError, match=r"unknown keys \['sharpe'\]"):
        VersionConfig.from_json({**strategy_config(),
                                 "health": {**expectation.to_json(), "sharpe": 1.0}})


def test_limits_out_of_range_are_refused() -> None:
    with pytest.raises(HealthExpectationError, match=r"signal_governance.health.hit_shift=0.7"):
        HealthLimits(hit_shift=0.7)


def test_policy_health_block_is_validated(tmp_path: object) -> None:
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    text = (repo / "policy.yaml").read_text().replace("cusum_h: 7.0", "cusum_h: -1.0")
    path = Path(str(tmp_path)) / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyConfigError, match="cusum_h"):
        load_policy(path)
    assert load_policy(repo / "policy.yaml").health_limits() == HealthLimits()


def test_limits_problem_names_a_thin_expectation(expectation: HealthExpectation) -> None:
    thin = HealthExpectation(trades=12, hit_ratio=0.5, pnl_per_trade_inr=10.0,
                             pnl_std_inr=100.0, qty=QTY)
    assert "12 OOS trades" in str(HealthLimits().problem(thin))
    assert HealthLimits().problem(expectation) is None
    assert "no health expectation" in str(HealthLimits().problem(None))


def test_thin_expectations_false_alarm_rate_over_seeds_is_below_ten_percent() -> None:
    """Expectations measured on only 60 OOS trades (their sampling error is the risk): the
    ``margin_se`` allowance keeps the false alarms of a healthy year rare."""
    rates = []
    for r in range(10):
        thin = HealthExpectation.from_trades(skewed(np.random.default_rng(5000 + r), 60), QTY)
        assert thin is not None
        alarms = [first_alarm(skewed(np.random.default_rng(s), HEALTHY_TRADES), thin,
                              HealthLimits()) for s in range(20)]
        rates.append(np.mean([a is not None for a in alarms]))
    assert np.mean(rates) < 0.10, rates  # measured 0.06 (0.21 without the allowance)


def test_research_expectation_scales_each_trade_to_the_median_quantity() -> None:
    import pandas as pd

    from pipelines.research.study import health_expectation
    from strategies.simulator import SimConfig

    trades = pd.DataFrame({"qty": [75, 75, 150, 75], "net_pnl_inr": [100.0, -50.0, 400.0, 30.0]})
    found = health_expectation(trades, SimConfig(lot_size=75, slippage_ticks=2.0,
                                                 tick_size=0.05))
    assert found is not None and found.qty == 75 and found.trades == 4
    assert found.pnl_per_trade_inr == pytest.approx((100 - 50 + 200 + 30) / 4)
    assert found.hit_ratio == 0.75 and found.slippage_points == pytest.approx(0.1)
    assert health_expectation(trades.iloc[:0], SimConfig()) is None


# --- slippage per fill ---------------------------------------------------------------------

FILLS = 1000  # about a year of a strategy filling four times a day


def first_slip_alarm(excess_bps: npt.ArrayLike, expectation: HealthExpectation,
                     limits: HealthLimits, per_trade: int = 1) -> int | None:
    """The fill (rounded up to ``per_trade``: the fills observed at each trade) after which
    the slippage CUSUM alarms; each trade is a flat one that cannot alarm the P&L or
    hit-ratio CUSUMs on its own."""
    state = HealthState()
    values = np.asarray(excess_bps, dtype=np.float64)
    for i in range(0, len(values), per_trade):
        step = observe(state, expectation.pnl_per_trade_inr, expectation, QTY, limits,
                       [float(x) for x in values[i:i + per_trade]])
        if any("slippage CUSUM" in b for b in step.breaches):
            return min(i + per_trade, len(values))
        state = step.state
    return None


def healthy_slippage(rng: np.random.Generator, n: int, tails: str) -> npt.NDArray[np.float64]:
    """A healthy stream's excess slippage in bps: zero mean, sd ``slip_sigma_bps`` (2),
    normal or Student-t(4) (heavy-tailed, scaled to the same sd)."""
    if tails == "normal":
        return rng.normal(0.0, 2.0, n)
    return 2.0 * rng.standard_t(4, n) / np.sqrt(2.0)


@pytest.mark.parametrize("tails", ["normal", "student_t4"])
def test_healthy_slippage_false_alarm_rate_over_seeds(expectation: HealthExpectation,
                                                      tails: str) -> None:
    limits = HealthLimits()
    alarms = [first_slip_alarm(healthy_slippage(np.random.default_rng(s), FILLS, tails),
                               expectation, limits, per_trade=4) for s in range(SEEDS)]
    rate = np.mean([a is not None for a in alarms])
    assert rate < 0.02, rate  # measured 0.000 for both over 200 seeds x 1,000 fills


def test_injected_extra_slippage_is_caught(expectation: HealthExpectation) -> None:
    """One sigma (2 bps) more slippage per fill than research charged: caught in every seed,
    95 % within 36 fills (measured: median 19, 95th percentile 35)."""
    limits = HealthLimits()
    alarms = [first_slip_alarm(np.random.default_rng(s).normal(2.0, 2.0, 200), expectation,
                               limits) for s in range(SEEDS)]
    assert all(a is not None for a in alarms)
    assert np.percentile([a for a in alarms if a is not None], 95) <= 36


def test_slippage_excess_is_the_tca_arrival_slippage_less_research() -> None:
    from strategies.health import slippage_excess_bps
    exp = HealthExpectation(trades=100, hit_ratio=0.5, pnl_per_trade_inr=0.0,
                            pnl_std_inr=1.0, qty=QTY, slippage_points=1.0)
    # a buy filled 3 points above a 20,000 arrival, research charged 1: 2 points = 1 bp
    assert slippage_excess_bps(1, 20_003.0, 20_000.0, exp) == pytest.approx(1.0)
    # a sell filled 1 point below: exactly research's slippage
    assert slippage_excess_bps(-1, 19_999.0, 20_000.0, exp) == pytest.approx(0.0)
    with pytest.raises(HealthExpectationError, match=r"arrival 0\.0"):
        slippage_excess_bps(1, 1.0, 0.0, exp)


def test_one_freak_fill_does_not_alarm_alone(expectation: HealthExpectation) -> None:
    """Winsorised at 3 sigmas: a 100-bps fill adds 2.5 to the statistic, not 49.5."""
    assert first_slip_alarm([100.0] + [0.0] * 50, expectation, HealthLimits()) is None
    assert first_slip_alarm([100.0] * 5, expectation, HealthLimits()) == 5


def test_slippage_limits_out_of_range_are_refused(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(HealthExpectationError, match=r"health.slip_sigma_bps=0.0"):
        HealthLimits(slip_sigma_bps=0.0)
    with pytest.raises(HealthExpectationError, match=r"health.slip_h=-1"):
        HealthLimits(slip_h=-1)
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "policy.yaml").read_text().replace("slip_sigma_bps: 2.0", "slip_sigma_bps: 0")
    path = Path(str(tmp_path)) / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyConfigError, match="slip_sigma_bps"):
        load_policy(path)
