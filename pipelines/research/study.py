"""One research study, step by step: features -> walk-forward -> gate verdict.

The Dagster assets call these functions (one per asset) and the research benchmark times
them; nothing here knows about Dagster or MLflow. A study is one (dataset, strategy) pair
on the dataset's researched symbol (and, with ``research.joint_symbols``, on further symbols
walked forward jointly with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.datasets.catalog import DatasetEntry, DatasetUnavailableError, find_dataset
from pipelines.datasets.schema import read_dataset
from pipelines.research.config import ResearchSettings
from pipelines.research.features import FeatureKey, FeatureStore, StoredFeatures, labels_digest
from pipelines.research.features import load_labels as load_regime_labels
from pipelines.research.gates import GateVerdict, load_gates
from pipelines.research.joint_walk_forward import run_joint_walk_forward
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardReport, run_walk_forward
from strategies.bars import Bars, bars_from_frame
from strategies.costs import load_cost_rates
from strategies.errors import BadInputError
from strategies.health import HealthExpectation
from strategies.impact import calibrated_slippage_ticks
from strategies.params import ParamError, expand_space, in_space
from strategies.roster import STRATEGIES, get_strategy
from strategies.simulator import SimConfig
from strategies.venues import CutoffError, parse_cutoff
from strategies.version_config import SimRules, VersionConfig


class StudyError(BadInputError, ValueError):
    """A study that cannot run: dataset not built, unknown symbol, empty space."""


def dataset_entry(root: Path, dataset: str) -> DatasetEntry:
    """The catalog entry of ``dataset``; refused unless its file matches its DVC record."""
    entry = find_dataset(root, dataset)
    if entry.state != "ok" or entry.meta is None or entry.md5 is None:
        why = f" ({entry.problem})" if entry.problem else ""
        raise DatasetUnavailableError(f"dataset {dataset!r} is {entry.state}{why}; run "
                                      "`stratops data build` (or `stratops run`)")
    return entry


def researched_symbol(entry: DatasetEntry, research: ResearchSettings) -> str:
    symbol = research.symbols.get(entry.name, entry.symbols[0])
    if symbol not in entry.symbols:
        raise StudyError(f"research.symbols.{entry.name}={symbol!r} is not in the dataset "
                         f"({list(entry.symbols)})")
    return symbol


def traded_symbols(root: Path, dataset: str, research: ResearchSettings) -> tuple[str, ...]:
    """The symbols a study's versions trade: the researched one, then
    ``research.joint_symbols.<dataset>`` (none by default: one symbol)."""
    entry = dataset_entry(root, dataset)
    first = researched_symbol(entry, research)
    further = research.joint_symbols.get(dataset, ())
    for symbol in further:
        if symbol not in entry.symbols or symbol == first:
            what = "the researched symbol" if symbol == first else "not in the dataset"
            raise StudyError(f"research.joint_symbols.{dataset}: {symbol!r} is {what} "
                             f"({list(entry.symbols)}, researched {first!r})")
    return (first, *further)


def cutoff_value(text: str) -> time | str | None:
    """``research.cutoff`` parsed (``venue``, ``none`` or ``HH:MM``)."""
    try:
        return parse_cutoff(text, field="research.cutoff")
    except CutoffError as exc:
        raise StudyError(str(exc)) from None


def build_features(root: Path, dataset: str, research: ResearchSettings,
                   symbol: str | None = None) -> StoredFeatures:
    """The researched symbol's (or ``symbol``'s) feature frame, read from the store when its
    key exists."""
    entry = dataset_entry(root, dataset)
    if symbol is None:
        symbol = researched_symbol(entry, research)
    elif symbol not in entry.symbols:
        raise StudyError(f"symbol {symbol!r} (research.portfolio.symbols / joint_symbols."
                         f"{dataset}) is not in the dataset ({list(entry.symbols)})")
    labels_path = research.labels.get(dataset)
    labels_file = (root / labels_path) if labels_path is not None else None
    key = FeatureKey(dataset=dataset, dataset_md5=str(entry.md5), symbol=symbol,
                     cutoff=research.cutoff, labels_sha256=labels_digest(labels_file))
    assert entry.meta is not None
    venue = entry.meta.venue

    def build() -> Bars:
        frame = read_dataset(entry.path)
        return bars_from_frame(frame[frame["symbol"] == symbol], symbol=symbol, venue=venue,
                               cutoff=cutoff_value(research.cutoff))

    store = FeatureStore(root / research.feature_store)
    return store.get_or_build(key, build, load_regime_labels(labels_file))


def sim_config(root: Path, dataset: str, bars: Bars, research: ResearchSettings) -> SimConfig:
    """Execution rules of the study: the instrument's lot and tick, NSE F&O costs in force on
    the first bar's date (NSE data only), then the ``research.sim`` overrides."""
    meta = dataset_entry(root, dataset).meta
    assert meta is not None
    instrument = meta.instruments.get(bars.symbol)
    rates = None
    if research.costs and meta.venue == "NSE":
        rates = load_cost_rates("index_future", on=bars.ts[0].date())
    defaults: dict[str, Any] = {
        "lot_size": instrument.lot_size if instrument else 1,
        "tick_size": instrument.tick_size if instrument else 0.01,
        "costs": rates,
    }
    values = {**defaults, **research.sim}
    if research.slippage == "calibrated":
        values["slippage_ticks"] = _calibrated_slippage(bars, values, research)
    try:
        return SimConfig(**values)
    except TypeError as exc:
        raise StudyError(f"research.sim: {exc}") from exc


