"""Walk-forward report: regime breakdown, JSON safety, HTML verdict, plots and atomic files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from pipelines.research.gates import Gates, GateVerdict, Thresholds
from pipelines.research.research_report import (
    BREAKDOWN_COLUMNS,
    ReportInputError,
    load_regime_labels,
    regime_breakdown,
    report_dict,
    write_report_artifacts,
)
from pipelines.research.splits import WalkForwardSpec
from pipelines.research.walk_forward import FoldResult, WalkForwardReport

CAPITAL_INR = 1_000_000.0
DAYS = pd.date_range("2025-01-06", periods=5, freq="D", tz="Asia/Kolkata")  # Mon..Fri
# net P&L of each trade by entry day (position in DAYS); day 3 has no trade
TRADES = [(0, 1500.0), (0, -500.0), (1, -500.0), (2, 2000.0), (4, -1000.0), (4, -500.0)]
LABELS = pd.Series(["trend", "chop", "trend", "high_vol"],
                   index=pd.DatetimeIndex(DAYS[:4].tz_localize(None), name="session"))
THRESHOLDS = Thresholds(min_oos_sharpe=1.0, min_dsr_probability=0.9, max_pbo=0.3,
                        max_drawdown=0.2, min_trades=5, max_cost_share=0.5, min_stability=0.5)


def _trades() -> pd.DataFrame:
    entry = pd.DatetimeIndex([DAYS[d] + pd.Timedelta(hours=10) for d, _ in TRADES])
    net = [pnl for _, pnl in TRADES]
    return pd.DataFrame({
        "symbol": "NIFTY", "entry_ts": entry, "exit_ts": entry + pd.Timedelta(minutes=30),
        "side": "long", "qty": 75, "entry_price": 23_500.0, "exit_price": 23_510.0,
        "gross_pnl_inr": [p + 20.0 for p in net], "costs_inr": 20.0, "net_pnl_inr": net,
        "exit_reason": "signal", "fold": [0 if d < 2 else 1 for d, _ in TRADES],
    })


def _fold(index: int, test_days: tuple[int, int], sharpe: float) -> FoldResult:
    test = (str(DAYS[test_days[0]] + pd.Timedelta(hours=9, minutes=15)),
            str(DAYS[test_days[1]] + pd.Timedelta(hours=15, minutes=29)))
    metrics = {"sharpe": sharpe, "total_return": 0.001, "trades": 3.0}
    return FoldResult(index=index, train=("2024-12-20 09:15:00+05:30", test[0]), test=test,
                      params={"fast": 5 + index, "slow": 21}, is_metrics=metrics,
                      oos_metrics={**metrics, "sharpe": sharpe / 2}, plateau=0.5,
                      rank_correlation=float("nan"))


def _report() -> WalkForwardReport:
    trades = _trades()
    daily = trades.groupby(trades["entry_ts"].dt.normalize())["net_pnl_inr"].sum()
    equity = CAPITAL_INR + daily.reindex(DAYS, fill_value=0.0).cumsum()
    spec = WalkForwardSpec(scheme="rolling", train=10, test=2, unit="sessions", step=3)
    metrics = {"oos_sharpe": 1.5, "oos_trades": float(len(trades)), "oos_cost_share": math.inf,
               "pbo": float("nan"), "stability": 0.6, "pbo.n_splits": 16.0, "pbo.s8": 0.2,
               "pbo.s16": 0.25, "pbo.s12": 0.35, "dsr.sr": 0.1, "dsr.t": 5.0}
    return WalkForwardReport("ema_cross", "NIFTY", spec, 9, [_fold(0, (0, 1), 2.0),
                             _fold(1, (2, 4), -1.0)], trades, equity, metrics)


def _verdict(report: WalkForwardReport) -> GateVerdict:
    return Gates(THRESHOLDS, {}, "digest-of-gates").evaluate(report.strategy, report.metrics)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    report = _report()
    regimes = regime_breakdown(report, LABELS, CAPITAL_INR)
    lineage = {"dataset": "nse_index_1m", "note": "<script>alert(1)</script>"}
    out = tmp_path_factory.mktemp("report") / "nested"
    return write_report_artifacts(report, _verdict(report), regimes, lineage, out)


def _by_regime(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("regime")


def test_regime_breakdown_totals_add_up_to_the_report() -> None:
    report = _report()
    frame = regime_breakdown(report, LABELS, CAPITAL_INR)
    trades = report.oos_trades
    assert frame["sessions"].sum() == len(report.oos_equity)
    assert frame["trades"].sum() == len(trades)
    for column in ("net_pnl_inr", "gross_pnl_inr", "costs_inr"):
        assert frame[column].sum() == pytest.approx(trades[column].sum())


def test_regime_breakdown_counts_trades_by_entry_session_regime() -> None:
    frame = _by_regime(regime_breakdown(_report(), LABELS, CAPITAL_INR))
    assert frame["trades"].to_dict() == {"chop": 1, "high_vol": 0, "trend": 3, "unlabelled": 2}
    assert frame.loc["trend", "net_pnl_inr"] == pytest.approx(3000.0)
    assert frame.loc["trend", "hit_ratio"] == pytest.approx(2 / 3)


def test_regime_breakdown_marks_sessions_without_a_label_unlabelled() -> None:
    frame = _by_regime(regime_breakdown(_report(), LABELS, CAPITAL_INR))
    assert frame.loc["unlabelled", "sessions"] == 1
    assert frame.loc["unlabelled", "net_pnl_inr"] == pytest.approx(-1500.0)


def test_regime_breakdown_without_labels_is_one_unlabelled_row() -> None:
    report = _report()
    frame = regime_breakdown(report, None, CAPITAL_INR)
    returns = report.oos_equity / report.oos_equity.shift(1).fillna(CAPITAL_INR) - 1.0
    assert frame["regime"].tolist() == ["unlabelled"]
    assert frame.loc[0, "sessions"] == 5
    assert frame.loc[0, "mean_daily_return"] == pytest.approx(returns.mean())
    assert frame.loc[0, "sharpe"] == pytest.approx(returns.mean() / returns.std() * 252 ** 0.5)


def test_regime_breakdown_first_day_return_is_relative_to_capital() -> None:
    labels = pd.Series(["chop"], index=pd.DatetimeIndex([DAYS[0].tz_localize(None)]))
    frame = _by_regime(regime_breakdown(_report(), labels, CAPITAL_INR))
    assert frame.loc["chop", "worst_day_return"] == pytest.approx(1000.0 / CAPITAL_INR)
    assert frame.loc["chop", "sharpe"] == 0.0  # one session: no dispersion to scale by


def test_regime_breakdown_rows_are_sorted_with_the_documented_columns() -> None:
    frame = regime_breakdown(_report(), LABELS, CAPITAL_INR)
    assert tuple(frame.columns) == BREAKDOWN_COLUMNS
    assert frame["regime"].tolist() == ["chop", "high_vol", "trend", "unlabelled"]


def test_regime_breakdown_refuses_a_trade_outside_the_oos_sessions() -> None:
    report = _report()
    report.oos_trades.loc[0, "entry_ts"] = DAYS[0] - pd.Timedelta(days=3)
    with pytest.raises(ReportInputError, match="2025-01-03"):
        regime_breakdown(report, LABELS, CAPITAL_INR)


def test_load_regime_labels_indexes_naive_session_dates(tmp_path: Path) -> None:
    path = tmp_path / "regimes.parquet"
    pd.DataFrame({"session": LABELS.index[::-1], "regime": LABELS.to_numpy()[::-1]}).to_parquet(
        path)
    labels = load_regime_labels(path)
    pd.testing.assert_series_equal(labels, LABELS, check_names=False)
    assert labels.index.tz is None


def test_load_regime_labels_missing_column_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no_regime.parquet"
    pd.DataFrame({"session": LABELS.index, "label": "trend"}).to_parquet(path)
    with pytest.raises(ReportInputError, match=r"no_regime\.parquet.*'regime'"):
        load_regime_labels(path)


def test_load_regime_labels_unknown_regime_error_names_the_value(tmp_path: Path) -> None:
    path = tmp_path / "typo.parquet"
    pd.DataFrame({"session": LABELS.index, "regime": ["trend", "Chop", "trend", "chop"]}
                 ).to_parquet(path)
    with pytest.raises(ReportInputError, match=r"typo\.parquet: row 1 has regime 'Chop'"):
        load_regime_labels(path)


def test_load_regime_labels_unreadable_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_text("not parquet")
    with pytest.raises(ReportInputError, match=r"garbage\.parquet"):
        load_regime_labels(path)


def test_report_dict_has_no_nan_and_round_trips_through_json() -> None:
    report = _report()
    data = report_dict(report, _verdict(report), regime_breakdown(report, LABELS, CAPITAL_INR),
                       {"built_at": pd.Timestamp("2025-03-01 10:00", tz="Asia/Kolkata")})
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["metrics"]["pbo"] is None and data["metrics"]["oos_cost_share"] is None
    assert data["lineage"]["built_at"] == "2025-03-01T10:00:00+05:30"
    assert data["chosen_params"] == {"fast": 6, "slow": 21}


def test_report_dict_without_a_verdict_has_a_null_verdict() -> None:
    report = _report()
    data = report_dict(report, None, regime_breakdown(report, None, CAPITAL_INR), {})
    assert data["verdict"] is None
    assert data["walk_forward"]["test"] == 2


def test_write_report_artifacts_writes_every_file_and_no_temp_files(
        artifacts: dict[str, Path]) -> None:
    assert set(artifacts) == {"report.json", "report.html", "equity.png", "folds.png",
                              "trades.csv"}
    folder = artifacts["report.json"].parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(artifacts)


def test_write_report_artifacts_pngs_start_with_the_png_magic(
        artifacts: dict[str, Path]) -> None:
    for name in ("equity.png", "folds.png"):
        assert artifacts[name].read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name


def test_write_report_artifacts_html_shows_every_verdict_check(
        artifacts: dict[str, Path]) -> None:
    page = artifacts["report.html"].read_text()
    for check in _verdict(_report()).checks:
        assert f"<td>{check.name}</td>" in page
    assert "Gates FAILED" in page and "#cf222e" in page and "#1a7f37" in page
    assert page.count("data:image/png;base64,") == 2


def test_write_report_artifacts_html_escapes_text(artifacts: dict[str, Path]) -> None:
    page = artifacts["report.html"].read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_write_report_artifacts_json_is_the_report_dict(artifacts: dict[str, Path]) -> None:
    data = json.loads(artifacts["report.json"].read_text())
    assert data["strategy"] == "ema_cross"
    assert [r["regime"] for r in data["regimes"]] == ["chop", "high_vol", "trend", "unlabelled"]
    assert data["verdict"]["passed"] is False


def test_write_report_artifacts_trades_csv_has_every_oos_trade(
        artifacts: dict[str, Path]) -> None:
    trades = pd.read_csv(artifacts["trades.csv"])
    assert len(trades) == len(TRADES)
    assert trades["net_pnl_inr"].sum() == pytest.approx(sum(p for _, p in TRADES))


def test_write_report_artifacts_html_shows_the_knife_edge_warning(
        artifacts: dict[str, Path]) -> None:
    page = artifacts["report.html"].read_text()
    assert "warning: max_pbo is on a knife&#x27;s edge" in page


def test_report_dict_holds_pbo_by_block_count_and_dsr_inputs() -> None:
    data = report_dict(_report(), None, pd.DataFrame(columns=list(BREAKDOWN_COLUMNS)), {})
    assert data["overfitting"]["pbo_by_splits"] == {"8": 0.2, "12": 0.35, "16": 0.25}
    assert data["overfitting"]["pbo_gated_splits"] == 16.0
    assert data["overfitting"]["dsr"]["dsr.t"] == 5.0
