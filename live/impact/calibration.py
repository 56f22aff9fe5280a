"""Calibrating the impact law from real prints, and the versioned calibration file.

Fit: prints are binned by participation (``qty / minute_volume``, quantile bins); in each bin
the mean of ``cost_bps / sigma_bps`` is taken (means, so noise that makes single prints
negative does not bias the log); then least squares in log space,
``log(mean) = log(y) + exponent * log(participation)``. The permanent share is
``sum(post_move_bps) / sum(cost_bps)`` over prints that carry a post-trade move. Fewer than
``min_prints`` usable prints (or too few positive bins) and the literature values are used,
and the result says so (``calibration_source: literature`` with a note for the operator).

The file (``data/calibration/impact.json``) is read by the live pre-trade estimate and the
simulator's slippage alike: research and live assume the same costs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from live.impact.estimate import (
    LITERATURE_EXPONENT,
    LITERATURE_NOTE,
    LITERATURE_PERMANENT_FRACTION,
    LITERATURE_Y,
    ImpactInputError,
    ImpactParams,
)
from strategies.errors import BadInputError
from strategies.files import atomic_write

SCHEMA_VERSION = 1
DEFAULT_MIN_PRINTS = 100
DEFAULT_BINS = 10
MIN_POSITIVE_BINS = 3
_FIELDS = {"schema_version": int, "y": float, "exponent": float, "permanent_fraction": float,
           "calibration_source": str, "note": str, "n_prints": int, "source": str,
           "source_sha256": str}


class CalibrationFileError(BadInputError, ValueError):
    """A calibration file that cannot be read or whose fields are missing or invalid."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImpactPrint:
    """One execution: ``cost_bps`` paid against its arrival price (signed: positive is a
    cost), the minute volume and Parkinson volatility of its minute, and optionally the
    side-signed move of the price after it (``post_move_bps``) for the permanent share."""

    qty: float
    minute_volume: float
    sigma_bps: float
    cost_bps: float
    post_move_bps: float | None = None

    @property
    def usable(self) -> bool:
        return (self.qty > 0 and self.minute_volume > 0 and self.sigma_bps > 0
                and math.isfinite(self.cost_bps))


@dataclass(frozen=True, kw_only=True, slots=True)
class ImpactCalibration:
    """Fitted (or literature) parameters with their provenance: how many prints, from what
    (``source``) and the SHA-256 of that input (``source_sha256``)."""

    params: ImpactParams
    n_prints: int
    source: str
    source_sha256: str

    def to_json(self) -> str:
        p = self.params
        return json.dumps({"schema_version": SCHEMA_VERSION, "y": p.y, "exponent": p.exponent,
                           "permanent_fraction": p.permanent_fraction,
                           "calibration_source": p.calibration_source, "note": p.note,
                           "n_prints": self.n_prints, "source": self.source,
                           "source_sha256": self.source_sha256}, indent=2, sort_keys=True)


def _literature(note: str) -> ImpactParams:
    return ImpactParams(y=LITERATURE_Y, exponent=LITERATURE_EXPONENT,
                        permanent_fraction=LITERATURE_PERMANENT_FRACTION,
                        calibration_source="literature", note=note)


def _binned_fit(participation: np.ndarray, ratio: np.ndarray, bins: int
                ) -> tuple[float, float] | None:
    """(y, exponent) by log-space least squares on per-bin means; None if too few bins."""
    order = np.argsort(participation)
    xs, ys = [], []
    for chunk in np.array_split(order, bins):
        if chunk.size == 0:
            continue
        mean_ratio = float(ratio[chunk].mean())
        if mean_ratio > 0:
            xs.append(math.log(float(participation[chunk].mean())))
            ys.append(math.log(mean_ratio))
    if len(xs) < MIN_POSITIVE_BINS or max(xs) - min(xs) < 1e-9:
        return None
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return math.exp(float(intercept)), float(slope)


def _permanent_fraction(prints: Sequence[ImpactPrint], min_prints: int) -> float | None:
    moved = [p for p in prints if p.post_move_bps is not None and math.isfinite(p.post_move_bps)]
    cost = sum(p.cost_bps for p in moved)
    if len(moved) < min_prints or cost <= 0:
        return None
    return min(1.0, max(0.0, sum(float(p.post_move_bps or 0.0) for p in moved) / cost))


