"""NSE F&O transaction costs: a dated, reviewed rate schedule and the cost of one executed order.

Research (the bar simulator) and live (TCA) price fills with the same rates and one formula:
:func:`fill_cost_inr` is the numba kernel for hot loops; :func:`order_cost_breakdown` is its
pure-Python twin, itemised for reports (tests keep the two in agreement).

Rates live in ``strategies/cost_schedules/nse_fo.yaml`` as percent numbers and are converted to
fractions once, in :func:`load_cost_rates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import numba
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from strategies.errors import BadInputError

INR_PER_CRORE = 1e7

# Field order of CostRates.as_array(), and the index of each field in that array.
RATE_FIELDS: tuple[str, ...] = (
    "brokerage_per_order_inr",
    "brokerage_cap_frac",
    "stt_sell_frac",
    "exchange_txn_frac",
    "sebi_fee_per_crore_inr",
    "stamp_buy_frac",
    "gst_frac",
)
IDX_BROKERAGE_PER_ORDER_INR = 0
IDX_BROKERAGE_CAP_FRAC = 1
IDX_STT_SELL_FRAC = 2
IDX_EXCHANGE_TXN_FRAC = 3
IDX_SEBI_FEE_PER_CRORE_INR = 4
IDX_STAMP_BUY_FRAC = 5
IDX_GST_FRAC = 6
N_RATES = 7

_FRACTION_FIELDS = frozenset(name for name in RATE_FIELDS if name.endswith("_frac"))


class CostScheduleError(BadInputError, ValueError):
    """A cost schedule that cannot be used: missing or invalid file, unknown instrument, no
    version in force on a date, or an out-of-range rate."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CostRates:
    """Charges for one instrument type under one schedule version; rates are fractions.

    ``brokerage_cap_frac`` is ``inf`` for a flat fee per order (no percentage cap).
    """

    version: str
    instrument: str
    brokerage_per_order_inr: float
    brokerage_cap_frac: float
    stt_sell_frac: float
    exchange_txn_frac: float
    sebi_fee_per_crore_inr: float
    stamp_buy_frac: float
    gst_frac: float

    def __post_init__(self) -> None:
        for name in RATE_FIELDS:
            _check_rate(name, getattr(self, name))

    def as_array(self) -> np.ndarray:
        """Rates as a float64 array in :data:`RATE_FIELDS` order, for :func:`fill_cost_inr`.

        Returns
        -------
        numpy.ndarray
            Shape ``(N_RATES,)``; index it with the ``IDX_*`` constants.
        """
        return np.array([getattr(self, name) for name in RATE_FIELDS], dtype=np.float64)