def _calibrated_slippage(bars: Bars, values: dict[str, Any],
                         research: ResearchSettings) -> float:
    """Ticks of slippage per market/stop fill from the impact law (``research.slippage:
    calibrated``) for one order of the study's size on these bars."""
    law = research.impact_law
    if law is None:
        raise StudyError("research.slippage=calibrated but no research.impact_law (the "
                         "settings loader fills it from the calibration file)")
    if "slippage_ticks" in research.sim:
        raise StudyError(f"research.sim.slippage_ticks={research.sim['slippage_ticks']!r} "
                         "with research.slippage=calibrated: choose one")
    if values.get("size_type", "lots") != "lots":
        raise StudyError(f"research.slippage=calibrated needs a lots size, not "
                         f"size_type={values.get('size_type')!r}")
    qty = float(values.get("qty_lots", 1)) * float(values["lot_size"])
    try:
        return calibrated_slippage_ticks(y=law.y, exponent=law.exponent, high=bars.high,
                                         low=bars.low, close=bars.close, volume=bars.volume,
                                         qty=qty, tick_size=float(values["tick_size"]))
    except ValueError as exc:
        raise StudyError(f"research.slippage=calibrated on {bars.symbol}: {exc}") from exc


def candidate_params(strategy: str, research: ResearchSettings) -> list[Any]:
    """Every combination of the strategy's space (or ``research.spaces`` replacing it)."""
    spec = get_strategy(strategy)
    space = research.spaces.get(strategy, spec.space)
    try:
        combos = list(expand_space(spec.params_cls, space))
        for combo in combos:  # a registered version's params must lie in the declared space
            in_space(combo, spec.space)
    except ParamError as exc:
        raise StudyError(f"research.spaces.{strategy}: {exc}") from exc
    if not combos:
        raise StudyError(f"{strategy}: the parameter space has no valid combination")
    return combos


def walk_forward_spec(root: Path, dataset: str, research: ResearchSettings) -> WalkForwardSpec:
    """The study's windows: the defaults of the dataset's timeframe, then the settings."""
    meta = dataset_entry(root, dataset).meta
    assert meta is not None
    return research.walk_forward.spec(meta.timeframe)


def symbol_configs(root: Path, dataset: str, research: ResearchSettings,
                   features: StoredFeatures, symbols: tuple[str, ...]
                   ) -> tuple[dict[str, Bars], dict[str, SimConfig]]:
    """Each symbol's bars (``features`` for the researched one, the feature store for the
    others) and its execution rules (its own lot, tick and costs: :func:`sim_config`)."""
    bars = {symbols[0]: features.bars()}
    for symbol in symbols[1:]:
        bars[symbol] = build_features(root, dataset, research, symbol=symbol).bars()
    return bars, {s: sim_config(root, dataset, b, research) for s, b in bars.items()}


