"""Overfitting statistics that gate a strategy: PSR, deflated Sharpe ratio and PBO (CSCV).

All Sharpe ratios here are per observation (not annualised): ``mean / std`` of the same
returns whose count is ``n_obs``. Kurtosis is always the *raw* fourth standardised moment
(3 for a normal distribution), never scipy's default excess kurtosis. A kurtosis below
``1 + skew**2`` is impossible for any distribution and is refused, which catches excess
kurtosis passed as raw whenever it falls below that floor (near-normal returns, say).

Sources: Bailey & López de Prado (2012, 2014) for PSR and DSR; Bailey, Borwein, López de
Prado & Zhu (2014, 2017) for the expected maximum Sharpe ratio and PBO. Full references are
in each function's docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations, islice

import numpy as np
import numpy.typing as npt
from scipy import stats

from strategies.errors import StratopsError

FloatArray = npt.NDArray[np.float64]
# metric(mean, std, n_obs) -> per-column score; arrays are (combinations, N) and n_obs (C, 1)
PboMetric = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]

EULER_GAMMA = 0.5772156649015329
MAX_COMBINATIONS = 1_000_000  # C(22, 11) = 705,432 is the largest even n_splits below it
_CHUNK_CELLS = 1 << 17  # gathered (combination, block, column) sums per vectorised step


class OverfittingInputError(StratopsError, ValueError):
    """An argument that the overfitting statistics cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class SharpeMoments:
    """Per-observation Sharpe ratio, skewness and raw kurtosis of one return series."""

    sr: float
    skew: float
    kurtosis_raw: float
    n_obs: int


@dataclass(frozen=True, slots=True)
class DsrResult:
    """The deflated Sharpe ratio with every input it was computed from (for the audit trail)."""

    dsr: float
    sr: float
    sr_benchmark: float
    n_obs: int
    skew: float
    kurtosis_raw: float
    n_trials: int
    sr_variance: float


@dataclass(frozen=True, slots=True)
class PboResult:
    """CSCV outcome: PBO, one logit per combination, and the IS/OOS scores of each IS winner."""

    pbo: float
    logits: FloatArray
    n_combinations: int
    is_metric_best: FloatArray
    oos_metric_best: FloatArray
    prob_oos_loss: float


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise OverfittingInputError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise OverfittingInputError(f"{name} must be finite, got {value!r}")
    return float(value)


