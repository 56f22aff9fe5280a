"""The typed version config and its one codec (``model_config`` JSON <-> VersionConfig)."""

from __future__ import annotations

import dataclasses
import json
from datetime import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.params import expand_space
from strategies.roster import STRATEGIES, get_strategy
from strategies.simulator import SimConfig
from strategies.venues import VENUES, CutoffError, parse_cutoff, resolve_cutoff
from strategies.version_config import KNOWN_KEYS, SimRules, VersionConfig, VersionConfigError

# A version's model_config exactly as study.model_config wrote it before VersionConfig
# (SimConfig's asdict without costs, plus cost_schedule): what MLflow already holds.
STUDY_WRITES_TODAY: dict[str, Any] = {
    "strategy": "ema_cross", "params": {"fast": 9, "slow": 21, "trend": 0}, "venue": "NSE",
    "cutoff": "venue", "symbols": ["NIFTY"], "dataset": "nse_index_1m",
    "sim": {"qty_lots": 1, "lot_size": 75, "stop_points": 20.0, "stop_frac": 0.0,
            "trail_points": 0.0, "trail_frac": 0.0, "target_points": 0.0, "target_frac": 0.0,
            "max_trades_per_day": 0, "slippage_ticks": 0.0, "tick_size": 0.05,
            "fill": "next_open", "initial_capital_inr": 1000000.0, "round_levels": True,
            "size_type": "lots", "size": 0.0, "fractional": False, "direction": "both",
            "cost_schedule": "2024-10-01"}}
MINIMAL: dict[str, Any] = {"strategy": "ema_cross", "params": {"fast": 9, "slow": 21},
                           "venue": "NSE"}


def test_version_config_study_dict_of_today_decodes() -> None:
    config = VersionConfig.from_json(STUDY_WRITES_TODAY)
    assert config.strategy == "ema_cross"
    assert config.params == get_strategy("ema_cross").make_params(fast=9, slow=21, trend=0)
    assert (config.venue, config.cutoff, config.symbols) == ("NSE", "venue", ("NIFTY",))
    assert config.sim.stop_points == 20.0
    assert config.sim.lot_size == 75
    assert config.sim.cost_schedule == "2024-10-01"


def test_version_config_study_dict_of_today_encodes_back_with_its_default_product() -> None:
    assert VersionConfig.from_json(STUDY_WRITES_TODAY).to_json() == {**STUDY_WRITES_TODAY,
                                                                       "product": "NRML"}


def test_version_config_study_dict_survives_a_json_round_trip() -> None:
    text = json.dumps(STUDY_WRITES_TODAY)
    assert VersionConfig.from_json(json.loads(text)) == VersionConfig.from_json(
        STUDY_WRITES_TODAY)


def test_version_config_minimal_dict_takes_the_defaults() -> None:
    config = VersionConfig.from_json(MINIMAL)
    assert (config.cutoff, config.symbols, config.dataset) == ("venue", (), None)
    assert config.sim == SimRules()


def test_version_config_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(VersionConfigError, match=r"unknown keys \['loader'\]"):
        VersionConfig.from_json({**STUDY_WRITES_TODAY, "loader": "os.system"})


def test_version_config_unknown_sim_key_is_refused() -> None:
    sim = {**STUDY_WRITES_TODAY["sim"], "leverage": 5}
    with pytest.raises(VersionConfigError, match=r"model_config.sim has unknown keys "
                                                 r"\['leverage'\]"):
        VersionConfig.from_json({**STUDY_WRITES_TODAY, "sim": sim})


@pytest.mark.parametrize(("change", "message"), [
    ({"strategy": "momentum"}, "strategy='momentum' is not registered"),
    ({"params": {"fast": 30, "slow": 21}}, "slow=21"),
    ({"params": {"fast": 9, "slow": 21, "speed": 2}}, "speed"),
    ({"params": [9, 21]}, r"params=\[9, 21\]"),
    ({"venue": "LSE"}, "venue='LSE'"),
    ({"cutoff": "3pm"}, "cutoff='3pm'"),
    ({"symbols": ["NIFTY", "../../x"]}, r"'\.\./\.\./x'"),
    ({"symbols": "NIFTY"}, "symbols='NIFTY'"),
    ({"dataset": "../x"}, r"dataset '\.\./x'"),
    ({"sim": [1]}, r"sim=\[1\]"),
    ({"sim": {"lot_size": "75"}}, r"model_config.sim.lot_size='75': must be int"),
    ({"sim": {"round_levels": 1}}, r"model_config.sim.round_levels=1: must be bool"),
    ({"sim": {"qty_lots": True}}, r"model_config.sim.qty_lots=True: must be int"),
    ({"sim": {"stop_points": -1.0}}, r"stop_points"),
])
def test_version_config_bad_value_is_refused_naming_field_and_value(
        change: dict[str, Any], message: str) -> None:
    with pytest.raises(VersionConfigError, match=message):
        VersionConfig.from_json({**MINIMAL, **change})