def _check_rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CostScheduleError(f"rate {name} must be a number, got {value!r}")
    if math.isnan(value) or value < 0.0:
        raise CostScheduleError(f"rate {name} must be >= 0, got {value!r}")
    if math.isinf(value) and name != "brokerage_cap_frac":
        raise CostScheduleError(f"rate {name} must be finite, got {value!r}")
    if name in _FRACTION_FIELDS and not math.isinf(value) and value > 1.0:
        raise CostScheduleError(f"rate {name} is a fraction and must be <= 1, got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class CostBreakdown:
    """Each charge of one executed order in INR, and their sum."""

    brokerage_inr: float
    stt_inr: float
    exchange_txn_inr: float
    sebi_fee_inr: float
    stamp_inr: float
    gst_inr: float
    total_inr: float


# --- schedule file -------------------------------------------------------------------------

_Pct = Annotated[float, Field(strict=True, ge=0.0, le=100.0, allow_inf_nan=False)]
_Inr = Annotated[float, Field(strict=True, ge=0.0, allow_inf_nan=False)]


class _InstrumentRatesModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    brokerage_per_order_inr: _Inr
    brokerage_pct_cap: _Pct | None  # required; null = flat fee per order
    stt_sell_pct: _Pct
    exchange_txn_pct: _Pct
    sebi_fee_per_crore_inr: _Inr
    stamp_buy_pct: _Pct
    gst_pct: _Pct


class _SourceModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    sets: str = Field(min_length=1)


class _VersionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    effective_from: date
    sources: list[_SourceModel] = Field(min_length=1)
    instruments: dict[str, _InstrumentRatesModel] = Field(min_length=1)


class _ScheduleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str = Field(min_length=1)
    currency: Literal["INR"]
    versions: list[_VersionModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _versions_are_unique(self) -> _ScheduleModel:
        for attr in ("version", "effective_from"):
            seen: set[object] = set()
            for entry in self.versions:
                value = getattr(entry, attr)
                if value in seen:
                    raise ValueError(f"duplicate {attr} {value!s} in versions")
                seen.add(value)
        return self


def _default_schedule() -> Traversable:
    return resources.files("strategies") / "cost_schedules" / "nse_fo.yaml"


def load_cost_rates(
    instrument: str = "index_future",
    on: date | None = None,
    path: Path | None = None,
) -> CostRates:
    """Load the rates of ``instrument`` from the schedule version in force on ``on``.

    Parameters
    ----------
    instrument
        Instrument type in the schedule, e.g. ``"index_future"`` or ``"index_option"``.
    on
        Trade date (exchange-local). The latest version with ``effective_from <= on`` applies;
        ``None`` takes the latest version in the file.
    path
        Schedule YAML; defaults to the packaged ``strategies/cost_schedules/nse_fo.yaml``.

    Returns
    -------
    CostRates
        Validated rates with percentages converted to fractions.

    Raises
    ------
    CostScheduleError
        If the file is missing or invalid, no version is in force on ``on``, or the version
        has no ``instrument``.
    """
    if isinstance(on, datetime):
        raise TypeError(f"on must be a date, not a datetime: {on!r}")
    source: Path | Traversable = _default_schedule() if path is None else path
    schedule = _read_schedule(source)
    version = _select_version(schedule, on, source)
    return _to_cost_rates(version, instrument, source)


def load_cost_rates_version(
    version: str, instrument: str = "index_future", path: Path | None = None
) -> CostRates:
    """The rates of ``instrument`` in the schedule version named ``version`` (the name a
    registered strategy version records as its ``cost_schedule``), so live nets its P&L with
    the same charges research did.

    Raises
    ------
    CostScheduleError
        If the file is missing or invalid, or has no version of that name or no
        ``instrument`` in it.
    """
    source: Path | Traversable = _default_schedule() if path is None else path
    schedule = _read_schedule(source)
    for entry in schedule.versions:
        if entry.version == version:
            return _to_cost_rates(entry, instrument, source)
    raise CostScheduleError(
        f"no cost schedule version {version!r} in {source}; versions: "
        f"{[entry.version for entry in schedule.versions]}"
    )


def _read_schedule(source: Path | Traversable) -> _ScheduleModel:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CostScheduleError(f"cost schedule file not found: {source}") from exc
    except OSError as exc:
        raise CostScheduleError(f"cannot read cost schedule {source}: {exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CostScheduleError(f"cost schedule {source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise CostScheduleError(
            f"cost schedule {source} must be a mapping at the top level, got {type(raw).__name__}"
        )
    try:
        return _ScheduleModel.model_validate(raw)
    except ValidationError as exc:
        raise CostScheduleError(f"invalid cost schedule {source}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "<top level>"
        problem = f"{field}: {error['msg']}"
        if error["type"] != "missing":
            problem += f" (got {_short_repr(error['input'])})"
        problems.append(problem)
    return "; ".join(problems)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _select_version(
    schedule: _ScheduleModel, on: date | None, source: Path | Traversable
) -> _VersionModel:
    ordered = sorted(schedule.versions, key=lambda entry: entry.effective_from)
    if on is None:
        return ordered[-1]
    in_force = [entry for entry in ordered if entry.effective_from <= on]
    if not in_force:
        first = ordered[0]
        raise CostScheduleError(
            f"no cost schedule version in {source} is effective on {on.isoformat()}; the "
            f"earliest, {first.version!r}, is effective from {first.effective_from.isoformat()}"
        )
    return in_force[-1]


def _to_cost_rates(
    version: _VersionModel, instrument: str, source: Path | Traversable
) -> CostRates:
    rates = version.instruments.get(instrument)
    if rates is None:
        raise CostScheduleError(
            f"unknown instrument {instrument!r} in cost schedule version {version.version!r} "
            f"({source}); known instruments: {sorted(version.instruments)}"
        )
    cap_pct = rates.brokerage_pct_cap
    return CostRates(
        version=version.version,
        instrument=instrument,
        brokerage_per_order_inr=rates.brokerage_per_order_inr,
        brokerage_cap_frac=math.inf if cap_pct is None else cap_pct / 100.0,
        stt_sell_frac=rates.stt_sell_pct / 100.0,
        exchange_txn_frac=rates.exchange_txn_pct / 100.0,
        sebi_fee_per_crore_inr=rates.sebi_fee_per_crore_inr,
        stamp_buy_frac=rates.stamp_buy_pct / 100.0,
        gst_frac=rates.gst_pct / 100.0,
    )


# --- cost of one executed order ------------------------------------------------------------


@numba.njit(cache=True)
def fill_cost_inr(rates: np.ndarray, is_buy: bool, notional_inr: float) -> float:
    """Total charges in INR of one executed order with turnover ``notional_inr``.

    Brokerage ``min(per_order, cap * turnover)``; STT on sells; exchange charges and SEBI fee
    on both sides; stamp duty on buys; GST on brokerage + exchange charges + SEBI fee.

    Parameters
    ----------
    rates
        :meth:`CostRates.as_array` (read-only arrays are fine).
    is_buy
        ``True`` for a buy order, ``False`` for a sell.
    notional_inr
        Turnover of the order: price x quantity (premium turnover for options), >= 0.

    Returns
    -------
    float
        Total cost in INR, >= 0; 0 for zero turnover.

    Raises
    ------
    ValueError
        If ``rates`` does not hold ``N_RATES`` values or ``notional_inr`` is negative or not
        finite.
    """
    if rates.shape[0] != N_RATES:
        raise ValueError("rates must be CostRates.as_array(); got length", rates.shape[0])
    if not (notional_inr >= 0.0 and notional_inr < np.inf):
        raise ValueError("notional_inr must be finite and >= 0; got", notional_inr)
    return fill_cost_tuple_inr(
        (rates[0], rates[1], rates[2], rates[3], rates[4], rates[5], rates[6]), is_buy,
        notional_inr)


@numba.njit(cache=True, nogil=True)
def fill_cost_tuple_inr(rates: tuple[float, ...], is_buy: bool, notional_inr: float) -> float:
    """:func:`fill_cost_inr` on the rates as a tuple (passed by value: no reference counting
    in the simulator's hot loop) and without input checks. The one cost formula."""
    if notional_inr == 0.0:
        return 0.0
    brokerage = min(
        rates[IDX_BROKERAGE_PER_ORDER_INR], rates[IDX_BROKERAGE_CAP_FRAC] * notional_inr
    )
    stt = 0.0 if is_buy else rates[IDX_STT_SELL_FRAC] * notional_inr
    exchange = rates[IDX_EXCHANGE_TXN_FRAC] * notional_inr
    sebi = notional_inr * rates[IDX_SEBI_FEE_PER_CRORE_INR] / INR_PER_CRORE
    stamp = rates[IDX_STAMP_BUY_FRAC] * notional_inr if is_buy else 0.0
    gst = rates[IDX_GST_FRAC] * (brokerage + exchange + sebi)
    return brokerage + stt + exchange + sebi + stamp + gst


def order_cost_breakdown(rates: CostRates, *, is_buy: bool, notional_inr: float) -> CostBreakdown:
    """Itemised charges of one executed order; the pure-Python twin of :func:`fill_cost_inr`.

    Parameters
    ----------
    rates
        Rates from :func:`load_cost_rates`.
    is_buy
        ``True`` for a buy order, ``False`` for a sell.
    notional_inr
        Turnover of the order: price x quantity (premium turnover for options), >= 0.

    Returns
    -------
    CostBreakdown
        Each charge in INR and ``total_inr``; all zero for zero turnover.

    Raises
    ------
    ValueError
        If ``notional_inr`` is negative or not finite.
    """
    if not (notional_inr >= 0.0 and math.isfinite(notional_inr)):
        raise ValueError(f"notional_inr must be finite and >= 0; got {notional_inr!r}")
    if notional_inr == 0.0:
        return CostBreakdown(
            brokerage_inr=0.0,
            stt_inr=0.0,
            exchange_txn_inr=0.0,
            sebi_fee_inr=0.0,
            stamp_inr=0.0,
            gst_inr=0.0,
            total_inr=0.0,
        )
    brokerage = min(rates.brokerage_per_order_inr, rates.brokerage_cap_frac * notional_inr)
    stt = 0.0 if is_buy else rates.stt_sell_frac * notional_inr
    exchange = rates.exchange_txn_frac * notional_inr
    sebi = notional_inr * rates.sebi_fee_per_crore_inr / INR_PER_CRORE
    stamp = rates.stamp_buy_frac * notional_inr if is_buy else 0.0
    # GST applies to the broker's and exchange's services, not to the taxes (STT, stamp duty).
    gst = rates.gst_frac * (brokerage + exchange + sebi)
    return CostBreakdown(
        brokerage_inr=brokerage,
        stt_inr=stt,
        exchange_txn_inr=exchange,
        sebi_fee_inr=sebi,
        stamp_inr=stamp,
        gst_inr=gst,
        total_inr=brokerage + stt + exchange + sebi + stamp + gst,
    )

