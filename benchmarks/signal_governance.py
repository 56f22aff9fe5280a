"""Signal governance measurements: the regime classifier's out-of-sample balanced accuracy,
and the drift monitor's false-alarm rate and detection power, over generator seeds.

    .venv/bin/python benchmarks/signal_governance.py [--seeds 5] [--onsets 4] [--within 3]

Accuracy: the research training code (:func:`train_regime_model`) on the synthetic NSE
year (the DVC stage's seed, NIFTY), walk-forward with the study's windows (rolling 60
sessions train, 15 test, purge 1): OOS balanced accuracy of every candidate over all test
bars and at each test session's last bar, against the generator's true labels (target
>= 0.80). The classifier and drift reference it stores are then the version's.

Drift, measured as the runner measures it (:class:`live.runner.signal_room.SignalRoom`):
at each session's end, the session's drift features against the stored per-regime
reference, thresholds from ``policy.yaml`` (live stage). Each other seed is an unshifted
feed of the same process: the false-alarm rate is the share of its sessions that breach
(target < 5 %). A known shift - every move of a session scaled by ``factor`` around its
open (a volatility shift), from an onset session on - must be caught within ``within``
sessions: the power is the share of (seed, onset) runs whose first breach comes within
them; the median delay is reported too. The reference in the same run is the unshifted
feed: the headline is power at factor 1.5 over the false-alarm rate's complement.
Ends with ``name: value`` lines, the headline last.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from live.governance.policy import load_policy
from pipelines.datasets.synthetic_nse import generate_nse_index_bars
from pipelines.research.config import WALK_FORWARD_DEFAULTS, RegimeSettings
from pipelines.research.gates import SignalGates
from pipelines.research.regime_classifier import train_regime_model
from pipelines.research.splits import WalkForwardSpec
from strategies.bars import Bars, bars_from_frame
from strategies.drift import DriftLimits
from strategies.regime_features import drift_feature_matrix, regime_feature_matrix
from strategies.regime_model import SignalGovernance, load_governance

ROOT = Path(__file__).resolve().parents[1]
DATASET_SEED = 20250101  # dvc.yaml nse_synthetic
FACTORS = (1.25, 1.5)


def year(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    bars, regimes = generate_nse_index_bars(seed=seed)
    return bars[bars["symbol"] == "NIFTY"].reset_index(drop=True), regimes


def to_bars(frame: pd.DataFrame) -> Bars:
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE", cutoff="venue")


def labels(bars: Bars, regimes: pd.DataFrame) -> np.ndarray:
    table = regimes.set_index(pd.DatetimeIndex(regimes["session"]).normalize())["regime"]
    day = pd.DatetimeIndex(bars.ts).tz_localize(None).normalize()
    return table.reindex(day).fillna("unlabelled").to_numpy().astype(str)


def shifted(frame: pd.DataFrame, factor: float, onset_day: object) -> pd.DataFrame:
    """Sessions from ``onset_day`` on with every move scaled by ``factor`` around the
    session's open (high/low kept around open and close)."""
    out = frame.copy()
    day = out["ts"].dt.date
    after = day >= onset_day
    day_open = out.groupby(day)["open"].transform("first")
    for col in ("open", "high", "low", "close"):
        scaled = day_open * np.exp(factor * np.log(out[col] / day_open))
        out.loc[after, col] = scaled[after]
    out["high"] = out[["open", "high", "close"]].max(axis=1)
    out["low"] = out[["open", "low", "close"]].min(axis=1)
    return out


def session_breaches(gov: SignalGovernance, bars: Bars, limits: DriftLimits) -> np.ndarray:
    """Per session (in order): whether its drift breaches (-1: not enough classified bars)."""
    regimes, _ = gov.model.classify(regime_feature_matrix(bars.open, bars.high, bars.low,
                                                          bars.close, bars.session))
    drift = drift_feature_matrix(bars.high, bars.low, bars.close)
    session = np.asarray(bars.session)
    out = []
    for s in np.unique(session):
        rows = session == s
        reading = gov.reference.measure(drift[rows], regimes[rows])
        out.append(-1 if not reading.compared else
                   int(bool(reading.breaches(limits.max_psi, limits.max_ks))))
    return np.asarray(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="unshifted feeds (seeds)")
    parser.add_argument("--onsets", type=int, default=4, help="shift onsets per seed")
    parser.add_argument("--within", type=int, default=3, help="sessions to catch a shift in")
    parser.add_argument("--policy", type=Path, default=ROOT / "policy.yaml",
                        help="policy file whose live drift limits are measured")
    args = parser.parse_args()
    limits = load_policy(args.policy).drift_limits("live")
    t0 = time.perf_counter()
    frame, regimes = year(DATASET_SEED)
    bars = to_bars(frame)
    spec = WalkForwardSpec(**WALK_FORWARD_DEFAULTS["1m"])
    with tempfile.TemporaryDirectory() as tmp:
        study = train_regime_model(bars, labels(bars, regimes), spec, SignalGates(),
                                   RegimeSettings(), Path(tmp) / "gov",
                                   trained_on="nse_index_1m")
        gov = load_governance(Path(tmp) / "gov")
    train_s = time.perf_counter() - t0
    print(f"trained in {train_s:.1f} s; chosen {study.chosen}; folds {study.folds}")
    rng = np.random.default_rng(7)
    false_rates: list[float] = []
    delays: dict[float, list[int]] = {f: [] for f in FACTORS}
    for seed in range(1, args.seeds + 1):
        other, _ = year(seed)
        flags = session_breaches(gov, to_bars(other), limits)
        measured = flags[flags >= 0]
        false_rates.append(float(measured.mean()))
        days = sorted(other["ts"].dt.date.unique())
        for factor in FACTORS:
            for onset in rng.integers(20, len(days) - 20, size=args.onsets):
                flags = session_breaches(gov, to_bars(shifted(other, factor, days[onset])),
                                         limits)[onset:]
                hits = np.flatnonzero(flags == 1)
                delays[factor].append(int(hits[0]) + 1 if len(hits) else len(flags) + 1)
        print(f"seed {seed}: false-alarm rate {false_rates[-1]:.3f} over {len(measured)} "
              "sessions")
    false_alarm = statistics.fmean(false_rates)
    def power(factor: float, within: int) -> float:
        return statistics.fmean(float(d <= within) for d in delays[factor])

    print(f"limits: psi {limits.max_psi}, ks {limits.max_ks}; window "
          f"{limits.window_sessions} session(s)")
    print(f"regime_oos_balanced_accuracy: {study.balanced_accuracy[study.chosen]:.4f}")
    for kind, value in sorted(study.balanced_accuracy.items()):
        print(f"regime_oos_balanced_accuracy_{kind}: {value:.4f}")
    print(f"regime_oos_session_end_balanced_accuracy: "
          f"{study.session_accuracy[study.chosen]:.4f}")
    print(f"drift_false_alarm_rate: {false_alarm:.4f}")
    print(f"drift_false_alarm_rate_worst_seed: {max(false_rates):.4f}")
    for factor in FACTORS:
        for within in sorted({1, args.within, 5}):
            print(f"drift_power_x{factor}_within_{within}_sessions: "
                  f"{power(factor, within):.4f}")
        print(f"drift_median_delay_sessions_x{factor}: {statistics.median(delays[factor]):g}")
    headline = power(FACTORS[-1], args.within) / (1.0 - false_alarm)
    print(f"drift_power_over_specificity: {headline:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
