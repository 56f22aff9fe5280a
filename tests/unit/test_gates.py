"""Gates: thresholds from gates.yaml, overrides, and fail-closed verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipelines.research.gates import CHECKS, GateConfigError, Gates, load_gates
from strategies.roster import STRATEGIES

GOOD = {"oos_sharpe": 1.2, "dsr_probability": 0.97, "pbo": 0.2, "oos_max_drawdown": 0.1,
        "oos_trades": 120, "oos_cost_share": 0.3, "stability": 0.8}


@pytest.fixture(scope="module")
def repo_gates(repo_root: Path) -> Gates:
    return load_gates(repo_root / "gates.yaml", set(STRATEGIES))


def test_gates_repo_file_loads_with_every_check(repo_gates: Gates) -> None:
    assert set(repo_gates.defaults.model_dump()) == set(CHECKS)


def test_gates_good_metrics_pass_every_check(repo_gates: Gates) -> None:
    verdict = repo_gates.evaluate("ema_cross", GOOD)
    assert verdict.passed
    assert len(verdict.checks) == len(CHECKS)


def test_gates_one_bad_metric_fails_only_its_check(repo_gates: Gates) -> None:
    verdict = repo_gates.evaluate("ema_cross", {**GOOD, "pbo": 0.9})
    assert not verdict.passed
    assert [c.name for c in verdict.checks if not c.passed] == ["max_pbo"]


def test_gates_missing_metric_fails_closed(repo_gates: Gates) -> None:
    metrics = {k: v for k, v in GOOD.items() if k != "stability"}
    check = next(c for c in repo_gates.evaluate("ema_cross", metrics).checks
                 if c.name == "min_stability")
    assert not check.passed and math.isnan(check.value)


def test_gates_nan_metric_fails_closed(repo_gates: Gates) -> None:
    assert not repo_gates.evaluate("ema_cross", {**GOOD, "oos_sharpe": math.nan}).passed


def test_gates_strategy_override_applies(repo_gates: Gates) -> None:
    few = {**GOOD, "oos_trades": 25}
    assert repo_gates.evaluate("range_breakout", few).passed
    assert not repo_gates.evaluate("ema_cross", few).passed


def test_gates_verdict_digest_is_stable(repo_gates: Gates) -> None:
    a = repo_gates.evaluate("ema_cross", GOOD).digest()
    assert a == repo_gates.evaluate("ema_cross", GOOD).digest()
    assert a != repo_gates.evaluate("ema_cross", {**GOOD, "pbo": 0.3}).digest()


SPREAD = {"pbo.n_splits": 16.0, "pbo.s8": 0.41, "pbo.s10": 0.46, "pbo.s12": 0.58,
          "pbo.s16": 0.44}


def test_gates_pbo_spread_across_the_threshold_warns_knife_edge(repo_gates: Gates) -> None:
    verdict = repo_gates.evaluate("ema_cross", {**GOOD, **SPREAD, "pbo": 0.44})
    assert len(verdict.warnings) == 1
    assert "knife's edge" in verdict.warnings[0]
    assert "S=16" in verdict.warnings[0] and "0.41-0.58" in verdict.warnings[0]


def test_gates_pbo_spread_on_one_side_of_the_threshold_gives_no_warning(
        repo_gates: Gates) -> None:
    below = {**SPREAD, "pbo.s12": 0.49}
    assert repo_gates.evaluate("ema_cross", {**GOOD, **below, "pbo": 0.44}).warnings == ()


def test_gates_knife_edge_warning_leaves_the_outcome_to_the_gated_pbo(
        repo_gates: Gates) -> None:
    passing = repo_gates.evaluate("ema_cross", {**GOOD, **SPREAD, "pbo": 0.44})
    failing = repo_gates.evaluate("ema_cross", {**GOOD, **SPREAD, "pbo.s16": 0.58,
                                                "pbo.s12": 0.44, "pbo": 0.58})
    assert passing.passed and passing.warnings
    assert not failing.passed and failing.warnings


def test_gates_verdict_without_warnings_keeps_its_dict(repo_gates: Gates) -> None:
    assert "warnings" not in repo_gates.evaluate("ema_cross", GOOD).to_dict()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    return path


DEFAULTS = """version: 1
defaults: {min_oos_sharpe: 0.5, min_dsr_probability: 0.9, max_pbo: 0.5, max_drawdown: 0.25,
           min_trades: 30, max_cost_share: 0.5, min_stability: 0.5}
"""


def test_load_gates_unknown_override_check_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, DEFAULTS + "strategies: {ema_cross: {min_sharpe: 1}}\n")
    with pytest.raises(GateConfigError, match=r"ema_cross has unknown checks \['min_sharpe'\]"):
        load_gates(path, set(STRATEGIES))


def test_load_gates_unknown_strategy_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, DEFAULTS + "strategies: {momo: {min_trades: 1}}\n")
    with pytest.raises(GateConfigError, match=r"strategies\.momo is not a registered"):
        load_gates(path, set(STRATEGIES))


def test_load_gates_out_of_range_threshold_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, DEFAULTS.replace("max_pbo: 0.5", "max_pbo: 1.5"))
    with pytest.raises(GateConfigError, match="max_pbo"):
        load_gates(path)


def test_load_gates_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match=r"nope\.yaml: cannot read"):
        load_gates(tmp_path / "nope.yaml")