def _integer(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise OverfittingInputError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _finite_vector(name: str, values: npt.ArrayLike, min_len: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size < min_len:
        raise OverfittingInputError(
            f"{name} must be 1-D with at least {min_len} values, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise OverfittingInputError(
            f"{name} must be finite, got {float(arr[bad[0]])!r} at index {int(bad[0])}")
    return arr


def sharpe_moments(returns: npt.ArrayLike) -> SharpeMoments:
    """Per-observation Sharpe ratio (``mean / std``, ``ddof=1``), skewness and raw kurtosis.

    Skewness and kurtosis are the plain moment estimators ``m3 / m2**1.5`` and ``m4 / m2**2``
    with ``m_k`` the central sample moments divided by ``T`` (``scipy.stats`` with
    ``bias=True``; kurtosis with ``fisher=False``), i.e. the sample counterparts of the
    population moments in the standard error of the Sharpe ratio [1]_. This estimator always
    satisfies ``kurtosis_raw >= 1 + skew**2``, which :func:`probabilistic_sharpe_ratio`
    checks; the bias-corrected one need not.

    Parameters
    ----------
    returns : array_like
        1-D series of at least two finite per-period returns (excess of the benchmark rate).

    Returns
    -------
    SharpeMoments

    Raises
    ------
    OverfittingInputError
        If ``returns`` is not 1-D, is shorter than 2, holds non-finite values or is constant.

    References
    ----------
    .. [1] D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier",
       *Journal of Risk* 15(2), 3-44 (2012).
    """
    arr = _finite_vector("returns", returns, 2)
    if np.all(arr == arr[0]):
        raise OverfittingInputError(
            f"returns must vary, got a constant series of {float(arr[0])!r}")
    return SharpeMoments(
        sr=float(arr.mean() / arr.std(ddof=1)),
        skew=float(stats.skew(arr, bias=True)),
        kurtosis_raw=float(stats.kurtosis(arr, fisher=False, bias=True)),
        n_obs=int(arr.size),
    )


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark`` (PSR) [1]_.

    ``PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR**2))`` [1]_, with
    ``SR`` the observed per-observation Sharpe ratio, ``g3`` the skewness and ``g4`` the raw
    kurtosis of the ``T`` returns it was estimated from.

    Parameters
    ----------
    sr : float
        Observed Sharpe ratio, per observation (not annualised).
    sr_benchmark : float
        Benchmark Sharpe ratio ``SR*`` in the same units.
    n_obs : int
        Number of returns ``T`` (at least 2).
    skew : float
        Skewness of the returns.
    kurtosis : float
        Raw (non-excess) kurtosis of the returns; 3 for a normal distribution.

    Returns
    -------
    float
        PSR in ``[0, 1]``.

    Raises
    ------
    OverfittingInputError
        On a non-finite argument, ``n_obs < 2``, or ``kurtosis < 1 + skew**2`` (which no
        distribution has; the excess kurtosis of near-normal returns, for instance).

    References
    ----------
    .. [1] D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier",
       *Journal of Risk* 15(2), 3-44 (2012).
    """
    sr, sr_benchmark = _finite("sr", sr), _finite("sr_benchmark", sr_benchmark)
    skew, kurtosis = _finite("skew", skew), _finite("kurtosis", kurtosis)
    n_obs = _integer("n_obs", n_obs, 2)
    floor = 1.0 + skew**2
    if kurtosis < floor * (1.0 - 1e-9):  # Pearson's inequality; tolerance for rounding
        raise OverfittingInputError(
            f"kurtosis={kurtosis!r} is below 1 + skew**2 = {floor!r}: pass the raw kurtosis "
            "(3 for normal returns), not the excess kurtosis")
    spread = max(1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2, 0.0)
    edge = (sr - sr_benchmark) * math.sqrt(n_obs - 1)
    if spread == 0.0:  # a degenerate two-point distribution: the estimate has no error
        return 0.5 if edge == 0.0 else float(edge > 0.0)
    return float(stats.norm.cdf(edge / math.sqrt(spread)))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios whose true value is zero.

    ``E[max SR] ~ sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, with
    ``gamma`` the Euler-Mascheroni constant [1]_; the DSR uses it as its benchmark ``SR_0``
    [2]_. A single trial involves no selection, so ``n_trials == 1`` gives 0.

    Parameters
    ----------
    n_trials : int
        Number of independent configurations tried, ``N >= 1``.
    sr_variance : float
        Variance ``V`` of the trials' Sharpe ratios, in the units of the Sharpe ratio compared
        with the result (per observation here).

    Returns
    -------
    float
        The expected maximum Sharpe ratio (per observation when ``sr_variance`` is).

    Raises
    ------
    OverfittingInputError
        If ``n_trials < 1`` or ``sr_variance`` is negative or not finite.

    References
    ----------
    .. [1] D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "Pseudo-Mathematics
       and Financial Charlatanism: The Effects of Backtest Overfitting on Out-of-Sample
       Performance", *Notices of the American Mathematical Society* 61(5), 458-471 (2014).
    .. [2] D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
       Selection Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio
       Management* 40(5), 94-107 (2014).
    """
    n_trials = _integer("n_trials", n_trials, 1)
    sr_variance = _finite("sr_variance", sr_variance)
    if sr_variance < 0.0:
        raise OverfittingInputError(f"sr_variance must be >= 0, got {sr_variance!r}")
    if n_trials == 1:
        return 0.0
    quantiles = ((1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials)
                 + EULER_GAMMA * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e)))
    return float(math.sqrt(sr_variance) * quantiles)


def deflated_sharpe_ratio(
    sr: float, n_obs: int, skew: float, kurtosis: float, n_trials: int, sr_variance: float
) -> float:
    """Deflated Sharpe ratio: the PSR against the Sharpe ratio expected from luck alone [1]_.

    ``DSR = PSR(SR_0)`` with ``SR_0 = expected_max_sharpe(n_trials, sr_variance)`` [1]_. It
    corrects the selected strategy's Sharpe ratio for the number of trials behind it, for the
    track-record length and for non-normal returns.

    Parameters
    ----------
    sr : float
        Observed per-observation Sharpe ratio of the selected configuration.
    n_obs : int
        Number of returns it was estimated from.
    skew : float
        Skewness of those returns.
    kurtosis : float
        Raw (non-excess) kurtosis of those returns; 3 for a normal distribution.
    n_trials : int
        Number of independent configurations tried, the selected one included.
    sr_variance : float
        Variance of the trials' per-observation Sharpe ratios.

    Returns
    -------
    float
        DSR in ``[0, 1]``; low values flag a selection that luck explains.

    Raises
    ------
    OverfittingInputError
        As :func:`probabilistic_sharpe_ratio` and :func:`expected_max_sharpe`.

    References
    ----------
    .. [1] D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
       Selection Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio
       Management* 40(5), 94-107 (2014).
    """
    benchmark = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(sr, benchmark, n_obs, skew, kurtosis)