def fit_impact(prints: Sequence[ImpactPrint], *, min_prints: int = DEFAULT_MIN_PRINTS,
               bins: int = DEFAULT_BINS) -> ImpactParams:
    """The impact law fitted to ``prints``; the literature values (said so) when there are
    too few usable prints or the fit is outside the law's domain."""
    usable = [p for p in prints if p.usable]
    if len(usable) < min_prints:
        return _literature(f"{LITERATURE_NOTE} ({len(usable)} usable prints < {min_prints})")
    participation = np.array([p.qty / p.minute_volume for p in usable])
    ratio = np.array([p.cost_bps / p.sigma_bps for p in usable])
    fitted = _binned_fit(participation, ratio, bins)
    if fitted is None:
        return _literature(f"{LITERATURE_NOTE} (fewer than {MIN_POSITIVE_BINS} participation "
                           f"bins with a positive mean cost in {len(usable)} prints)")
    y, exponent = fitted
    fraction = _permanent_fraction(usable, min_prints)
    try:
        return ImpactParams(
            y=y, exponent=exponent, calibration_source="prints",
            permanent_fraction=LITERATURE_PERMANENT_FRACTION if fraction is None else fraction,
            note=f"fitted on {len(usable)} prints" + (
                "; permanent share from literature (no post-trade moves)"
                if fraction is None else ""))
    except ImpactInputError as exc:
        return _literature(f"{LITERATURE_NOTE} (fit on {len(usable)} prints out of domain: "
                           f"{exc})")


def calibrate(prints: Sequence[ImpactPrint], *, source: str, source_sha256: str,
              min_prints: int = DEFAULT_MIN_PRINTS) -> ImpactCalibration:
    """:func:`fit_impact` with its provenance, ready to write."""
    return ImpactCalibration(params=fit_impact(prints, min_prints=min_prints),
                             n_prints=sum(1 for p in prints if p.usable), source=source,
                             source_sha256=source_sha256)


def prints_sha256(prints: Sequence[ImpactPrint]) -> str:
    """SHA-256 of the prints as canonical JSON (the calibration input's version)."""
    rows = [[p.qty, p.minute_volume, p.sigma_bps, p.cost_bps, p.post_move_bps] for p in prints]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def write_calibration(path: Path, calibration: ImpactCalibration) -> None:
    """Write the calibration file atomically."""
    text = calibration.to_json() + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _field(path: Path, raw: dict[str, Any], name: str) -> Any:
    if name not in raw:
        raise CalibrationFileError(f"{path}: field {name!r} is missing")
    value, kind = raw[name], _FIELDS[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CalibrationFileError(f"{path}: field {name!r} must be {kind.__name__}, "
                                   f"got {value!r}")
    return value


def read_calibration(path: Path) -> ImpactCalibration:
    """The calibration in ``path``; a malformed file is refused naming the file and field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalibrationFileError(f"{path}: cannot read ({exc})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise CalibrationFileError(f"{path}: top level must be an object")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise CalibrationFileError(f"{path}: unknown field {unknown[0]!r}; known: "
                                   f"{sorted(_FIELDS)}")
    values = {name: _field(path, raw, name) for name in _FIELDS}
    if values["schema_version"] != SCHEMA_VERSION:
        raise CalibrationFileError(f"{path}: field 'schema_version' is "
                                   f"{values['schema_version']}, this code reads "
                                   f"{SCHEMA_VERSION}")
    try:
        params = ImpactParams(y=values["y"], exponent=values["exponent"],
                              permanent_fraction=values["permanent_fraction"],
                              calibration_source=values["calibration_source"],
                              note=values["note"])
    except ImpactInputError as exc:
        raise CalibrationFileError(f"{path}: field {exc}") from exc
    return ImpactCalibration(params=params, n_prints=values["n_prints"],
                             source=values["source"], source_sha256=values["source_sha256"])


def load_impact_params(path: Path) -> ImpactParams:
    """The parameters in ``path``; a missing file means literature values (said so in the
    note), a malformed one is refused."""
    if not path.exists():
        return _literature(f"{LITERATURE_NOTE} (no calibration file at {path}; run "
                           "`stratops execution calibrate`)")
    return read_calibration(path).params
