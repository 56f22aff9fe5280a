"""``stratops execution calibrate``: a recorded tick day in, the calibration file out."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.market.recorder import write_part
from live.market.ticks import Tick
from stratops.cli import main

IST = ZoneInfo("Asia/Kolkata")
DAY = "2025-01-06"


def _record_day(root: Path, n: int) -> None:
    """``n`` traded ticks around a 100.0 book, each after a two-sided quote."""
    rng = random.Random(3)
    t0 = datetime(2025, 1, 6, 9, 15, tzinfo=IST)
    rows, volume = [], 0
    for i in range(n):
        ts = t0 + timedelta(seconds=i)
        qty = rng.randint(1, 50)
        volume += qty
        price = 100.0 + rng.choice((-1, 1)) * (0.05 + 0.01 * qty ** 0.5)
        rows.append((int(ts.timestamp() * 1e9), Tick(
            token=1, symbol="NIFTY", ts=ts, price=price, last_qty=qty, volume=volume, oi=None,
            bids=((99.95, 10, 1),), asks=((100.05, 10, 1),))))
    write_part(root / "data" / "ticks" / DAY, DAY, rows)


def test_calibrate_on_ticks_writes_a_fitted_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    _record_day(tmp_path, 400)
    out = tmp_path / "impact.json"
    assert main(["execution", "calibrate", "--ticks", DAY, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert (written["calibration_source"], written["n_prints"]) == ("prints", 399)
    assert written["source"].startswith(f"ticks:{DAY}")


def test_calibrate_with_too_few_prints_writes_literature_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    _record_day(tmp_path, 30)
    out = tmp_path / "impact.json"
    assert main(["execution", "calibrate", "--ticks", DAY, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["calibration_source"] == "literature" and "29 usable prints" in written["note"]


def test_calibrate_from_a_journal_never_run_exits_two(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    assert main(["execution", "calibrate", "--journal", "canary",
                 "--out", str(tmp_path / "x.json")]) == 2
