"""Typed research settings: what research runs on, how it walks forward, how it trades.

Lives under the ``research`` key of ``stratops.yaml`` (``STRATOPS_RESEARCH__...`` in the
environment). Every field has a default that runs the four desk strategies on the synthetic
NSE year, so ``stratops research run`` needs no configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.datasets.timeframes import parse_timeframe
from pipelines.research.splits import WalkForwardSpec
from strategies.algo_spec import AlgoSpec
from strategies.metric_names import METRIC_NAMES
from strategies.names import validate_name, validate_symbol

#: Walk-forward windows by the dataset's timeframe class (the one place they are chosen).
#: Every window must hold the longest warm-up of the strategies' combinations, because each
#: train and test window starts cold: 1m NSE sessions hold 375 bars, 1h FX sessions 24, a
#: daily session one bar, so daily windows are counted in years of sessions.
WALK_FORWARD_DEFAULTS: dict[str, dict[str, Any]] = {
    "1m": {"scheme": "rolling", "unit": "sessions", "train": 60, "test": 15, "purge": 1,
           "embargo": 0, "step": None},
    "1h": {"scheme": "rolling", "unit": "sessions", "train": 60, "test": 20, "purge": 1,
           "embargo": 0, "step": None},
    "1d": {"scheme": "rolling", "unit": "sessions", "train": 504, "test": 252, "purge": 5,
           "embargo": 0, "step": None},
}


def timeframe_class(timeframe: str) -> str:
    """``"1m"`` below an hour, ``"1h"`` from an hour to below a day, ``"1d"`` from a day:
    the key of :data:`WALK_FORWARD_DEFAULTS` for a dataset's bar ``timeframe``."""
    length = parse_timeframe(timeframe)
    if length >= pd.Timedelta(days=1):
        return "1d"
    return "1h" if length >= pd.Timedelta(hours=1) else "1m"


class WalkForwardSettings(BaseModel):
    """Walk-forward windows (see :class:`pipelines.research.splits.WalkForwardSpec`).

    A field left unset (None) takes the value :data:`WALK_FORWARD_DEFAULTS` gives the
    dataset's timeframe class; a field set here applies to every dataset.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["rolling", "anchored"] | None = None
    unit: Literal["bars", "sessions"] | None = None
    train: int | None = Field(None, ge=1, description="training window length, in `unit`")
    test: int | None = Field(None, ge=1, description="test window length, in `unit`")
    purge: int | None = Field(None, ge=0, description="units left out between train and test")
    embargo: int | None = Field(None, ge=0, description="units left out after a test window")
    step: int | None = Field(None, ge=1, description="fold step; default = test")

    def spec(self, timeframe: str) -> WalkForwardSpec:
        """The windows for a dataset of bar ``timeframe``: its class defaults, then the
        fields set here."""
        chosen = {k: v for k, v in self.model_dump().items() if v is not None}
        return WalkForwardSpec(**{**WALK_FORWARD_DEFAULTS[timeframe_class(timeframe)],
                                  **chosen})


class ImpactLaw(BaseModel):
    """The square-root impact law the simulator's slippage is derived from (``research.
    slippage: calibrated``): the same file the live pre-trade estimate reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    y: float = Field(gt=0, le=10, description="the law's scale Y")
    exponent: float = Field(gt=0, le=1.5, description="the participation exponent")
    source: str = Field(description="calibrated (the file and its print count) or literature")