def test_version_config_missing_keys_are_named() -> None:
    with pytest.raises(VersionConfigError, match=r"\['params', 'venue'\]"):
        VersionConfig.from_json({"strategy": "ema_cross"})


def test_version_config_not_a_mapping_is_refused() -> None:
    with pytest.raises(VersionConfigError, match="must be a mapping"):
        VersionConfig.from_json(["ema_cross"])


def test_version_config_is_frozen() -> None:
    config = VersionConfig.from_json(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.venue = "NYSE"  # type: ignore[misc]


def test_sim_rules_fields_are_sim_config_fields_with_the_schedule_by_name() -> None:
    sim_fields = {f.name for f in dataclasses.fields(SimConfig)} - {"costs"}
    assert {f.name for f in dataclasses.fields(SimRules)} == sim_fields | {"cost_schedule"}


def test_sim_rules_sim_config_carries_every_rule() -> None:
    rules = SimRules(lot_size=75, stop_points=20.0, max_trades_per_day=2)
    assert SimRules.from_config(rules.sim_config()) == rules


@pytest.mark.parametrize(("text", "parsed"), [
    ("venue", "venue"), ("none", None), (None, None), ("14:30", time(14, 30)),
    (time(9, 45), time(9, 45)),
])
def test_parse_cutoff_accepts_the_three_forms(text: object, parsed: object) -> None:
    assert parse_cutoff(text) == parsed


def test_parse_cutoff_other_text_is_refused_naming_the_field() -> None:
    with pytest.raises(CutoffError, match=r"research\.cutoff='3pm'"):
        parse_cutoff("3pm", field="research.cutoff")


def test_resolve_cutoff_venue_is_the_venues_own() -> None:
    assert resolve_cutoff("venue", "NSE") == time(15, 0)
    assert resolve_cutoff("venue", "NYSE") is None


# -- property: the codec round-trips every valid config --------------------------------

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_SYMBOLS = st.from_regex(r"[A-Z][A-Z0-9]{0,9}", fullmatch=True)
_CUTOFFS = st.one_of(st.just("venue"), st.none(),
                     st.builds(time, st.integers(0, 23), st.integers(0, 59)))
_POINTS = st.floats(0, 500, allow_nan=False)


@st.composite
def _sim_rules(draw: st.DrawFn) -> SimRules:
    kw: dict[str, Any] = {"qty_lots": draw(st.integers(1, 20)),
                          "lot_size": draw(st.integers(1, 100)),
                          "max_trades_per_day": draw(st.integers(0, 10)),
                          "slippage_ticks": draw(st.floats(0, 5)),
                          "tick_size": draw(st.sampled_from([0.05, 0.01, 1.0])),
                          "round_levels": draw(st.booleans()),
                          "cost_schedule": draw(st.none() | st.just("2024-10-01"))}
    for rule in ("stop", "trail", "target"):
        unit = draw(st.sampled_from(["points", "frac"]))
        kw[f"{rule}_{unit}"] = draw(_POINTS) if unit == "points" else draw(st.floats(0, 0.5))
    return SimRules(**kw)


@st.composite
def _configs(draw: st.DrawFn) -> VersionConfig:
    spec = get_strategy(draw(st.sampled_from(sorted(STRATEGIES))))
    combos = list(expand_space(spec.params_cls, {k: v[:3] for k, v in spec.space.items()}))
    return VersionConfig(spec=spec, params=draw(st.sampled_from(combos)),
                         venue=draw(st.sampled_from(sorted(VENUES))), cutoff=draw(_CUTOFFS),
                         symbols=tuple(draw(st.lists(_SYMBOLS, max_size=3))),
                         dataset=draw(st.none() | _NAMES), sim=draw(_sim_rules()))


@settings(max_examples=150, deadline=None)
@given(_configs())
def test_version_config_codec_round_trips_through_json(config: VersionConfig) -> None:
    encoded = json.loads(json.dumps(config.to_json()))
    assert VersionConfig.from_json(encoded) == config
    assert set(encoded) == set(KNOWN_KEYS)