def deflated_sharpe_from_trials(
    returns_best: npt.ArrayLike, trial_sharpes: npt.ArrayLike
) -> DsrResult:
    """DSR of the selected configuration, from its returns and every trial's Sharpe ratio [1]_.

    ``n_trials`` is the real count of ``trial_sharpes`` and ``sr_variance`` their sample
    variance (``ddof=1``) [1]_; the moments come from :func:`sharpe_moments`.

    Parameters
    ----------
    returns_best : array_like
        1-D per-period returns of the selected configuration.
    trial_sharpes : array_like
        Per-observation Sharpe ratio of every configuration tried, the selected one included
        (at least 2), on the same observations as ``returns_best``.

    Returns
    -------
    DsrResult

    Raises
    ------
    OverfittingInputError
        If either array is malformed, or as :func:`deflated_sharpe_ratio`.

    References
    ----------
    .. [1] D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
       Selection Bias, Backtest Overfitting and Non-Normality", *Journal of Portfolio
       Management* 40(5), 94-107 (2014).
    """
    moments = sharpe_moments(returns_best)
    trials = _finite_vector("trial_sharpes", trial_sharpes, 2)
    n_trials, sr_variance = int(trials.size), float(trials.var(ddof=1))
    benchmark = expected_max_sharpe(n_trials, sr_variance)
    dsr = probabilistic_sharpe_ratio(
        moments.sr, benchmark, moments.n_obs, moments.skew, moments.kurtosis_raw)
    return DsrResult(dsr=dsr, sr=moments.sr, sr_benchmark=benchmark, n_obs=moments.n_obs,
                     skew=moments.skew, kurtosis_raw=moments.kurtosis_raw,
                     n_trials=n_trials, sr_variance=sr_variance)


