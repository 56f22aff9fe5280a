"""Overfitting statistics: PSR, DSR and PBO against published numbers and independent checks.

Published example: Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", J. Portfolio
Management 40(5): N = 100 trials, V[SR] = 1/2 annualised, best SR 2.5 annualised over
T = 1250 daily returns (250 a year), skewness -3, raw kurtosis 10 -> SR_0 = 0.1132 per day and
DSR = 0.9004. The other numeric checks are against a Monte Carlo simulation or a direct loop.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from pipelines.research.overfitting import (
    OverfittingInputError,
    deflated_sharpe_from_trials,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    mean_metric,
    pbo_across_splits,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe_moments,
)
from tests import reference_stats

DAYS_PER_YEAR = 250  # the convention of the published example
PAPER_SR = 2.5 / math.sqrt(DAYS_PER_YEAR)
PAPER_SR_VARIANCE = 0.5 / DAYS_PER_YEAR
PAPER_T, PAPER_N, PAPER_SKEW, PAPER_KURTOSIS = 1250, 100, -3.0, 10.0

sharpes = st.floats(0.01, 0.25)
lengths = st.integers(10, 300)
skews = st.floats(-2.0, 2.0)


def _row_sharpes(returns: np.ndarray) -> np.ndarray:
    return returns.mean(axis=-1) / returns.std(axis=-1, ddof=1)


# --- probabilistic Sharpe ratio -------------------------------------------------------------


@given(sr=st.floats(-0.5, 0.5), n_obs=lengths, skew=skews, extra=st.floats(0.0, 20.0))
def test_psr_sharpe_equal_to_benchmark_is_one_half(
    sr: float, n_obs: int, skew: float, extra: float
) -> None:
    assert probabilistic_sharpe_ratio(sr, sr, n_obs, skew, 1.0 + skew**2 + extra) == 0.5


def test_psr_normal_returns_matches_monte_carlo_probability() -> None:
    # Under a true SR equal to the benchmark, PSR is P(estimated SR <= observed SR).
    true_sr, observed_sr, n_obs = 0.1, 0.165, 250
    rng = np.random.default_rng(11)
    estimates = _row_sharpes(rng.normal(true_sr, 1.0, (20_000, n_obs)))
    simulated = float(np.mean(estimates <= observed_sr))
    psr = probabilistic_sharpe_ratio(observed_sr, true_sr, n_obs, 0.0, 3.0)
    assert psr == pytest.approx(simulated, abs=0.01)


def test_psr_skewed_returns_standard_error_matches_monte_carlo() -> None:
    # Exponential(1) - 1 + SR has std 1, skewness 2 and raw kurtosis 9 (excess 6): the spread
    # of simulated Sharpe estimates matches raw kurtosis and misses excess kurtosis by ~7 %.
    true_sr, n_obs, gap = 0.3, 400, 0.01
    rng = np.random.default_rng(5)
    simulated_se = _row_sharpes(rng.exponential(1.0, (20_000, n_obs)) - 1.0 + true_sr).std(ddof=1)
    psr = probabilistic_sharpe_ratio(true_sr, true_sr - gap, n_obs, 2.0, 9.0)
    implied_se = gap / stats.norm.ppf(psr)
    assert implied_se == pytest.approx(simulated_se, rel=0.03)


@settings(max_examples=50)
@given(sr=sharpes, n_obs=lengths, skew=skews)
def test_psr_longer_track_record_raises_probability(sr: float, n_obs: int, skew: float) -> None:
    kurtosis = 2.0 + skew**2
    shorter = probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurtosis)
    assert probabilistic_sharpe_ratio(sr, 0.0, n_obs + 50, skew, kurtosis) > shorter


@settings(max_examples=50)
@given(sr=sharpes, n_obs=lengths, skew=skews)
def test_psr_higher_skew_raises_probability(sr: float, n_obs: int, skew: float) -> None:
    kurtosis = 10.0
    lower = probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurtosis)
    assert probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew + 0.5, kurtosis) > lower


@settings(max_examples=50)
@given(sr=sharpes, n_obs=lengths, skew=skews)
def test_psr_fatter_tails_lower_probability(sr: float, n_obs: int, skew: float) -> None:
    kurtosis = 1.0 + skew**2
    thinner = probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurtosis)
    assert probabilistic_sharpe_ratio(sr, 0.0, n_obs, skew, kurtosis + 5.0) < thinner


def test_psr_excess_kurtosis_of_normal_returns_is_refused() -> None:
    with pytest.raises(OverfittingInputError, match=r"kurtosis=0\.0 .*raw kurtosis"):
        probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 0.0)


def test_psr_single_observation_is_refused() -> None:
    with pytest.raises(OverfittingInputError, match="n_obs must be an int >= 2, got 1"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)


# --- moments of a return series -------------------------------------------------------------


def test_sharpe_moments_match_plain_moment_formulas() -> None:
    returns = np.random.default_rng(3).lognormal(0.0, 0.5, 500) - 1.1
    centred = returns - returns.mean()
    m2, m3, m4 = (float(np.mean(centred**k)) for k in (2, 3, 4))
    moments = sharpe_moments(returns)
    assert moments.sr == pytest.approx(returns.mean() / returns.std(ddof=1), rel=1e-12)
    assert moments.skew == pytest.approx(m3 / m2**1.5, rel=1e-10)
    assert moments.kurtosis_raw == pytest.approx(m4 / m2**2, rel=1e-10)
    assert moments.n_obs == 500


def test_sharpe_moments_normal_returns_have_raw_kurtosis_three() -> None:
    moments = sharpe_moments(np.random.default_rng(4).normal(0.0, 1.0, 200_000))
    assert moments.kurtosis_raw == pytest.approx(3.0, abs=0.05)


def test_sharpe_moments_constant_returns_are_refused() -> None:
    with pytest.raises(OverfittingInputError, match="returns must vary"):
        sharpe_moments(np.full(20, 0.01))


def test_sharpe_moments_nan_is_refused_with_its_index() -> None:
    with pytest.raises(OverfittingInputError, match="returns must be finite, got nan at index 2"):
        sharpe_moments([0.01, -0.02, math.nan, 0.03])


# --- expected maximum Sharpe ratio and deflated Sharpe ratio --------------------------------


def test_expected_max_sharpe_reproduces_published_benchmark() -> None:
    assert expected_max_sharpe(PAPER_N, PAPER_SR_VARIANCE) == pytest.approx(0.1132, abs=5e-5)


def test_deflated_sharpe_reproduces_published_example() -> None:
    dsr = deflated_sharpe_ratio(PAPER_SR, PAPER_T, PAPER_SKEW, PAPER_KURTOSIS, PAPER_N,
                                PAPER_SR_VARIANCE)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_published_example_with_excess_kurtosis_is_refused() -> None:
    # vectorbt's pitfall: excess kurtosis 7 is below 1 + (-3)**2 = 10, impossible as raw.
    with pytest.raises(OverfittingInputError, match=r"kurtosis=7\.0"):
        deflated_sharpe_ratio(PAPER_SR, PAPER_T, PAPER_SKEW, PAPER_KURTOSIS - 3.0, PAPER_N,
                              PAPER_SR_VARIANCE)


def test_deflated_sharpe_raw_and_excess_kurtosis_give_different_values() -> None:
    raw = deflated_sharpe_ratio(PAPER_SR, PAPER_T, 0.0, 4.5, PAPER_N, PAPER_SR_VARIANCE)
    excess = deflated_sharpe_ratio(PAPER_SR, PAPER_T, 0.0, 1.5, PAPER_N, PAPER_SR_VARIANCE)
    assert abs(raw - excess) > 1e-3


def test_expected_max_sharpe_matches_monte_carlo_maximum_of_null_strategies() -> None:
    # 400 studies of 100 zero-edge strategies on 250 normal returns each.
    rng = np.random.default_rng(17)
    n_trials, n_obs = 100, 250
    estimates = np.concatenate([
        _row_sharpes(rng.normal(0.0, 1.0, (50, n_trials, n_obs))) for _ in range(8)])
    simulated_max = float(estimates.max(axis=1).mean())
    formula = expected_max_sharpe(n_trials, float(estimates.var(ddof=1)))
    assert formula == pytest.approx(simulated_max, rel=0.04)


def test_expected_max_sharpe_single_trial_is_zero() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0


def test_expected_max_sharpe_negative_variance_is_refused() -> None:
    with pytest.raises(OverfittingInputError, match=r"sr_variance must be >= 0, got -0\.1"):
        expected_max_sharpe(10, -0.1)


def test_expected_max_sharpe_zero_trials_is_refused() -> None:
    with pytest.raises(OverfittingInputError, match="n_trials must be an int >= 1, got 0"):
        expected_max_sharpe(0, 0.01)


@pytest.mark.parametrize("n_trials", [2, 10, 100, 1000])
def test_deflated_sharpe_more_trials_lower_value(n_trials: int) -> None:
    fewer = deflated_sharpe_ratio(0.1, 500, 0.0, 3.0, n_trials, 0.002)
    assert deflated_sharpe_ratio(0.1, 500, 0.0, 3.0, n_trials * 2, 0.002) < fewer


def test_deflated_sharpe_from_trials_counts_every_trial() -> None:
    rng = np.random.default_rng(8)
    returns_best = rng.normal(0.05, 1.0, 750)
    trial_sharpes = rng.normal(0.0, 0.04, 37)
    result = deflated_sharpe_from_trials(returns_best, trial_sharpes)
    moments = sharpe_moments(returns_best)
    assert (result.n_trials, result.n_obs) == (37, 750)
    assert result.sr_variance == pytest.approx(trial_sharpes.var(ddof=1), rel=1e-12)
    assert result.dsr == pytest.approx(deflated_sharpe_ratio(
        moments.sr, 750, moments.skew, moments.kurtosis_raw, 37, trial_sharpes.var(ddof=1)))


def test_deflated_sharpe_from_trials_single_trial_is_refused() -> None:
    with pytest.raises(OverfittingInputError, match=r"trial_sharpes must be 1-D .* shape \(1,\)"):
        deflated_sharpe_from_trials(np.random.default_rng(0).normal(size=50), [0.1])


# --- probability of backtest overfitting (CSCV) ---------------------------------------------


def _pbo_by_direct_loop(perf: np.ndarray, n_splits: int) -> tuple[float, np.ndarray]:
    """CSCV spelled out: slice rows per combination, Sharpe by np.std, rank by rankdata."""
    blocks = np.array_split(np.arange(perf.shape[0]), n_splits)
    logits = []
    for chosen in combinations(range(n_splits), n_splits // 2):
        is_rows = np.concatenate([blocks[b] for b in chosen])
        oos_rows = np.setdiff1d(np.arange(perf.shape[0]), is_rows)
        is_sr = perf[is_rows].mean(axis=0) / perf[is_rows].std(axis=0, ddof=1)
        oos_sr = perf[oos_rows].mean(axis=0) / perf[oos_rows].std(axis=0, ddof=1)
        omega = stats.rankdata(oos_sr)[np.argmax(is_sr)] / (perf.shape[1] + 1)
        logits.append(math.log(omega / (1.0 - omega)))
    return float(np.mean(np.array(logits) <= 0.0)), np.array(logits)


def test_pbo_matches_direct_loop_implementation() -> None:
    perf = np.random.default_rng(21).normal(0.0, 1.0, (48, 9))
    expected_pbo, expected_logits = _pbo_by_direct_loop(perf, 8)
    result = probability_of_backtest_overfitting(perf, n_splits=8)
    assert result.pbo == expected_pbo
    np.testing.assert_allclose(result.logits, expected_logits, rtol=1e-12)


def test_pbo_pure_noise_is_near_one_half() -> None:
    # PBO of a single noise panel is itself noisy (sd ~0.14), so average 16 seeded panels.
    values = [probability_of_backtest_overfitting(
        np.random.default_rng(seed).normal(0.0, 1.0, (250, 200))).pbo for seed in range(16)]
    assert float(np.mean(values)) == pytest.approx(0.5, abs=0.1)


def test_pbo_one_configuration_with_genuine_drift_is_near_zero() -> None:
    perf = np.random.default_rng(2).normal(0.0, 1.0, (250, 200))
    perf[:, 37] += 0.5
    assert probability_of_backtest_overfitting(perf).pbo < 0.02


def test_pbo_anti_persistent_configurations_is_near_one() -> None:
    # Each column sums to zero over T, so whatever it earns in sample it gives back OOS.
    noise = np.random.default_rng(3).normal(0.0, 1.0, (250, 200))
    assert probability_of_backtest_overfitting(noise - noise.mean(axis=0)).pbo > 0.95


def test_pbo_anti_persistent_configurations_lose_out_of_sample() -> None:
    noise = np.random.default_rng(3).normal(0.0, 1.0, (250, 200))
    result = probability_of_backtest_overfitting(noise - noise.mean(axis=0))
    assert result.prob_oos_loss == 1.0
    assert bool(np.all(result.is_metric_best > 0.0))


@pytest.mark.parametrize("n_splits", [2, 4, 8, 16])
def test_pbo_one_logit_per_combination(n_splits: int) -> None:
    perf = np.random.default_rng(n_splits).normal(0.0, 1.0, (250, 20))
    result = probability_of_backtest_overfitting(perf, n_splits=n_splits)
    assert result.n_combinations == math.comb(n_splits, n_splits // 2)
    assert result.logits.shape == result.oos_metric_best.shape == (result.n_combinations,)


def test_pbo_flat_configuration_gives_finite_logits() -> None:
    perf = np.random.default_rng(6).normal(0.0, 1.0, (250, 10))
    perf[:, 0] = 0.0  # a configuration that never trades
    assert bool(np.all(np.isfinite(probability_of_backtest_overfitting(perf).logits)))


def test_pbo_mean_metric_scores_winner_by_in_sample_mean() -> None:
    # The first combination (lexicographic) has the first half of the rows in sample.
    perf = np.random.default_rng(9).normal(0.0, 1.0, (160, 5))
    result = probability_of_backtest_overfitting(perf, n_splits=4, metric=mean_metric)
    in_sample_means = perf[:80].mean(axis=0)
    assert result.is_metric_best[0] == pytest.approx(in_sample_means.max(), rel=1e-12)


@pytest.mark.parametrize(("perf", "n_splits", "message"), [
    (np.zeros((100, 5)), 7, r"n_splits must be even, got 7"),
    (np.zeros((100, 5)), 0, r"n_splits must be an int >= 2, got 0"),
    (np.zeros((10, 5)), 12, r"n_splits=12 exceeds the 10 rows of perf"),
    (np.zeros((100, 1)), 4, r"perf must be a 2-D .* got shape \(100, 1\)"),
    (np.zeros(100), 4, r"perf must be a 2-D .* got shape \(100,\)"),
    (np.where(np.eye(100, 5) > 0, np.nan, 0.0), 4, r"perf must be finite, got nan at row 0"),
    (np.zeros((1000, 5)), 24, r"n_splits=24 gives 2704156 combinations"),
])
def test_pbo_invalid_input_is_refused_naming_argument(
    perf: np.ndarray, n_splits: int, message: str
) -> None:
    with pytest.raises(OverfittingInputError, match=message):
        probability_of_backtest_overfitting(perf, n_splits=n_splits)


def test_pbo_metric_returning_nan_is_refused() -> None:
    perf = np.random.default_rng(1).normal(0.0, 1.0, (40, 4))
    with pytest.raises(OverfittingInputError, match=r"metric=.* returned NaN"):
        probability_of_backtest_overfitting(perf, n_splits=4,
                                            metric=lambda mean, std, n: mean * np.nan)


panels = hnp.arrays(
    np.float64,
    st.tuples(st.integers(8, 40), st.integers(2, 8)),
    elements=st.floats(-1.0, 1.0, allow_subnormal=False),
)


@settings(max_examples=60, deadline=None)
@given(perf=panels, half=st.integers(1, 3))
def test_pbo_is_a_probability(perf: np.ndarray, half: int) -> None:
    result = probability_of_backtest_overfitting(perf, n_splits=2 * half)
    assert 0.0 <= result.pbo <= 1.0
    assert 0.0 <= result.prob_oos_loss <= 1.0


@settings(max_examples=60, deadline=None)
@given(perf=panels, half=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_pbo_is_invariant_to_column_order(perf: np.ndarray, half: int, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(perf.shape[1])
    shuffled = probability_of_backtest_overfitting(perf[:, order], n_splits=2 * half)
    original = probability_of_backtest_overfitting(perf, n_splits=2 * half)
    assert shuffled.pbo == original.pbo
    np.testing.assert_array_equal(shuffled.logits, original.logits)


def test_pbo_uneven_blocks_follow_the_floor_convention() -> None:
    perf = np.random.default_rng(8).normal(0.0, 1.0, (53, 7))  # 53 rows: S = 8 does not divide
    result = probability_of_backtest_overfitting(perf, n_splits=8)
    assert result.pbo == reference_stats.pbo(perf, 8)


def test_pbo_across_splits_leaves_out_counts_the_rows_cannot_hold() -> None:
    perf = np.random.default_rng(4).normal(0.0, 1.0, (12, 5))
    assert list(pbo_across_splits(perf, [16, 8, 7, 10, 12, 14])) == [8, 10, 12]


def test_pbo_across_splits_matches_the_reference_at_each_count() -> None:
    perf = np.random.default_rng(5).normal(0.0, 1.0, (40, 6))
    for n_splits, value in pbo_across_splits(perf, [4, 6, 8]).items():
        assert value == reference_stats.pbo(perf, n_splits), n_splits


def test_pbo_configurations_equal_on_the_oos_half_tie_in_rank() -> None:
    # column 5 trades like column 4 except in the first block: wherever that block is in
    # sample, the two have equal OOS returns and must share (average) their OOS rank
    rng = np.random.default_rng(9)
    perf = rng.normal(0.0, 1e-3, (64, 6))
    perf[:, 4] = rng.normal(3e-4, 1e-3, 64)
    perf[:, 5] = perf[:, 4]
    perf[:8, 5] += rng.normal(0.0, 1e-3, 8)
    result = probability_of_backtest_overfitting(perf, n_splits=8)
    np.testing.assert_allclose(result.logits, reference_stats.cscv_logits(perf, 8), rtol=1e-12)
