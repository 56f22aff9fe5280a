"""The flatten drill on the paper exchange: a position held when the stack goes down is
flattened from the broker's console, and the restarted runner halts on the break instead of
trading on a journal that no longer matches the broker."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from stratops.drill_ops import DrillReport, flatten_drill
from tests.synthetic_datasets import nse_index_1m_path

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 3)  # EMA cross goes short at bar 22 (filled at bar 23's open)


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> DrillReport:
    folder = tmp_path_factory.mktemp("drill") / "flatten"
    return flatten_drill(folder, nse_index_1m_path(), DAY, REPO / "risk.yaml")


def test_flatten_drill_position_held_when_stack_goes_down(drill: DrillReport) -> None:
    assert drill.position_before == {"NIFTY": -75}


def test_flatten_drill_console_flattens_the_broker_within_a_bar(drill: DrillReport) -> None:
    assert drill.console_orders and drill.bars_to_flat == 1 and drill.position_after == {}


def test_flatten_drill_restarted_runner_halts_naming_the_console_order(
        drill: DrillReport) -> None:
    assert drill.restart_halted and drill.passed
    assert any(drill.console_orders[0] in issue for issue in drill.restart_issues)


def test_flatten_drill_without_market_after_the_console_fails(tmp_path: Path) -> None:
    report = flatten_drill(tmp_path / "flatten", nse_index_1m_path(), DAY,
                           REPO / "risk.yaml", max_bars=0)
    assert report.position_after == {"NIFTY": -75} and not report.passed


def test_flatten_drill_refuses_a_used_folder(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        flatten_drill(tmp_path, nse_index_1m_path(), DAY, REPO / "risk.yaml")