def walk_forward(root: Path, dataset: str, strategy: str, features: StoredFeatures,
                 research: ResearchSettings,
                 progress: Callable[[str], None] | None = None, *,
                 joint: bool = True) -> WalkForwardReport:
    """Walk-forward of ``strategy`` on the stored features' bars; with
    ``research.joint_symbols`` for the dataset (and ``joint``), the joint walk-forward of
    the researched symbol and those (:mod:`pipelines.research.joint_walk_forward`)."""
    symbols = traded_symbols(root, dataset, research) if joint else (features.key.symbol,)
    if len(symbols) > 1 and features.key.symbol == symbols[0]:
        bars_by, configs = symbol_configs(root, dataset, research, features, symbols)
        report = run_joint_walk_forward(
            get_strategy(strategy), bars_by, configs, walk_forward_spec(root, dataset, research),
            combos=candidate_params(strategy, research), pbo_splits=research.pbo_splits,
            pbo_spread=research.pbo_spread_splits, progress=progress)
        if research.select != "sharpe":
            report.notes.append(f"joint walk-forward: each fold's params maximise the joint "
                                f"Sharpe of the symbols, not research.select={research.select}")
        return report
    bars = features.bars()
    return run_walk_forward(
        get_strategy(strategy), bars, sim_config(root, dataset, bars, research),
        walk_forward_spec(root, dataset, research), combos=candidate_params(strategy, research),
        select=research.select, pbo_splits=research.pbo_splits,
        pbo_spread=research.pbo_spread_splits, progress=progress)


def gate_verdict(gates_file: Path, report: WalkForwardReport) -> GateVerdict:
    """The report's metrics against the reviewed gates (``governance.gates_file``, by default
    ``gates.yaml``)."""
    gates = load_gates(gates_file, known_strategies=set(STRATEGIES))
    return gates.evaluate(report.strategy, report.metrics)


def version_config(dataset: str, report: WalkForwardReport, config: SimConfig,
                   research: ResearchSettings, venue: str,
                   configs: Mapping[str, SimConfig] | None = None) -> VersionConfig:
    """What the registered pyfunc needs to produce the same signals live; the registry
    stores it as ``model_config`` (:meth:`VersionConfig.to_json`). A joint walk-forward's
    version trades all its symbols, each with the lot and tick size research simulated it
    with (``configs``: symbol -> rules; the instrument table of the dataset)."""
    symbols = report.traded_symbols
    sizes = None
    if len(symbols) > 1:
        if configs is None or set(configs) != set(symbols):
            raise StudyError(f"{report.strategy}: a version of {list(symbols)} needs each "
                             f"symbol's rules, got {sorted(configs or {})}")
        sizes = {s: {"lot_size": configs[s].lot_size, "tick_size": configs[s].tick_size}
                 for s in symbols}
    return VersionConfig.build(
        strategy=report.strategy, params=report.chosen_params(), venue=venue,
        cutoff=cutoff_value(research.cutoff), symbols=symbols, dataset=dataset,
        sim=SimRules.from_config(config), execution=research.execution,
        symbol_sizes=sizes, health=health_expectation(report.oos_trades, config))


def health_expectation(trades: pd.DataFrame, config: SimConfig) -> HealthExpectation | None:
    """Research's expectation of the version's trades (:mod:`strategies.health`): the OOS
    trades' net P&L, each scaled to the median trade's quantity, and the slippage charged
    per fill; None without two trades that differ."""
    if not len(trades):
        return None
    qty = trades["qty"].to_numpy(dtype=np.float64)
    usable = qty > 0
    if not usable.any():
        return None
    median = max(1, round(float(np.median(qty[usable]))))
    pnl = trades["net_pnl_inr"].to_numpy(dtype=np.float64)[usable] * median / qty[usable]
    return HealthExpectation.from_trades(pnl, median,
                                         config.slippage_ticks * config.tick_size)


def input_example(features: StoredFeatures, rows: int = 5) -> pd.DataFrame:
    """A few bars in the shape the model takes (ts, symbol, OHLCV)."""
    return features.frame.loc[: rows - 1, ["ts", "symbol", "open", "high", "low", "close",
                                           "volume"]].copy()
