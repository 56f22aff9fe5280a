"""A version's execution algo (``model_config["execution"]``): parsed and refused like the
rest of the config, absent means market (the config of a market version is unchanged), and
it is part of the artifacts whose digest the signed snapshot approves."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from live.runner.deployments import build
from pipelines.research.config import ResearchSettings
from pipelines.research.registry import PYFUNC_MODEL_PATH, model_digest, read_code_model_config
from strategies.algo_spec import MARKET, AlgoSpec
from strategies.version_config import VersionConfig, VersionConfigError

MINIMAL: dict[str, Any] = {"strategy": "ema_cross", "params": {"fast": 9, "slow": 21},
                           "venue": "NSE"}
TWAP = {"name": "twap", "horizon_minutes": 20, "child_count": 5, "randomise_pct": 25.0,
        "limit_offset_ticks": 1, "slippage_guard_bps": 30.0, "on_deadline": "cancel"}


def test_version_config_execution_absent_is_market_and_not_written() -> None:
    config = VersionConfig.from_json(MINIMAL)
    assert config.execution == MARKET
    assert "execution" not in config.to_json()


def test_version_config_execution_round_trips() -> None:
    config = VersionConfig.from_json({**MINIMAL, "execution": TWAP})
    assert config.execution == AlgoSpec.from_mapping(TWAP)
    assert VersionConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(("execution", "field"), [
    ({"name": "pov", "participation_pct": 0}, "model_config.execution.participation_pct=0"),
    ({"name": "twap", "speed": 3}, "model_config.execution has unknown keys"),
    ({"name": "vwap", "randomise_pct": 75}, "model_config.execution.randomise_pct=75"),
    ("twap", "model_config.execution='twap': must be a mapping"),
])
def test_version_config_bad_execution_refused_naming_field(execution: object,
                                                           field: str) -> None:
    with pytest.raises(VersionConfigError) as caught:
        VersionConfig.from_json({**MINIMAL, "execution": execution})
    assert field in str(caught.value)


def test_deployment_carries_the_version_execution() -> None:
    config = VersionConfig.from_json({**MINIMAL, "symbols": ["NIFTY"], "execution": TWAP})
    assert build(config, 1, "live", 1.0, "0" * 64).execution.name == "twap"


def _saved_model(folder: Path, config: dict[str, Any]) -> Path:
    """A models-from-code pyfunc as MLflow saves it: ``MLmodel`` with the config, and the
    installed ``pyfunc_model.py``."""
    folder.mkdir()
    shutil.copy(PYFUNC_MODEL_PATH, folder / PYFUNC_MODEL_PATH.name)
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": {
        "model_code_path": PYFUNC_MODEL_PATH.name, "config": config}}}))
    return folder


def test_model_digest_changes_with_the_algo(tmp_path: Path) -> None:
    twap = VersionConfig.from_json({**MINIMAL, "execution": TWAP}).to_json()
    vwap = VersionConfig.from_json({**MINIMAL, "execution": {**TWAP, "name": "vwap"}}).to_json()
    first = _saved_model(tmp_path / "a", twap)
    second = _saved_model(tmp_path / "b", vwap)
    assert model_digest(first) != model_digest(second)  # the approved (signed) digest differs
    loaded = VersionConfig.from_json(read_code_model_config(second, "models:/x/1"))
    assert loaded.execution.name == "vwap"


def test_research_execution_setting_out_of_bounds_refused_naming_field() -> None:
    with pytest.raises(ValidationError, match=r"research\.execution\.child_count=0"):
        ResearchSettings(execution={"name": "twap", "child_count": 0})


def test_research_execution_setting_accepts_a_valid_algo() -> None:
    assert ResearchSettings(execution=TWAP).execution == TWAP
