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
    assert research.datasets == ("nse_futures_cont_1m",)


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
    assert pairs == [("nse_futures_cont_1m", "ema_cross")]


def test_research_space_outside_the_declared_space_is_refused() -> None:
    from pipelines.research.study import StudyError, candidate_params

    research = ResearchSettings(spaces={"ema_cross": {"fast": [5], "slow": [500], "trend": [0]}})
    with pytest.raises(StudyError, match=r"research\.spaces\.ema_cross.*slow=500"):
        candidate_params("ema_cross", research)


@pytest.mark.parametrize(("timeframe", "expected"), [
    ("1m", "1m"), ("5m", "1m"), ("15m", "1m"), ("1h", "1h"), ("4h", "1h"), ("1d", "1d"),
    ("1w", "1d"),
])
def test_timeframe_class_groups_minutes_hours_and_days(timeframe: str, expected: str) -> None:
    from pipelines.research.config import timeframe_class

    assert timeframe_class(timeframe) == expected


def test_walk_forward_defaults_follow_the_dataset_timeframe() -> None:
    from pipelines.research.config import WALK_FORWARD_DEFAULTS

    settings = ResearchSettings().walk_forward
    for timeframe in ("1m", "1h", "1d"):
        spec = settings.spec(timeframe)
        want = WALK_FORWARD_DEFAULTS[timeframe]
        assert (spec.train, spec.test, spec.purge) == (want["train"], want["test"],
                                                       want["purge"]), timeframe


def test_walk_forward_daily_defaults_hold_every_seed_strategy_warmup() -> None:
    from strategies.params import expand_space
    from strategies.roster import STRATEGIES

    spec = ResearchSettings().walk_forward.spec("1d")  # one bar per daily session
    for name, strategy in STRATEGIES.items():
        longest = max(strategy.warmup(p)
                      for p in expand_space(strategy.params_cls, strategy.space))
        assert longest + 2 <= min(spec.train, spec.test), name


def test_walk_forward_setting_overrides_only_its_field() -> None:
    spec = ResearchSettings(walk_forward={"train": 300}).walk_forward.spec("1d")
    assert (spec.train, spec.test) == (300, 252)


def test_research_pbo_spread_odd_block_count_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"pbo_spread_splits \[9\]"):
        ResearchSettings(pbo_spread_splits=(8, 9))
