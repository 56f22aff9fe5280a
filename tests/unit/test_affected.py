"""Which strategies the strategy-gates CI researches for a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.research.affected import ChangedFilesError, affected_strategies, changed_files
from strategies.roster import STRATEGIES


def test_affected_one_strategy_file_selects_that_strategy() -> None:
    assert affected_strategies(["strategies/ema_cross.py", "README.md"]) == ["ema_cross"]


@pytest.mark.parametrize("path", ["strategies/indicators.py", "gates.yaml", "dvc.lock",
                                  "pipelines/research/walk_forward.py"])
def test_affected_shared_file_selects_every_strategy(path: str) -> None:
    assert affected_strategies([path]) == list(STRATEGIES)


def test_affected_unrelated_change_selects_none() -> None:
    assert affected_strategies(["README.md", "live/README.md"]) == []


def test_changed_files_unknown_ref_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChangedFilesError, match="no-such-ref"):
        changed_files(tmp_path, "no-such-ref")