class RegimeSettings(BaseModel):
    """``research.regime``: how the regime classifier is trained (README, "Signal
    governance: regimes and drift")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attach: bool = Field(
        True, description="store the classifier and drift reference with each registered "
                          "version, so the live runner governs it (regime journaled, NaN "
                          "features and unseen regimes hold entries, drift holds); a replay "
                          "from --from warms the history from the dataset's earlier sessions "
                          "first (live/runner/warmup.py). false: versions register ungoverned")
    candidates: tuple[Literal["hgb", "logistic"], ...] = Field(
        ("hgb", "logistic"), min_length=1,
        description="estimator families compared by OOS balanced accuracy; the best is kept")
    train_stride: int = Field(5, ge=1, le=100,
                              description="train on every n-th bar (features autocorrelate)")
    seed: int = Field(0, ge=0, description="the estimators' random_state")
    reference_dataset: str = Field(
        "nse_index_1m", description="labelled dataset an unlabelled one's classifier is "
                                    "trained on")
    reference_symbol: str = Field("NIFTY", description="its symbol trained on")
    reference_labels: Path = Field(Path("data/labels/nse_index_1m_regimes.parquet"),
                                   description="its per-session labels")
    store: Path = Field(Path("data/regimes"), description="trained classifiers, by key")

    @field_validator("reference_dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        return validate_name(value, field="research.regime.reference_dataset")

    @field_validator("reference_symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        return validate_symbol(value, field="research.regime.reference_symbol")


Allocator = Literal["equal_weighted", "inverse_volatility", "risk_parity"]
ALLOCATORS: tuple[Allocator, ...] = ("equal_weighted", "inverse_volatility", "risk_parity")


def _portfolio_symbols() -> dict[str, tuple[str, ...]]:
    return {"nse_futures_cont_1m": ("BANKNIFTY",)}


class PortfolioSettings(BaseModel):
    """``research.portfolio``: the portfolio study across the researched strategies
    (README, "Portfolio study"): capital allocated by skfolio on the strategies'
    walk-forward OOS returns, learned in each training window and applied to the next."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run the study after `stratops research run` "
                                            "of every strategy of a dataset")
    allocators: tuple[Allocator, ...] = Field(
        ALLOCATORS, min_length=1,
        description="allocations compared (each a trial of the portfolio's DSR)")
    method: Allocator = Field(
        "risk_parity", description="the allocation reported as the portfolio (must be one of "
                                   "`allocators`)")
    train_sessions: int = Field(40, ge=5, le=500, description="OOS sessions each allocation "
                                                              "is learned on")
    test_sessions: int = Field(15, ge=1, le=250, description="sessions each allocation is "
                                                             "then applied to")
    target_volatility: float | None = Field(
        None, gt=0, le=2.0,
        description="annualised volatility each window's weights are scaled to (measured "
                    "on its training window); None: fully invested")
    max_leverage: float = Field(1.0, gt=0, le=3.0,
                                description="cap on the volatility-target scale (1: never "
                                            "borrow, the rest stays in cash)")
    include: Literal["all", "gate_passed"] = Field(
        "all", description="sleeves: every researched strategy, or only those whose "
                           "version passed its gates")
    symbols: dict[str, tuple[str, ...]] = Field(
        default_factory=_portfolio_symbols,
        description="dataset -> further symbols whose walk-forward joins the study as "
                    "sleeves (the researched symbol always does)")
    seed: int = Field(0, ge=0, description="seed of the study (the allocators are "
                                           "deterministic; kept with the record)")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for dataset, symbols in value.items():
            validate_name(dataset, field="research.portfolio.symbols key")
            for symbol in symbols:
                validate_symbol(symbol, field=f"research.portfolio.symbols.{dataset}")
            if len(set(symbols)) != len(symbols):
                raise ValueError(f"research.portfolio.symbols.{dataset}={list(symbols)} "
                                 "repeats a symbol")
        return value

    @model_validator(mode="after")
    def _method_compared(self) -> PortfolioSettings:
        if self.method not in self.allocators:
            raise ValueError(f"research.portfolio.method={self.method!r} is not in "
                             f"research.portfolio.allocators {list(self.allocators)}")
        if len(set(self.allocators)) != len(self.allocators):
            raise ValueError(f"research.portfolio.allocators {list(self.allocators)} "
                             "repeats an allocator")
        return self
