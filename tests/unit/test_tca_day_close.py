"""The daily TCA on its runtime paths: the service's day close writes ``tca/tca.json|html``
and hands the tables to its sink (the MLflow log: tests/integration/test_tca_mlflow.py);
``stratops tca report``."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.journal import open_journal
from live.service.clock import SimulatedClock, StopSignal
from live.service.service import LiveService, ServeConfig
from live.tca.extract import TcaTables
from live.tca.report import TcaReportFiles
from stratops.cli import main
from tests.serve_days import ReplayDays
from tests.unit.test_tca import at, events

IST = ZoneInfo("Asia/Kolkata")
BARS = 120  # 09:15 .. 11:14: a few EMA-cross round trips, a fast session


Served = tuple[Path, list[tuple[TcaTables, TcaReportFiles]]]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """One served session (2025-03-03, EMA cross on the paper exchange), its sink's calls."""
    folder = tmp_path_factory.mktemp("serve")
    clock = SimulatedClock(datetime(2025, 3, 3, 8, tzinfo=IST))
    sunk: list[tuple[TcaTables, TcaReportFiles]] = []
    config = ServeConfig(report_dir=folder / "days", max_sessions=1,
                         page_every=timedelta(minutes=5), wake=timedelta(seconds=30),
                         flatten_wait=timedelta(0))
    LiveService(factory=ReplayDays(folder, clock, bars=BARS), clock=clock, stop=StopSignal(),
                pager=_NoPager(), config=config, log=lambda _line: None,
                tca_sink=lambda tables, files: sunk.append((tables, files))).serve()
    return folder / "days" / "2025-03-03", sunk


class _NoPager:
    """The short session ends with a position open (paged flatten_unconfirmed): not ours."""

    def page(self, severity: object, code: str, message: str) -> None:
        pass


@pytest.fixture()
def hand_journal_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    open_journal(url).append_many(events(), ts_record=at(30))
    return url


def test_day_close_writes_the_tca_report_files(served: Served) -> None:
    folder, _ = served
    data = json.loads((folder / "tca" / "tca.json").read_text())
    assert data["day"] == "2025-03-03" and data["parents"]
    assert "data:image/png;base64," in (folder / "tca" / "tca.html").read_text()


def test_day_close_lists_the_tca_summary_in_day_json(served: Served) -> None:
    folder, _ = served
    lines = json.loads((folder / "day.json").read_text())["tca"]
    assert any(line.startswith("2025-03-03 ema_cross v1 all:") for line in lines)


def test_day_close_hands_the_tables_to_the_sink(served: Served) -> None:
    folder, sunk = served
    ((tables, files),) = sunk
    assert tables.day == date(2025, 3, 3) and files.json_path == folder / "tca" / "tca.json"


def test_cli_tca_report_json_prints_the_tables(hand_journal_url: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tca", "report", "--day", "2025-03-03", "--journal", hand_journal_url,
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["shortfall_inr"] for row in data["daily"]] == pytest.approx([805.0, 805.0])


def test_cli_tca_report_missing_journal_exits_two_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["tca", "report", "--day", "2025-03-03", "--journal", url]) == 2
    assert not (tmp_path / "none.db").exists()


def test_cli_tca_report_bad_day_exits_two() -> None:
    assert main(["tca", "report", "--day", "03/03/2025"]) == 2


def test_day_close_writes_the_attribution_beside_the_tca(served: Served) -> None:
    folder, _ = served
    report = json.loads((folder / "attribution" / "attribution.json").read_text())
    (row,) = report["rows"]
    parts = sum(row[c] for c in report["components"])
    assert row["strategy"] == "ema_cross" and row["net_inr"] == pytest.approx(parts)
    assert (folder / "attribution" / "attribution.html").is_file()
