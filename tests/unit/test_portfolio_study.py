"""The portfolio study: skfolio allocations learned on each training window of the sleeves'
OOS returns only and applied to the next (no look-ahead), deterministic, with the
portfolio's statistics next to each sleeve's on the same sessions, DSR counting every trial,
PBO across the allocators, the gate, and bad input refused by name."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from pipelines.research.config import PortfolioSettings, ResearchSettings
from pipelines.research.gates import Check, GateVerdict
from pipelines.research.portfolio import (
    PortfolioStudy,
    PortfolioStudyError,
    Sleeve,
    allocate,
    returns_matrix,
    sleeve_of,
    study_portfolio,
)
from pipelines.research.portfolio_report import write_portfolio_artifacts
from pipelines.research.portfolio_run import portfolio_gate, run_portfolio
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import WalkForwardReport

SESSIONS = pd.date_range("2025-03-03", periods=120, freq="B")
ALLOCATORS = ("equal_weighted", "inverse_volatility", "risk_parity")
SPEC = WalkForwardSpec(scheme="rolling", train=60, test=15, unit="sessions")


def _sleeves(seed: int = 0, n: int = 3, trials: int = 4) -> list[Sleeve]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        grid = pd.DataFrame(rng.normal(0.0004, 0.002 * (i + 1), (len(SESSIONS), trials)),
                            index=SESSIONS, columns=[f"p={k}" for k in range(trials)])
        out.append(Sleeve(f"s{i}", "NIFTY", grid["p=0"].rename(None), grid, i == 0))
    return out


def _study(sleeves: list[Sleeve], allocators: tuple[str, ...] = ALLOCATORS,
           method: str = "risk_parity") -> PortfolioStudy:
    return study_portfolio("d", sleeves, allocators=allocators, method=method, train=30,
                           test=10, pbo_splits=16)


def test_weights_are_learned_on_the_training_window_only() -> None:
    matrix = returns_matrix(_sleeves())
    base = allocate(matrix, "inverse_volatility", 30, 10)
    # first window: trained on sessions 0-29, applied to 30-39; change everything after 29
    shocked = matrix.copy()
    shocked.iloc[30:] = shocked.iloc[30:] * 7.0 + 0.01
    again = allocate(shocked, "inverse_volatility", 30, 10)
    np.testing.assert_array_equal(base.weights.iloc[0].to_numpy(),
                                  again.weights.iloc[0].to_numpy())
    assert base.windows[0] == (str(SESSIONS[0].date()), str(SESSIONS[29].date()),
                               str(SESSIONS[30].date()), str(SESSIONS[39].date()))
    # and they are inverse volatility of exactly those 30 sessions, applied to the next 10
    vol = matrix.iloc[:30].std(ddof=1).to_numpy()
    expected = (1 / vol) / (1 / vol).sum()
    np.testing.assert_allclose(base.weights.iloc[0].to_numpy(), expected, rtol=1e-3)
    np.testing.assert_allclose(base.returns.iloc[:10].to_numpy(),
                               matrix.iloc[30:40].to_numpy() @ base.weights.iloc[0].to_numpy())
    assert base.returns.index[0] == SESSIONS[30] and len(base.returns) == len(SESSIONS) - 30


def test_risk_parity_equalises_risk_contributions_in_sample() -> None:
    matrix = returns_matrix(_sleeves())
    weights = allocate(matrix, "risk_parity", 30, 10).weights.iloc[0].to_numpy()
    cov = np.cov(matrix.iloc[:30].to_numpy(), rowvar=False)
    contributions = weights * (cov @ weights)
    np.testing.assert_allclose(contributions / contributions.sum(), 1 / 3, atol=0.02)


@pytest.fixture(scope="module")
def study() -> PortfolioStudy:
    return _study(_sleeves())


def test_study_is_deterministic_and_compares_on_the_same_sessions(study: PortfolioStudy
                                                                 ) -> None:
    first, second = study, _study(_sleeves())
    pd.testing.assert_frame_equal(pd.DataFrame(first.rows), pd.DataFrame(second.rows))
    assert first.metrics == second.metrics or pd.Series(first.metrics).equals(
        pd.Series(second.metrics))
    sessions = {r["sessions"] for r in first.rows}
    assert sessions == {float(len(SESSIONS) - 30)}
    best = max((r for r in first.rows if r["kind"] == "strategy"), key=lambda r: r["sharpe"])
    assert first.best_single == best["name"]
    assert first.beats_best_single == (first.metrics["portfolio_sharpe"] > best["sharpe"])
    assert first.metrics["sharpe_vs_best_single"] == pytest.approx(
        first.metrics["portfolio_sharpe"] - best["sharpe"])


def test_dsr_counts_every_sleeve_trial_and_every_allocator(study: PortfolioStudy) -> None:
    portfolio = study.row("portfolio:risk_parity")
    assert portfolio["dsr.n_trials"] == 3 * 4 + len(ALLOCATORS)
    assert study.row("s0/NIFTY")["dsr.n_trials"] == 4
    assert 0.0 <= portfolio["dsr_probability"] <= 1.0


def test_pbo_applies_across_allocators_only(study: PortfolioStudy) -> None:
    several = study
    assert 0.0 <= several.metrics["portfolio_pbo"] <= 1.0
    assert several.metrics["portfolio_pbo.n_configs"] == len(ALLOCATORS)
    one = _study(_sleeves(), allocators=("risk_parity",))
    assert math.isnan(one.metrics["portfolio_pbo"])


def test_a_sleeve_that_only_adds_noise_is_down_weighted_by_inverse_volatility() -> None:
    sleeves = _sleeves()
    noisy = sleeves[2].trials * 20.0
    sleeves[2] = Sleeve("s2", "NIFTY", noisy["p=0"].rename(None), noisy, False)
    weights = allocate(returns_matrix(sleeves), "inverse_volatility", 30, 10).weights
    assert (weights["s2/NIFTY"] < 0.05).all()


def test_bad_input_is_refused_by_name() -> None:
    sleeves = _sleeves()
    with pytest.raises(PortfolioStudyError, match="at least two sleeves"):
        returns_matrix(sleeves[:1])
    shifted = sleeves[1].trials.set_axis(SESSIONS + pd.Timedelta(days=1))
    other = Sleeve("s1", "NIFTY", shifted["p=0"].rename(None), shifted, False)
    with pytest.raises(PortfolioStudyError, match="different OOS sessions"):
        returns_matrix([sleeves[0], other])
    with pytest.raises(PortfolioStudyError, match="train_sessions"):
        allocate(returns_matrix(sleeves), "risk_parity", 115, 10)
    with pytest.raises(PortfolioStudyError, match="unknown allocator"):
        allocate(returns_matrix(sleeves), "kelly", 30, 10)
    empty = WalkForwardReport("ema_cross", "NIFTY", SPEC, 1, [], pd.DataFrame(),
                              pd.Series(dtype=float))
    with pytest.raises(PortfolioStudyError, match=r"ema_cross/NIFTY.*re-run"):
        sleeve_of(empty, True)
    bad = pd.Series([0.01, math.nan], index=SESSIONS[:2])
    nan_report = WalkForwardReport("ema_cross", "NIFTY", SPEC, 1, [],
                                   pd.DataFrame(), pd.Series(dtype=float), oos_returns=bad,
                                   trials=bad.to_frame("p=0"))
    with pytest.raises(PortfolioStudyError, match="not finite"):
        sleeve_of(nan_report, True)


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="method='risk_parity' is not in"):
        PortfolioSettings(allocators=("equal_weighted",))
    with pytest.raises(ValidationError, match="repeats a symbol"):
        PortfolioSettings(symbols={"nse_index_1m": ("NIFTY", "NIFTY")})
    with pytest.raises(ValidationError, match=r"research\.portfolio\.symbols"):
        PortfolioSettings(symbols={"nse_index_1m": ("../x",)})
    with pytest.raises(ValidationError):
        PortfolioSettings(train_sessions=2)


def _gates(tmp_path: Path, **overrides: float) -> Path:
    defaults = {"min_oos_sharpe": 0.5, "min_dsr_probability": 0.9, "max_pbo": 0.5,
                "max_drawdown": 0.2, "min_trades": 0, "max_cost_share": 1.0,
                "min_stability": 0.0}
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "defaults": {**defaults, **overrides}}))
    return path


def test_portfolio_gate_fails_closed_and_skips_pbo_with_one_allocator(tmp_path: Path) -> None:
    gates = _gates(tmp_path)
    good = {"portfolio_sharpe": 1.0, "portfolio_dsr_probability": 0.95,
            "portfolio_max_drawdown": 0.1, "portfolio_pbo": 0.2, "portfolio_pbo.n_configs": 3}
    assert portfolio_gate(gates, good)["passed"]
    nan_dsr = portfolio_gate(gates, {**good, "portfolio_dsr_probability": math.nan})
    assert not nan_dsr["passed"]
    one = portfolio_gate(gates, {**good, "portfolio_pbo": math.nan,
                                 "portfolio_pbo.n_configs": 1})
    assert one["passed"] and "max_pbo" not in {c["name"] for c in one["checks"]}
    overfit = portfolio_gate(gates, {**good, "portfolio_pbo": 0.8})
    assert [c["name"] for c in overfit["checks"] if not c["passed"]] == ["max_pbo"]


def test_report_shows_the_portfolio_next_to_the_strategies(tmp_path: Path,
                                                          study: PortfolioStudy) -> None:
    sleeves = _sleeves()
    gate = portfolio_gate(_gates(tmp_path), study.metrics)
    paths = write_portfolio_artifacts(study, returns_matrix(sleeves), gate, tmp_path / "out")
    page = paths["portfolio.html"].read_text()
    for name in ("s0/NIFTY", "s1/NIFTY", "s2/NIFTY", "portfolio:risk_parity",
                 "portfolio:inverse_volatility"):
        assert name in page
    assert ("does not beat" in page) != study.beats_best_single
    assert paths["equity.png"].read_bytes()[:4] == b"\x89PNG"
    assert '"beats_best_single"' in paths["portfolio.json"].read_text()


def test_a_strategy_on_several_symbols_gets_its_joint_row() -> None:
    sleeves = _sleeves(n=2)
    other = sleeves[0].trials * 0.5 + sleeves[1].trials * 0.5
    sleeves.append(Sleeve("s0", "BANKNIFTY", other["p=0"].rename(None), other, True))
    study = _study(sleeves, allocators=("equal_weighted",), method="equal_weighted")
    joint = study.row("s0/NIFTY+BANKNIFTY")
    evaluated = study.allocations["equal_weighted"].returns.index
    expected = (sleeves[0].returns.loc[evaluated] + sleeves[2].returns.loc[evaluated]) / 2
    assert joint["kind"] == "symbols" and joint["dsr.n_trials"] == 8
    assert joint["total_return"] == pytest.approx(float(np.prod(1 + expected) - 1))
    assert "s1/NIFTY+BANKNIFTY" not in {r["name"] for r in study.rows}
    assert study.best_single in {"s0/NIFTY", "s1/NIFTY", "s0/BANKNIFTY"}


def _report(strategy: str, sleeve: Sleeve) -> WalkForwardReport:
    return WalkForwardReport(strategy, "NIFTY", SPEC, 4, [], pd.DataFrame(),
                             pd.Series(dtype=float), oos_returns=sleeve.returns,
                             trials=sleeve.trials)


def test_fewer_than_two_sleeves_is_no_study_not_an_error(tmp_path: Path) -> None:
    sleeves = _sleeves(n=2)
    reports = {"ema_cross": _report("ema_cross", sleeves[0]),
               "atr_reversal": _report("atr_reversal", sleeves[1])}
    verdicts = {name: GateVerdict(name, (Check("max_pbo", "pbo", 0.1, 0.5, name == "ema_cross"),),
                                  "d") for name in reports}
    gates = _gates(tmp_path)
    only = ResearchSettings(strategies=("ema_cross",), portfolio=PortfolioSettings(symbols={}))
    skipped = run_portfolio(tmp_path, "d", only, gates, reports, verdicts)
    assert isinstance(skipped, str) and "1 sleeve(s) (ema_cross/NIFTY)" in skipped
    passed_only = ResearchSettings(strategies=("ema_cross", "atr_reversal"),
                                   portfolio=PortfolioSettings(symbols={},
                                                               include="gate_passed"))
    skipped = run_portfolio(tmp_path, "d", passed_only, gates, reports, verdicts)
    assert isinstance(skipped, str) and "atr_reversal/NIFTY left out" in skipped
    both = ResearchSettings(strategies=("ema_cross", "atr_reversal"),
                            portfolio=PortfolioSettings(symbols={},
                                                        allocators=("equal_weighted",),
                                                        method="equal_weighted"))
    outcome = run_portfolio(tmp_path, "d", both, gates, reports, verdicts)
    assert not isinstance(outcome, str)
    assert outcome.study.sleeves == ["ema_cross/NIFTY", "atr_reversal/NIFTY"]
    assert {c["name"] for c in outcome.gate["checks"]} == {
        "min_oos_sharpe", "min_dsr_probability", "max_drawdown"}  # PBO: one allocator


def test_volatility_target_scales_each_window_on_its_training_sessions() -> None:
    matrix = returns_matrix(_sleeves())
    plain = allocate(matrix, "risk_parity", 30, 10)
    target = allocate(matrix, "risk_parity", 30, 10, target_volatility=0.01, max_leverage=1.0)
    first = plain.weights.iloc[0].to_numpy()
    train_vol = np.std(matrix.iloc[:30].to_numpy() @ first, ddof=1) * np.sqrt(252.0)
    scale = min(1.0, 0.01 / train_vol)
    assert scale < 1.0  # the sleeves' volatility is above the 1 % target
    np.testing.assert_allclose(target.weights.iloc[0].to_numpy(), first * scale, rtol=1e-6)
    np.testing.assert_allclose(target.returns.iloc[:10].to_numpy(),
                               plain.returns.iloc[:10].to_numpy() * scale, rtol=1e-6)
    capped = allocate(matrix, "risk_parity", 30, 10, target_volatility=1.5, max_leverage=1.0)
    np.testing.assert_allclose(capped.weights.to_numpy(), plain.weights.to_numpy())