def sharpe_metric(mean: FloatArray, std: FloatArray, n_obs: FloatArray) -> FloatArray:
    """Per-observation Sharpe ratio; a zero-variance column scores ``sign(mean) * inf``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / std
    ratio[np.isnan(ratio)] = 0.0  # 0 / 0: flat and zero-variance
    return ratio


def mean_metric(mean: FloatArray, std: FloatArray, n_obs: FloatArray) -> FloatArray:
    """Mean return per observation."""
    return mean


def _validated_perf(perf: npt.ArrayLike, n_splits: int) -> FloatArray:
    matrix = np.ascontiguousarray(perf, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise OverfittingInputError(
            f"perf must be a 2-D (T observations x N >= 2 configurations) array, "
            f"got shape {matrix.shape}")
    bad = np.argwhere(~np.isfinite(matrix))
    if bad.size:
        row, col = (int(i) for i in bad[0])
        raise OverfittingInputError(
            f"perf must be finite, got {float(matrix[row, col])!r} at row {row}, column {col}")
    n_splits = _integer("n_splits", n_splits, 2)
    if n_splits % 2:
        raise OverfittingInputError(f"n_splits must be even, got {n_splits!r}")
    if n_splits > matrix.shape[0]:
        raise OverfittingInputError(
            f"n_splits={n_splits!r} exceeds the {matrix.shape[0]} rows of perf")
    if math.comb(n_splits, n_splits // 2) > MAX_COMBINATIONS:
        raise OverfittingInputError(
            f"n_splits={n_splits!r} gives {math.comb(n_splits, n_splits // 2)} combinations, "
            f"more than {MAX_COMBINATIONS}")
    return matrix


def _in_sample_blocks(n_splits: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The IS block indices of the first half of the combinations, in lexicographic order,
    and each one's complement (its OOS blocks), both ``(C/2, S/2)``.

    That half is the combinations holding block 0; in lexicographic order the complement of
    combination ``c`` is combination ``C - 1 - c``, so it stands for the other half.
    """
    half = math.comb(n_splits, n_splits // 2) // 2
    chosen = np.array(list(islice(combinations(range(n_splits), n_splits // 2), half)),
                      dtype=np.intp).reshape(half, n_splits // 2)
    is_chosen = np.zeros((half, n_splits), dtype=bool)
    np.put_along_axis(is_chosen, chosen, True, axis=1)
    others = np.nonzero(~is_chosen)[1].reshape(half, n_splits // 2).astype(np.intp)
    return chosen, others


def _block_scores(
    sums: FloatArray, squares: FloatArray, n_obs: FloatArray, metric: PboMetric,
) -> FloatArray:
    """Metric of each column over a set of blocks, from the power sums of its rows."""
    mean = sums / n_obs
    variance = sums * mean
    np.subtract(squares, variance, out=variance)
    variance /= np.maximum(n_obs - 1.0, 1.0)
    np.maximum(variance, 0.0, out=variance)
    std = np.sqrt(variance, out=variance)
    score = np.asarray(metric(mean, std, n_obs), dtype=np.float64)
    if np.isnan(score).any():
        raise OverfittingInputError(f"metric={metric!r} returned NaN scores")
    return score


def _winner_scores(
    is_score: FloatArray, oos_score: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """IS score, OOS score and OOS rank (1 = worst, ties averaged) of each IS winner.

    Ties for the IS best are resolved pessimistically (fail closed): the tied configuration
    with the lowest OOS score is taken, so the result does not depend on column order.
    """
    top = is_score.max(axis=1, keepdims=True)
    oos_best = np.where(is_score == top, oos_score, np.inf).min(axis=1, keepdims=True)
    below = np.count_nonzero(oos_score < oos_best, axis=1)
    equal = np.count_nonzero(oos_score == oos_best, axis=1)
    return top[:, 0], oos_best[:, 0], below + (equal + 1) / 2.0


def _cscv_winners(
    matrix: FloatArray, n_splits: int, metric: PboMetric
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """IS score, OOS score and OOS rank of the IS winner of every combination (lex order).

    Each side's sums are gathered from per-block sums of the raw rows (not centred, not a
    total minus the other side), so two configurations with equal returns on a side get
    bit-identical scores there and tie, as they do in a direct computation; a configuration
    that is flat on a side scores exactly 0.
    """
    n_rows, n_cols = matrix.shape
    edges = (np.arange(n_splits + 1) * n_rows) // n_splits
    # [block sums | block sums of squares]; summed over chosen blocks by gather + sum (not a
    # BLAS product) so every column sees the same arithmetic wherever it sits in perf
    power_sums = np.add.reduceat(np.hstack([matrix, matrix * matrix]), edges[:-1], axis=0)
    chosen, others = _in_sample_blocks(n_splits)
    block_rows = np.diff(edges).astype(np.float64)
    first_n_obs = block_rows[chosen].sum(axis=1)

    forward, backward = [], []
    step = max(1, _CHUNK_CELLS // (n_cols * chosen.shape[1]))
    for start in range(0, chosen.shape[0], step):
        first_sums = power_sums[chosen[start:start + step]].sum(axis=1)
        rest_sums = power_sums[others[start:start + step]].sum(axis=1)
        n_first = first_n_obs[start:start + step, None]
        first = _block_scores(first_sums[:, :n_cols], first_sums[:, n_cols:], n_first, metric)
        rest = _block_scores(rest_sums[:, :n_cols], rest_sums[:, n_cols:], n_rows - n_first,
                             metric)
        forward.append(_winner_scores(first, rest))  # IS = the blocks holding block 0
        backward.append(_winner_scores(rest, first))  # IS = their complements
    # the complement of lexicographic combination c is combination C - 1 - c
    is_best, oos_best, rank = (
        np.concatenate([*(f[i] for f in forward), np.concatenate([b[i] for b in backward])[::-1]])
        for i in range(3)
    )
    return is_best, oos_best, rank


def probability_of_backtest_overfitting(
    perf: npt.ArrayLike, n_splits: int = 16, metric: PboMetric = sharpe_metric
) -> PboResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation [1]_.

    The ``T`` rows of ``perf`` are cut into ``n_splits`` contiguous blocks (sizes differ by at
    most one row). For each of the ``C(S, S/2)`` ways to pick half the blocks as in-sample
    (IS), the rest being out-of-sample (OOS), the configuration ``n*`` with the best IS
    ``metric`` is located in the OOS ranking: ``w = rank / (N + 1)`` (rank 1 = worst),
    ``logit = ln(w / (1 - w))``. PBO is the share of combinations with ``logit <= 0``, i.e.
    where the IS winner is at or below the OOS median [1]_.

    Block convention (what must be matched to recompute a recorded PBO): block ``k``
    (``0 <= k < S``) holds rows ``floor(k T / S)`` to ``floor((k + 1) T / S) - 1``, in time
    order, so when ``S`` does not divide ``T`` the longer blocks are spread through the
    series (``np.array_split`` would put them all first; the two agree when ``S`` divides
    ``T``). The score is the per-observation Sharpe ratio (``ddof=1``; a zero-variance
    column scores ``sign(mean) * inf``, a flat one 0). An IS tie is resolved against the
    strategy: among tied IS winners the one with the lowest OOS score counts. OOS ranks of
    ties are averaged, and a logit of exactly 0 counts as overfit. PBO moves with ``S``
    (fewer, longer blocks or more, shorter ones), so :func:`pbo_across_splits` reports it
    at several block counts.

    IS and OOS means and standard deviations come from per-block power sums of the rows, so
    each combination costs ``O(N)``; combinations are evaluated in vectorised, cache-sized chunks,
    and a combination and its complement (IS and OOS swapped) share one evaluation. Results
    are in the lexicographic order of the IS block sets.

    Parameters
    ----------
    perf : array_like
        ``T x N`` matrix of per-period returns: rows are observations in time order, columns
        are the ``N >= 2`` configurations tried.
    n_splits : int, default 16
        Number of blocks ``S``: even, ``2 <= S <= T``, and ``C(S, S/2) <= MAX_COMBINATIONS``.
    metric : callable, default :func:`sharpe_metric`
        ``metric(mean, std, n_obs) -> score`` on ``(combinations, N)`` arrays (``n_obs`` is
        ``(combinations, 1)``); higher is better, NaN is refused. :func:`mean_metric` is the
        other built-in.

    Returns
    -------
    PboResult
        ``pbo``, the logit of every combination, their count, the IS and OOS scores of each
        IS winner (the performance-degradation pairs) and ``prob_oos_loss``, the share of
        combinations where the IS winner scores below zero OOS.

    Raises
    ------
    OverfittingInputError
        If ``perf`` is not a finite 2-D array with ``N >= 2``, ``n_splits`` is invalid, or
        ``metric`` returns NaN.

    References
    ----------
    .. [1] D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of
       Backtest Overfitting", *Journal of Computational Finance* 20(4), 39-69 (2017).
    """
    matrix = _validated_perf(perf, n_splits)
    is_best, oos_best, rank = _cscv_winners(matrix, n_splits, metric)
    n_cols = matrix.shape[1]
    return PboResult(
        pbo=float(np.mean(2.0 * rank <= n_cols + 1.0)),
        logits=np.log(rank / (n_cols + 1.0 - rank)),
        n_combinations=int(rank.size),
        is_metric_best=is_best,
        oos_metric_best=oos_best,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
    )


def usable_splits(n_obs: int, splits: Iterable[int]) -> list[int]:
    """The block counts of ``splits`` CSCV can use on ``n_obs`` rows: even, ``2 <= S <= T``
    and ``C(S, S/2) <= MAX_COMBINATIONS``; sorted, without repeats."""
    return sorted({int(s) for s in splits
                   if 2 <= s <= n_obs and s % 2 == 0
                   and math.comb(int(s), int(s) // 2) <= MAX_COMBINATIONS})


def pbo_across_splits(
    perf: npt.ArrayLike, splits: Iterable[int], metric: PboMetric = sharpe_metric
) -> dict[int, float]:
    """PBO of ``perf`` at each usable block count of ``splits`` (see :func:`usable_splits`).

    PBO depends on the number of blocks ``S``, a free choice of the method [1]_; its spread
    over a few ``S`` shows how much a verdict at one ``S`` owes to that choice.

    Parameters
    ----------
    perf : array_like
        ``T x N`` per-period returns, as :func:`probability_of_backtest_overfitting` takes.
    splits : iterable of int
        Candidate block counts; unusable ones are left out.
    metric : callable, default :func:`sharpe_metric`

    Returns
    -------
    dict[int, float]
        ``{S: PBO}`` in increasing ``S``; empty when no count is usable.

    Raises
    ------
    OverfittingInputError
        As :func:`probability_of_backtest_overfitting`.

    References
    ----------
    .. [1] D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of
       Backtest Overfitting", *Journal of Computational Finance* 20(4), 39-69 (2017).
    """
    matrix = np.asarray(perf, dtype=np.float64)
    n_obs = matrix.shape[0] if matrix.ndim == 2 else 0
    return {s: probability_of_backtest_overfitting(matrix, n_splits=s, metric=metric).pbo
            for s in usable_splits(n_obs, splits)}
