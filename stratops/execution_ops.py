"""``stratops execution calibrate``: fit the impact law on our own fills and recorded ticks
and write the calibration file the live pre-trade estimate and the backtest read."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratops.settings import Settings


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    """What was fitted, from what, and where it was written."""

    calibration: Any  # live.impact.calibration.ImpactCalibration
    path: Path
    sources: list[str]


def _journal_prints(settings: Settings, mode: str) -> tuple[list[Any], str]:
    from live.impact.prints import prints_from_journal
    from live.journal import journal_exists
    from stratops.live_ops import LiveSetupError, journal_url, open_mode_journal

    url = journal_url(settings, mode)
    if not journal_exists(url, settings.root):  # a read never creates a journal
        raise LiveSetupError(f"--journal {mode}: no {mode} journal at {url}")
    journal = open_mode_journal(settings, mode)
    messages = [message for _, message in journal.read()]
    return prints_from_journal(messages), f"journal:{mode} ({len(messages)} entries)"


def _tick_prints(settings: Settings, day: str) -> tuple[list[Any], str]:
    from live.impact.prints import prints_from_ticks
    from live.market.recorder import day_version, read_ticks

    folder = settings.path(settings.live.market.ticks_dir) / day
    prints = prints_from_ticks(read_ticks(folder))
    return prints, f"ticks:{day} (manifest {day_version(folder)[:16]})"


def default_calibration_path(settings: Settings) -> Path:
    """The file risk.yaml's ``execution.calibration_file`` names (the one live reads)."""
    return settings.calibration_path()


def calibrate_impact(settings: Settings, *, journals: Sequence[str], tick_days: Sequence[str],
                     min_prints: int, out: Path | None) -> CalibrationRun:
    """Prints from each journal mode and recorded tick day, fitted and written to ``out``
    (default: risk.yaml's ``execution.calibration_file``)."""
    from live.impact.calibration import calibrate, prints_sha256, write_calibration

    prints: list[Any] = []
    sources: list[str] = []
    for found, label in [*(_journal_prints(settings, m) for m in journals),
                         *(_tick_prints(settings, d) for d in tick_days)]:
        prints.extend(found)
        sources.append(f"{label}: {len(found)} prints")
    digest = hashlib.sha256(
        (prints_sha256(prints) + "|" + "|".join(sources)).encode()).hexdigest()
    calibration = calibrate(prints, source="; ".join(sources) or "no input",
                            source_sha256=digest, min_prints=min_prints)
    path = out if out is not None else default_calibration_path(settings)
    write_calibration(path, calibration)
    return CalibrationRun(calibration, path, sources)


def impact_slippage_ticks(bars: Any, sim: dict[str, Any]) -> float:
    """``stratops backtest --impact-slippage``: the simulator's slippage in ticks from the
    calibration file live reads (risk.yaml ``execution.calibration_file``) for one order of
    the run's size on ``bars`` (:func:`strategies.impact.calibrated_slippage_ticks`)."""
    from live.impact.calibration import load_impact_params
    from strategies.impact import calibrated_slippage_ticks
    from strategies.params import ParamError
    from stratops.settings import load_settings

    if sim.get("size_type", "lots") != "lots":
        raise ParamError("--impact-slippage needs a lots size (a fixed quantity per order)")
    params = load_impact_params(default_calibration_path(load_settings()))
    try:
        return calibrated_slippage_ticks(
            y=params.y, exponent=params.exponent, high=bars.high, low=bars.low,
            close=bars.close, volume=bars.volume,
            qty=float(sim.get("qty_lots", 1) * sim["lot_size"]), tick_size=sim["tick_size"])
    except ValueError as exc:
        raise ParamError(f"--impact-slippage on {bars.symbol}: {exc}") from exc
