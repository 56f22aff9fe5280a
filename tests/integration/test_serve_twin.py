"""``stratops live serve`` with ``live.paper_twin``: the paper twin trades beside each session
(stratops.twin_ops.TwinBeside.beside) and at a traded day's close the service reconciles it
(stratops.twin_ops.twin_close_sink) before the journal's seal, writes ``twin/twin.json`` in
the day's folder and records it in ``day.json``."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from live.service.clock import SimulatedClock, StopSignal
from live.service.service import LiveService, ServeConfig
from stratops.settings import Settings
from stratops.twin_ops import twin_close_sink
from tests.serve_days import ReplayDays
from tests.unit.test_serve import Pages, ist

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_served_day_runs_its_paper_twin_and_reports_it(tmp_path: Path) -> None:
    for name in ("policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    settings = Settings(root=tmp_path, live={"paper_twin": True})
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))
    days = ReplayDays(tmp_path, clock)
    lines: list[str] = []
    sink = twin_close_sink(settings, "live", lines.append)
    assert sink is not None
    config = ServeConfig(report_dir=tmp_path / "days", max_sessions=1,
                         page_every=timedelta(minutes=5), wake=timedelta(seconds=30))
    result = LiveService(factory=days, clock=clock, stop=StopSignal(), pager=Pages(clock),
                         config=config, log=lines.append, twin_sink=sink,
                         twin_feed=sink.beside).serve()
    assert result.days[0].status == "traded"
    folder = tmp_path / "days" / "2025-03-03"
    day = json.loads((folder / "day.json").read_text())
    assert day["twin"]["file"] == str(folder / "twin" / "twin.json") and day["twin"]["bars"] > 0
    assert day["twin"]["rebuilt_bars"] == 0  # it traded the whole day beside live
    report = json.loads((folder / "twin" / "twin.json").read_text())
    assert [s["strategy"] for s in report["strategies"]] == ["ema_cross"]
    assert days.journal().verify().ok  # a twin_drift alert (if any) came before the seal
    assert any("paper twin" in line for line in lines)
    assert twin_close_sink(Settings(root=tmp_path), "live", lines.append) is None  # off


def test_twin_that_cannot_run_is_journaled_and_never_stops_the_day(tmp_path: Path) -> None:
    """No policy.yaml in the project: the twin cannot load its limits."""
    from live.events import AlertRaised
    from stratops.twin_ops import TWIN_FAILED
    from tests.unit.test_runner_engine import day_bars, stores_in

    stores = stores_in(tmp_path / "live")
    runner = stores.run(day_bars(30))
    lines: list[str] = []
    sink = twin_close_sink(Settings(root=tmp_path, live={"paper_twin": True}), "live",
                           lines.append)
    assert sink is not None
    found = sink(runner, date(2025, 3, 3), tmp_path / "twin")
    assert found is not None and "the paper twin did not run" in found["error"]
    (alert,) = [m for m in stores.messages(AlertRaised) if m.code == TWIN_FAILED]  # type: ignore[attr-defined]
    assert "policy.yaml" in alert.message and lines  # type: ignore[attr-defined]