class ConfidenceSettings(BaseModel):
    """``research.confidence``: the calibrated confidence of each strategy's entries
    (README, "Signal governance: confidence, ensemble and sizing")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attach: bool = Field(
        False, description="train the calibrator (nested walk-forward) and store it with "
                           "each registered version, so the live runner journals each "
                           "entry's confidence and sizes it (policy.yaml "
                           "signal_governance.confidence). Off by default")
    min_trades: int = Field(40, ge=10, description="fewest training trades a calibrator is "
                                                   "learned from (a fold with fewer: "
                                                   "not scored)")
    cv: int = Field(3, ge=2, le=10, description="CalibratedClassifierCV's folds")
    selection_splits: int = Field(3, ge=2, le=10,
                                  description="TimeSeriesSplit folds the method "
                                              "(isotonic/sigmoid) is chosen by")
    reliability_bins: int = Field(5, ge=2, le=20, description="reliability table bins")
    seed: int = Field(0, ge=0, description="the logistic regression's random_state")


class ResearchSettings(BaseModel):
    """The research pipeline's inputs and rules (README, Configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: tuple[str, ...] = ("nse_futures_cont_1m",)
    strategies: tuple[str, ...] = ("range_breakout", "ema_cross", "atr_reversal",
                                   "atr_divergence")
    symbols: dict[str, str] = Field(
        default_factory=lambda: {"nse_futures_cont_1m": "NIFTY"},
        description="dataset -> symbol researched (default: the dataset's first symbol)")
    joint_symbols: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="dataset -> further symbols its versions also trade: one joint "
                    "walk-forward on the researched symbol and these (params chosen on the "
                    "symbols together), registered with every symbol's lot and tick size; "
                    "none by default (one walk-forward per study)")
    labels: dict[str, Path] = Field(
        default_factory=lambda: {
            # the futures trade the index's sessions: the index's regime labels
            "nse_futures_cont_1m": Path("data/labels/nse_index_1m_regimes.parquet")},
        description="dataset -> per-session regime labels for the OOS regime breakdown")
    walk_forward: WalkForwardSettings = Field(default_factory=WalkForwardSettings)
    select: str = Field("sharpe", description="in-sample metric that picks each fold's params")
    pbo_splits: int = Field(16, ge=2, description="CSCV blocks of the gated PBO (even)")
    pbo_spread_splits: tuple[int, ...] = Field(
        (8, 10, 12, 16),
        description="CSCV block counts PBO is also reported at (its spread; even, those the "
                    "test sessions allow)")
    cutoff: str = Field("venue", description="venue | none | HH:MM: the forced-flat time")
    costs: bool = Field(True, description="NSE F&O costs on NSE data")
    sim: dict[str, Any] = Field(
        default_factory=dict,
        description="SimConfig overrides (qty_lots, stop_points, trail_points, ...)")
    execution: dict[str, Any] | None = Field(
        None, description="the registered versions' execution algo (model_config.execution; "
                          "None: market)")
    slippage: Literal["fixed", "calibrated"] = Field(
        "fixed", description="fixed: research.sim.slippage_ticks (default 0); calibrated: "
                             "from the impact calibration live reads (risk.yaml "
                             "execution.calibration_file), one order of the version's size")
    impact_law: ImpactLaw | None = Field(
        None, description="with slippage: calibrated, the law (filled from the calibration "
                          "file by the settings loader; literature values when none)")
    spaces: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict, description="strategy -> parameter space replacing its own")
    feature_store: Path = Path("data/features")
    regime: RegimeSettings = Field(default_factory=RegimeSettings)
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings)
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)
    artifacts_dir: Path = Path("data/research")

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            validate_name(name, field="research.datasets entry")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: dict[str, str]) -> dict[str, str]:
        for dataset, symbol in value.items():
            validate_name(dataset, field="research.symbols key")
            validate_symbol(symbol, field=f"research.symbols.{dataset}")
        return value

    @field_validator("joint_symbols")
    @classmethod
    def _joint_symbols(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for dataset, symbols in value.items():
            validate_name(dataset, field="research.joint_symbols key")
            for symbol in symbols:
                validate_symbol(symbol, field=f"research.joint_symbols.{dataset}")
            if len(set(symbols)) != len(symbols):
                raise ValueError(f"research.joint_symbols.{dataset}={list(symbols)} repeats a "
                                 "symbol")
        return value

    @field_validator("execution")
    @classmethod
    def _algo(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            AlgoSpec.from_mapping(value, "research.execution")  # refused naming the field
        return value

    @field_validator("select")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRIC_NAMES:
            raise ValueError(f"select={value!r} is not a grid metric {list(METRIC_NAMES)}")
        return value

    @field_validator("pbo_splits")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"pbo_splits={value} must be even (CSCV halves the blocks)")
        return value

    @field_validator("pbo_spread_splits")
    @classmethod
    def _all_even(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [s for s in value if s < 2 or s % 2]
        if bad:
            raise ValueError(f"pbo_spread_splits {bad} must be even block counts >= 2")
        return value

    @field_validator("strategies")
    @classmethod
    def _registered(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from strategies.roster import STRATEGIES

        unknown = [s for s in value if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; registered: {sorted(STRATEGIES)}")
        if not value:
            raise ValueError("at least one strategy is needed")
        return value
