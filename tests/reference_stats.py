"""Textbook DSR and CSCV PBO, written independently of ``pipelines.research.overfitting``.

The tests use these as the reference when they recompute a recorded version's statistics:
plain loops and scipy, no code shared with the implementation under test.

- DSR: Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", eq. (2) for the
  expected maximum Sharpe ratio of N trials with variance V, and the PSR with the *raw*
  kurtosis gamma4 (3 for normal returns).
- PBO: Bailey, Borwein, López de Prado & Zhu (2017), CSCV: S contiguous blocks, every choice
  of S/2 in-sample blocks, the in-sample winner's relative OOS rank w, logit ln(w / (1 - w)),
  PBO = share of logits <= 0. Block k holds rows floor(kT/S) .. floor((k+1)T/S) - 1; an
  in-sample tie is resolved against the strategy (its worst OOS member); OOS ranks of ties are
  averaged (the documented convention).
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy import stats

EULER_MASCHERONI = 0.5772156649015329


def moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """Per-observation Sharpe (ddof=1), skewness and raw kurtosis (moment estimators), T."""
    r = np.asarray(returns, dtype=float)
    centred = r - r.mean()
    m2, m3, m4 = (float(np.mean(centred**k)) for k in (2, 3, 4))
    return float(r.mean() / r.std(ddof=1)), m3 / m2**1.5, m4 / m2**2, len(r)


def dsr(sr: float, skew: float, kurtosis_raw: float, t: int, n_trials: int,
        var_trial_sr: float) -> float:
    """Deflated Sharpe ratio from its six inputs (raw kurtosis)."""
    sr0 = math.sqrt(var_trial_sr) * (
        (1 - EULER_MASCHERONI) * stats.norm.ppf(1 - 1 / n_trials)
        + EULER_MASCHERONI * stats.norm.ppf(1 - 1 / (n_trials * math.e)))
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(
        1 - skew * sr + (kurtosis_raw - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


def trial_sharpes(trials: np.ndarray) -> np.ndarray:
    """Sharpe ratio of every trial column that varies (a flat column never traded)."""
    return np.array([c.mean() / c.std(ddof=1) for c in trials.T if np.std(c) > 0])


def _sharpe(block: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = block.mean(axis=0) / block.std(axis=0, ddof=1)
    return np.where(np.isnan(s), 0.0, s)


def cscv_logits(perf: np.ndarray, n_splits: int) -> np.ndarray:
    """The logit of every CSCV combination (lexicographic order of the IS blocks)."""
    n_rows, n_cols = perf.shape
    edges = [k * n_rows // n_splits for k in range(n_splits + 1)]
    blocks = [np.arange(edges[k], edges[k + 1]) for k in range(n_splits)]
    logits = []
    for chosen in combinations(range(n_splits), n_splits // 2):
        is_rows = np.concatenate([blocks[b] for b in chosen])
        oos_rows = np.setdiff1d(np.arange(n_rows), is_rows)
        is_sr, oos_sr = _sharpe(perf[is_rows]), _sharpe(perf[oos_rows])
        tied = np.flatnonzero(is_sr == is_sr.max())
        winner = tied[np.argmin(oos_sr[tied])]
        w = stats.rankdata(oos_sr)[winner] / (n_cols + 1)
        logits.append(math.log(w / (1 - w)))
    return np.array(logits)


def pbo(perf: np.ndarray, n_splits: int) -> float:
    """CSCV probability of backtest overfitting of a T x N return matrix."""
    return float(np.mean(cscv_logits(perf, n_splits) <= 0.0))
