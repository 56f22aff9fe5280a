"""Research settings: defaults run the four strategies; bad values name the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.research.config import ResearchSettings
from stratops.research_job import ResearchSelectionError, select


def test_research_defaults_cover_the_four_strategies_on_the_nse_year() -> None:
    research = ResearchSettings()
    assert set(research.strategies) == {"range_breakout", "ema_cross", "atr_reversal",
                                        "atr_divergence"}
    assert research.datasets == ("nse_index_1m",)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("select", "profit", "select='profit'"),
    ("pbo_splits", 7, "even"),
    ("strategies", ["nope"], "unknown strategies"),
    ("symbols", {"nse_index_1m": "../../../../../tmp/x"}, r"research\.symbols\.nse_index_1m"),
    ("symbols", {"../x": "NIFTY"}, r"research\.symbols key '\.\./x'"),
    ("datasets", ["../../x"], r"research\.datasets entry '\.\./\.\./x'"),
])
def test_research_settings_bad_value_is_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ResearchSettings(**{field: value})


def test_research_selection_outside_the_partitions_is_refused() -> None:
    with pytest.raises(ResearchSelectionError, match=r"research\.datasets"):
        select(ResearchSettings(), None, ["goog_1d"])


def test_research_selection_defaults_to_every_pair() -> None:
    pairs = select(ResearchSettings(), ["ema_cross"], None)
    assert pairs == [("nse_index_1m", "ema_cross")]


def test_research_space_outside_the_declared_space_is_refused() -> None:
    from pipelines.research.study import StudyError, candidate_params

    research = ResearchSettings(spaces={"ema_cross": {"fast": [5], "slow": [500], "trend": [0]}})
    with pytest.raises(StudyError, match=r"research\.spaces\.ema_cross.*slow=500"):
        candidate_params("ema_cross", research)
