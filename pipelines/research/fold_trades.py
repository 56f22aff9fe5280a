"""Per-fold trade table of a walk-forward study: every trade of each fold's chosen params, in
the fold's training window and in its test window, with the regime features and the regime
the trade's entry decision saw.

One row per trade: ``fold``, ``window`` (``train`` | ``test``), entry/exit time, side, qty,
prices, net P&L (INR) and ``net_return`` (net P&L over the entry notional), the decision bar
(``decision_idx``/``decision_ts``: the last closed bar the entry decision saw - the bar
before the fill with ``fill: next_open``, the fill bar itself with ``fill: close``), the
regime features of :mod:`strategies.regime_features` at that bar (causal: bars up to and
including it), and ``regime`` / ``regime_probability`` from the fold's classifier.

Each window is simulated exactly as the walk-forward did (the window alone, starting cold),
so the test rows are the report's stitched OOS trades, row for row. The regime features are
computed on the whole series (live, the runner's history reaches before any window too);
each value depends only on bars up to its bar, which the truncation test checks.

**Which classifier reads a fold's trades** (:func:`fold_classifiers`): it must have seen
nothing at or after the fold's test window.

- A labelled dataset (the synthetic year): a classifier of the study's chosen family
  (``research.regime``'s estimator, seed and stride) is fit per fold on the labelled bars
  from the series' start to the end of that fold's **training window** (anchored: regimes
  persist for weeks, so a rolling window may hold one regime only). Train-window trades are
  therefore read in sample, test-window trades out of sample, and no fold's classifier
  knows a label at or after its test window (nor in the purge gap).
- An unlabelled dataset (real data): the stored classifier, trained on the labelled
  reference dataset, which holds no bar of the studied series; it is used for every fold.

Pure: a function of the bars, the walk-forward report, the strategy, the simulation config
and the classifiers; deterministic (the estimators are seeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.research.regime_classifier import (
    LabelledFeatures,
    RegimeTrainingError,
    make_estimator,
)
from pipelines.research.splits import Fold, walk_forward_folds
from pipelines.research.walk_forward import WalkForwardReport
from strategies.bars import Bars
from strategies.errors import BadInputError
from strategies.regime_features import FEATURE_NAMES, regime_feature_matrix
from strategies.regime_model import RegimeModel
from strategies.simulator import SimConfig, simulate
from strategies.spec import StrategySpec

WINDOWS = ("train", "test")
#: The table's columns, in order (the regime features follow ``decision_ts``).
TRADE_COLUMNS = ("fold", "window", "entry_ts", "exit_ts", "side", "qty", "entry_price",
                 "exit_price", "gross_pnl_inr", "costs_inr", "net_pnl_inr", "net_return",
                 "exit_reason", "entry_idx", "exit_idx", "decision_idx", "decision_ts")
REGIME_COLUMNS = ("regime", "regime_probability")
#: ``source`` of a :class:`FoldClassifiers` fit per fold / the stored reference classifier.
PER_FOLD = "fold_train_window"
REFERENCE = "reference_dataset"


class FoldTradesError(BadInputError, ValueError):
    """A fold trade table that cannot be built: a report that is not of these bars (its
    folds' windows differ), or a fold without a classifier."""


@dataclass(frozen=True, slots=True)
class FoldClassifiers:
    """The regime classifier that reads each fold's trades, and where it came from."""

    models: Mapping[int, RegimeModel]
    source: str  # PER_FOLD or REFERENCE

    def for_fold(self, index: int) -> RegimeModel:
        model = self.models.get(index)
        if model is None:
            raise FoldTradesError(f"no regime classifier for fold {index} (have folds "
                                  f"{sorted(self.models)})")
        return model


def report_folds(bars: Bars, report: WalkForwardReport) -> list[Fold]:
    """The report's folds as bar positions of ``bars``; refuses a report whose fold windows
    are not those of ``bars`` (another dataset or another walk-forward spec)."""
    folds = walk_forward_folds(bars.session, report.spec)
    if len(folds) != len(report.folds):
        raise FoldTradesError(f"{report.strategy}/{report.symbol}: the report has "
                              f"{len(report.folds)} folds, these bars give {len(folds)} "
                              f"under {report.spec}")
    for fold, result in zip(folds, report.folds, strict=True):
        got = (str(bars.ts[fold.test_range[0]]), str(bars.ts[fold.test_range[1]]))
        if got != tuple(result.test) or str(bars.ts[fold.train_range[0]]) != result.train[0]:
            raise FoldTradesError(f"{report.strategy}/{report.symbol}: fold {result.index} "
                                  f"tests {result.test}, these bars give {got}: the report "
                                  "is not of these bars")
    return folds


def fold_classifiers(bars: Bars, labels: npt.ArrayLike, report: WalkForwardReport, *,
                     kind: str, seed: int, stride: int) -> FoldClassifiers:
    """One classifier per fold, fit on the labelled bars up to the end of the fold's
    training window (``labels``: per-bar regime labels of ``bars``, ``unlabelled`` allowed)."""
    data = LabelledFeatures.of(bars, labels)
    if not data.labelled:
        raise FoldTradesError(f"{report.symbol}: no regime labels to fit per-fold "
                              "classifiers on; use reference_classifiers with the stored "
                              "classifier")
    models: dict[int, RegimeModel] = {}
    for fold in report_folds(bars, report):
        seen = np.arange(fold.train_range[1] + 1, dtype=np.int64)
        rows = data.usable(seen)[::stride]
        classes = sorted({str(c) for c in data.labels[rows]})
        if len(classes) < 2:
            raise RegimeTrainingError(f"{report.symbol} fold {fold.index}: the labelled bars "
                                      f"up to its training end {report.folds[fold.index].train[1]} "
                                      f"hold only the regime(s) {classes}: nothing to classify")
        estimator = make_estimator(kind, seed).fit(data.matrix[rows], data.labels[rows])
        models[fold.index] = RegimeModel(estimator, FEATURE_NAMES,
                                         tuple(str(c) for c in estimator.classes_))
    return FoldClassifiers(models, PER_FOLD)


def reference_classifiers(model: RegimeModel, report: WalkForwardReport) -> FoldClassifiers:
    """The stored classifier (trained on the labelled reference dataset, which holds no bar
    of the studied series) for every fold of an unlabelled dataset's report."""
    return FoldClassifiers({f.index: model for f in report.folds}, REFERENCE)


def _window_trades(spec: StrategySpec, bars: Bars, span: tuple[int, int], params: object,
                   config: SimConfig) -> pd.DataFrame:
    """The params traded on the window alone (cold start), positions of the whole series."""
    window = bars.window(span[0], span[1] + 1)
    trades = simulate(window, spec.signals(window, params), config).trades
    trades[["entry_idx", "exit_idx"]] += span[0]
    return trades


def decision_positions(entry_idx: npt.NDArray[np.int64], config: SimConfig
                       ) -> npt.NDArray[np.int64]:
    """The bar whose close each entry was decided at: the bar before the fill with
    ``next_open`` fills, the fill bar with ``close`` fills."""
    return entry_idx - 1 if config.fill == "next_open" else entry_idx.copy()


def _rows(trades: pd.DataFrame, bars: Bars, features: npt.NDArray[np.float64], fold: int,
          window: str, model: RegimeModel, config: SimConfig) -> pd.DataFrame:
    entry = trades["entry_idx"].to_numpy(dtype=np.int64)
    decision = decision_positions(entry, config)
    notional = trades["entry_price"].to_numpy(dtype=float) * \
        trades["qty"].to_numpy(dtype=float)
    net = trades["net_pnl_inr"].to_numpy(dtype=float)
    at_entry = features[decision] if len(decision) else np.empty((0, len(FEATURE_NAMES)))
    regimes, probs = model.classify(at_entry)
    frame = pd.DataFrame({
        "fold": fold, "window": window, "entry_ts": trades["entry_ts"].to_numpy(),
        "exit_ts": trades["exit_ts"].to_numpy(), "side": trades["side"].to_numpy(),
        "qty": trades["qty"].to_numpy(), "entry_price": trades["entry_price"].to_numpy(),
        "exit_price": trades["exit_price"].to_numpy(),
        "gross_pnl_inr": trades["gross_pnl_inr"].to_numpy(dtype=float),
        "costs_inr": trades["costs_inr"].to_numpy(dtype=float), "net_pnl_inr": net,
        "net_return": np.divide(net, notional, out=np.full(len(net), np.nan),
                                where=notional > 0),
        "exit_reason": trades["exit_reason"].to_numpy(), "entry_idx": entry,
        "exit_idx": trades["exit_idx"].to_numpy(dtype=np.int64), "decision_idx": decision,
        "decision_ts": bars.ts[decision],
    })
    for j, name in enumerate(FEATURE_NAMES):
        frame[name] = at_entry[:, j]
    frame["regime"] = regimes
    frame["regime_probability"] = probs
    return frame


def trade_rows(spec: StrategySpec, bars: Bars, features: npt.NDArray[np.float64],
               config: SimConfig, params: object, span: tuple[int, int], model: RegimeModel,
               *, fold: int, window: str) -> pd.DataFrame:
    """``params`` traded on bars ``span`` (cold start) as table rows, ``features`` being the
    whole series' regime feature matrix (the inner walk-forward's trades)."""
    trades = _window_trades(spec, bars, span, params, config)
    rows = _rows(trades, bars, features, fold, window, model, config)
    return rows[[*TRADE_COLUMNS, *FEATURE_NAMES, *REGIME_COLUMNS]]


def span_trades(spec: StrategySpec, bars: Bars, config: SimConfig, params: object,
                span: tuple[int, int], model: RegimeModel, *, fold: int = -1,
                window: str = "all") -> pd.DataFrame:
    """``params`` traded on bars ``span`` (first, last; cold start) as table rows, read by
    ``model`` (the final enable matrix's trades: the chosen params over the whole series)."""
    features = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                     bars.session)
    trades = _window_trades(spec, bars, span, params, config)
    rows = _rows(trades, bars, features, fold, window, model, config)
    return rows[[*TRADE_COLUMNS, *FEATURE_NAMES, *REGIME_COLUMNS]]


def fold_trades(spec: StrategySpec, bars: Bars, config: SimConfig, report: WalkForwardReport,
                classifiers: FoldClassifiers) -> pd.DataFrame:
    """The per-fold trade table (see the module doc): for each fold, its train-window trades
    then its test-window trades, each in entry order."""
    if spec.name != report.strategy:
        raise FoldTradesError(f"the report is of {report.strategy!r}, not {spec.name!r}")
    folds = report_folds(bars, report)
    features = regime_feature_matrix(bars.open, bars.high, bars.low, bars.close,
                                     bars.session)
    parts = []
    for fold, result in zip(folds, report.folds, strict=True):
        params = spec.params_cls(**result.params)
        model = classifiers.for_fold(fold.index)
        for window, span in (("train", fold.train_range), ("test", fold.test_range)):
            trades = _window_trades(spec, bars, span, params, config)
            parts.append(_rows(trades, bars, features, fold.index, window, model, config))
    table = pd.concat(parts, ignore_index=True)
    return table[[*TRADE_COLUMNS, *FEATURE_NAMES, *REGIME_COLUMNS]]
