"""``stratops backtest`` and ``stratops grid`` from the command line, on real small data.

The reference for results is vectorbt's ``Portfolio.from_signals`` run in the same test (for
``backtest``) and the simulator run directly with the option's configuration (for ``grid``:
each option must change the result and reach the engine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.datasets import synthetic_nse
from pipelines.datasets.schema import read_dataset, write_dataset
from pipelines.datasets.shipped import GOOG, extract_ohlcv
from strategies.bars import bars_from_frame
from strategies.ema_cross import SPEC
from strategies.simulator import simulate
from stratops.backtest_ops import RunRequest, load_bars, sim_config
from stratops.cli import main

vbt = pytest.importorskip("vectorbt")

GOOG_ARGS = ["-s", "ema_cross", "-d", "goog_1d", "-p", "fast=10", "-p", "slow=30"]
NSE_ARGS = ["-s", "ema_cross", "-d", "nse_index_1m", "--symbol", "NIFTY", "--from",
            "2025-01-06", "--to", "2025-01-17"]
# the acceptance case: what a vectorbt user types, as CLI options
VECTORBT_LIKE = ["--cash", "100000", "--size-type", "percent", "--size", "1", "--sl-pct", "2",
                 "--no-costs", "--slippage-ticks", "0", "--fill", "close", "--no-round",
                 "--direction", "long"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Path:
    """A project root holding goog_1d and two weeks of the synthetic NSE minutes."""
    root = tmp_path_factory.mktemp("cli_project")
    shutil.copy(repo_root / "dvc.yaml", root / "dvc.yaml")
    datasets = root / "data" / "datasets"
    datasets.mkdir(parents=True)
    frame, meta = extract_ohlcv(GOOG)
    write_dataset(frame, datasets / "goog_1d.parquet", meta)
    synthetic_nse.main(["--out", str(datasets / "nse_index_1m.parquet"), "--start",
                        "2025-01-01", "--end", "2025-01-31"])
    return root


@pytest.fixture(autouse=True)
def _in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(project))


def backtest_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["backtest", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def backtest_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["backtest", *args]) == 0
    return capsys.readouterr().out


def _vectorbt_long_only(project: Path, **kwargs: Any) -> Any:
    """``from_signals`` on the dataset file, long-only: the short entry closes the long."""
    frame = read_dataset(project / "data" / "datasets" / "goog_1d.parquet")
    bars = bars_from_frame(frame, symbol="GOOG", venue="NYSE")
    le, lx, se, _ = SPEC.signals(bars, SPEC.make_params(fast=10, slow=30)).arrays()
    prices = {k: pd.Series(getattr(bars, k)) for k in ("open", "high", "low", "close")}
    return vbt.Portfolio.from_signals(
        prices.pop("close"), entries=pd.Series(le), exits=pd.Series(lx | se),
        direction="longonly", size=1.0, size_type="percent", init_cash=100_000.0,
        sl_stop=0.02, fees=0.0, slippage=0.0, freq="1D", **prices, **kwargs)


# --- backtest: reproduce vectorbt with the CLI alone -------------------------------------------


@pytest.mark.parametrize(("flags", "granularity"), [
    (["--fractional"], {}), ([], {"size_granularity": 1.0}),
], ids=["fractional", "whole-shares"])
def test_backtest_cli_vectorbt_options_equal_from_signals(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
        granularity: dict[str, float]) -> None:
    csv = tmp_path / "trades.csv"
    out = backtest_json(capsys, *GOOG_ARGS, *VECTORBT_LIKE, *flags, "--trades", str(csv))
    pf = _vectorbt_long_only(project, **granularity)
    theirs = pf.trades.records_readable
    mine = pd.read_csv(csv)
    assert len(mine) == len(theirs) > 10
    np.testing.assert_array_equal(mine["entry_idx"], theirs["Entry Timestamp"])
    np.testing.assert_allclose(mine["qty"], theirs["Size"], rtol=1e-12)
    np.testing.assert_allclose(mine["exit_price"], theirs["Avg Exit Price"], rtol=1e-12)
    np.testing.assert_allclose(mine["net_pnl_inr"], theirs["PnL"], rtol=1e-9)
    assert out["metrics"]["total_return"] == pytest.approx(pf.total_return(), rel=1e-9)
    assert out["metrics"]["sharpe_vectorbt"] == pytest.approx(pf.sharpe_ratio(), rel=1e-9)


# --- backtest: the options reach the simulator ---------------------------------------------------


def test_backtest_cli_cash_is_the_base_of_total_return(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    out = backtest_json(capsys, *GOOG_ARGS, "--cash", "2500")
    metrics = out["metrics"]
    assert metrics["starting_cash_inr"] == 2500.0
    assert metrics["total_return"] == pytest.approx(metrics["net_pnl_inr"] / 2500.0)


def test_backtest_cli_all_in_equals_percent_one(capsys: pytest.CaptureFixture[str]) -> None:
    all_in = backtest_json(capsys, *GOOG_ARGS, "--all-in", "--no-plot")
    percent = backtest_json(capsys, *GOOG_ARGS, "--size-type", "percent", "--size", "1",
                            "--no-plot")
    assert all_in["metrics"] == percent["metrics"]
    assert all_in["metrics"]["total_return"] != backtest_json(
        capsys, *GOOG_ARGS, "--no-plot")["metrics"]["total_return"]


def test_backtest_cli_size_type_amount_trades_that_many_units(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    backtest_json(capsys, *GOOG_ARGS, "--size-type", "amount", "--size", "7", "--trades",
                  str(csv))
    assert set(pd.read_csv(csv)["qty"]) == {7}


def test_backtest_cli_lots_multiply_the_lot_size(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    backtest_json(capsys, *NSE_ARGS, "--lots", "2", "--trades", str(csv))
    assert set(pd.read_csv(csv)["qty"]) == {2 * 75}  # NIFTY's lot in the dataset


@pytest.mark.parametrize(("direction", "side"), [("long", "long"), ("short", "short")])
def test_backtest_cli_direction_takes_one_side_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], direction: str, side: str) -> None:
    csv = tmp_path / "t.csv"
    backtest_json(capsys, *GOOG_ARGS, "--direction", direction, "--trades", str(csv))
    assert set(pd.read_csv(csv)["side"]) == {side}


@pytest.mark.parametrize(("flag", "reason"), [
    ("--sl-pct", "stop"), ("--trail-pct", "trail"), ("--tp-pct", "target"),
])
def test_backtest_cli_percent_level_exits_at_that_fraction(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, reason: str) -> None:
    csv = tmp_path / "t.csv"
    backtest_json(capsys, *GOOG_ARGS, flag, "3", "--no-round", "--fill", "close",
                  "--slippage-ticks", "0", "--direction", "long", "--trades", str(csv))
    trades = pd.read_csv(csv)
    hit = trades[trades["exit_reason"] == reason]
    assert len(hit) > 0
    if reason != "trail":  # a trail's level follows the peak, not the entry
        level = hit["entry_price"] * (0.97 if reason == "stop" else 1.03)
        on_level = np.isclose(hit["exit_price"], level, rtol=1e-12)
        gapped = hit["exit_price"] < level if reason == "stop" else hit["exit_price"] > level
        assert (on_level | gapped).all() and on_level.any()


def test_backtest_cli_round_puts_stop_exits_on_the_tick_grid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exits = {}
    for flag in ("--round", "--no-round"):
        csv = tmp_path / f"{flag}.csv"
        backtest_json(capsys, *GOOG_ARGS, "--sl-pct", "2", "--slippage-ticks", "0",
                      flag, "--trades", str(csv))
        trades = pd.read_csv(csv)
        exits[flag] = trades.loc[trades["exit_reason"] == "stop", "exit_price"].to_numpy()
    ticks = exits["--round"] / 0.01  # GOOG's tick (the dataset's default)
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert not np.allclose(exits["--no-round"] / 0.01, np.round(exits["--no-round"] / 0.01))


# --- backtest: what it reports ---------------------------------------------------------------


def test_backtest_cli_writes_equity_plot_beside_trades(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = backtest_json(capsys, *GOOG_ARGS, "--trades", str(tmp_path / "goog_trades.csv"))
    png = tmp_path / "goog_equity.png"
    assert out["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_cli_labels_both_sharpe_conventions(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    text = backtest_text(capsys, *GOOG_ARGS, "--no-plot")
    assert "Sharpe, ours (per-session returns, mean/sd x sqrt(252), rf 0)" in text
    assert "from_signals(freq='1D')" in text and "sqrt(365 days / 1D)" in text


def test_backtest_cli_ruin_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    csv = tmp_path / "t.csv"
    out = backtest_json(capsys, *NSE_ARGS, "--lots", "40", "--cash", "100000", "--trades",
                        str(csv))
    trades = pd.read_csv(csv)
    assert trades["exit_reason"].iloc[-1] == "ruin"
    assert any(note.startswith("ruin: equity reached zero") for note in out["notes"])
    assert out["metrics"]["total_return"] == pytest.approx(
        out["metrics"]["final_equity_inr"] / 100_000 - 1.0)


def test_backtest_cli_percent_size_below_one_lot_says_why(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    out = backtest_json(capsys, *NSE_ARGS, "--all-in", "--no-plot")  # 1 lot: ~INR 17 lakh
    assert out["metrics"]["trades"] == 0
    assert any(note.startswith("no trade taken: a percent size") for note in out["notes"])


@pytest.mark.parametrize("args", [
    ["--size-type", "percent"],
    ["--stop-points", "10", "--sl-pct", "1"],
    ["--direction", "sideways"],
    ["--all-in", "--size", "0.5"],
], ids=["percent_without_size", "points_and_percent", "bad_direction", "all_in_with_size"])
def test_backtest_cli_bad_option_is_one_error_line_exit_two(
        capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(["backtest", *GOOG_ARGS, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert args[0] in err or args[-1] in err  # names the flag or the offending value


# --- grid -------------------------------------------------------------------------------------

GRID_ARGS = [*NSE_ARGS, "-p", "fast=9", "-p", "slow=30,60", "-p", "trend=0"]


def grid_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["grid", *GRID_ARGS, *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _simulated(request_sim: dict[str, Any], **request: Any) -> dict[tuple[int, int], dict]:
    """Each combination's metrics from the simulator run directly (the grid's reference)."""
    run = RunRequest(strategy="ema_cross", dataset="nse_index_1m", symbol="NIFTY",
                     start=pd.Timestamp("2025-01-06").date(),
                     end=pd.Timestamp("2025-01-17").date(), sim=request_sim, **request)
    bars, meta = load_bars(run)
    config = sim_config(run, bars, meta)
    out = {}
    for slow in (30, 60):
        params = SPEC.make_params(fast=9, slow=slow)
        out[(9, slow)] = simulate(bars, SPEC.signals(bars, params), config).metrics
    return out


@pytest.mark.parametrize(("flags", "sim", "request_fields"), [
    (["--trail-points", "20"], {"trail_points": 20.0}, {}),
    (["--stop-points", "15"], {"stop_points": 15.0}, {}),
    (["--target-points", "40"], {"target_points": 40.0}, {}),
    (["--fill", "close"], {"fill": "close"}, {}),
    (["--lots", "3"], {"qty_lots": 3}, {}),
    (["--cash", "300000"], {"initial_capital_inr": 300_000.0}, {}),
    (["--direction", "short"], {"direction": "short"}, {}),
    (["--slippage-ticks", "0"], {"slippage_ticks": 0.0}, {}),
    (["--max-trades-per-day", "1"], {"max_trades_per_day": 1}, {}),
    (["--cutoff", "14:00"], {}, {"cutoff": "14:00"}),
    (["--no-costs"], {}, {"costs": False}),
    (["--sl-pct", "0.1"], {"stop_frac": 0.001}, {}),
    (["--trail-pct", "0.1"], {"trail_frac": 0.001}, {}),
    (["--tp-pct", "0.2"], {"target_frac": 0.002}, {}),
    (["--sl-pct", "0.1", "--no-round"], {"stop_frac": 0.001, "round_levels": False}, {}),
    (["--size-type", "amount", "--size", "150"], {"size_type": "amount", "size": 150.0}, {}),
    (["--size-type", "percent", "--size", "5"], {"size_type": "percent", "size": 5.0}, {}),
    (["--all-in", "--fractional"], {"size_type": "percent", "size": 1.0, "fractional": True},
     {}),
], ids=lambda v: v[0] if isinstance(v, list) else "")
def test_grid_cli_option_reaches_the_engine(capsys: pytest.CaptureFixture[str], flags: list[str],
                                            sim: dict[str, Any], request_fields: dict) -> None:
    rows = {(r["fast"], r["slow"]): r for r in grid_json(capsys, *flags)}
    baseline = {(r["fast"], r["slow"]): r for r in grid_json(capsys)}
    expected = _simulated({"slippage_ticks": 1.0, **sim}, **request_fields)
    assert rows.keys() == expected.keys()
    for key, metrics in expected.items():
        for name in ("total_return", "trades", "sharpe", "max_drawdown", "exposure"):
            assert rows[key][name] == pytest.approx(metrics[name], rel=1e-12, abs=1e-12)
    assert rows != baseline  # the option changes the result (the synthetic minutes open at
    # the previous close, so --fill close moves only the exposure there)


def test_grid_cli_no_round_changes_the_stop_levels(capsys: pytest.CaptureFixture[str]) -> None:
    rounded = grid_json(capsys, "--sl-pct", "0.1")
    assert grid_json(capsys, "--sl-pct", "0.1", "--no-round") != rounded


def test_grid_cli_param_values_replace_the_declared_range(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    rows = grid_json(capsys)
    assert sorted((r["fast"], r["slow"], r["trend"]) for r in rows) == [(9, 30, 0), (9, 60, 0)]


def test_grid_cli_param_outside_declared_space_is_refused(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["grid", *NSE_ARGS, "-p", "fast=500"]) == 2
    assert "fast=500" in capsys.readouterr().err


def test_grid_cli_json_rows_are_sorted_best_sharpe_first(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    sharpes = [r["sharpe"] for r in grid_json(capsys, "-p", "slow=30,40,60,90")]
    assert sharpes == sorted(sharpes, reverse=True) and len(sharpes) == 4


def test_grid_cli_csv_writes_every_combination_to_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "grid.csv"
    rows = grid_json(capsys, "--csv", str(csv))
    frame = pd.read_csv(csv)
    assert frame[["fast", "slow"]].to_numpy().tolist() == [[r["fast"], r["slow"]] for r in rows]


def test_grid_cli_prints_a_labelled_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", *GRID_ARGS]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if "Sharpe" in line and "#" in line)
    assert header.split() == ["#", "fast", "slow", "trend", "Sharpe", "return", "max", "DD",
                              "trades", "hit", "PF", "net", "INR", "costs", "INR"]
    assert "Sharpe: per-session returns, mean/sd x sqrt(252)" in text
