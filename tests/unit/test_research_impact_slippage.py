"""``research.slippage: calibrated``: the simulator slips by what the impact calibration live
reads gives one order of the study's size - research and live assume the same costs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from live.impact.calibration import ImpactCalibration, write_calibration
from live.impact.estimate import ImpactParams
from pipelines.research.config import ImpactLaw, ResearchSettings
from pipelines.research.study import StudyError, _calibrated_slippage
from strategies.bars import Bars, bars_from_frame
from stratops.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _root(tmp_path: Path) -> Path:
    for name in ("risk.yaml", "policy.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def _bars() -> Bars:
    ts = pd.date_range("2025-03-03 09:15", periods=4, freq="1min", tz="Asia/Kolkata")
    frame = pd.DataFrame({"ts": ts, "open": [100.0, 101, 102, 103],
                          "high": [101.0, 102, 103, 104], "low": [99.0, 100, 101, 102],
                          "close": [100.5, 101.5, 102.5, 103.5],
                          "volume": [1000.0, 3000, 2000, 2000]})
    return bars_from_frame(frame, symbol="NIFTY", venue="NSE")


def test_calibrated_research_without_a_file_takes_literature_values_and_says_so(
        tmp_path: Path) -> None:
    settings = Settings(root=_root(tmp_path), research=ResearchSettings(slippage="calibrated"))
    law = settings.research.impact_law
    assert law is not None and (law.y, law.exponent) == (1.0, 0.5)
    assert law.source.startswith("literature") and "no calibration file" in law.source


def test_calibrated_research_reads_the_file_live_reads(tmp_path: Path) -> None:
    root = _root(tmp_path)
    fitted = ImpactParams(y=0.7, exponent=0.6, permanent_fraction=0.3,
                          calibration_source="prints", note="fitted on 400 prints")
    write_calibration(root / "data/calibration/impact.json",
                      ImpactCalibration(params=fitted, n_prints=400, source="test",
                                        source_sha256="0" * 64))
    law = Settings(root=root, research=ResearchSettings(slippage="calibrated")
                   ).research.impact_law
    assert law is not None and (law.y, law.exponent) == (0.7, 0.6)
    assert law.source.startswith("prints")


def test_calibrated_slippage_equals_the_hand_computed_square_root_law() -> None:
    research = ResearchSettings(slippage="calibrated",
                                impact_law=ImpactLaw(y=0.5, exponent=0.5, source="test"))
    ticks = _calibrated_slippage(_bars(), {"qty_lots": 2, "lot_size": 100,
                                           "tick_size": 0.05}, research)
    # sigma: mean ln(H/L) of the four bars x 1/sqrt(4 ln 2), in bps; participation 200/2000
    sigma_bps = np.mean(np.log([101 / 99, 102 / 100, 103 / 101, 104 / 102])) \
        / math.sqrt(4 * math.log(2)) * 1e4
    cost_bps = 0.5 * sigma_bps * (200 / 2000) ** 0.5
    assert ticks == pytest.approx(cost_bps / 1e4 * 102.0 / 0.05)  # median close 102.0


def test_calibrated_slippage_with_a_fixed_one_too_is_refused() -> None:
    research = ResearchSettings(slippage="calibrated", sim={"slippage_ticks": 1},
                                impact_law=ImpactLaw(y=1.0, exponent=0.5, source="test"))
    with pytest.raises(StudyError, match=r"slippage_ticks=1 with research\.slippage=calibrated"):
        _calibrated_slippage(_bars(), {"lot_size": 75, "tick_size": 0.05}, research)


def test_fixed_slippage_research_loads_no_impact_law(tmp_path: Path) -> None:
    assert Settings(root=tmp_path).research.impact_law is None
