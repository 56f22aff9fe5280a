"""Risk limits: risk.yaml loads, and every malformed or contradictory value is refused by
name (file, dotted field, value)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.governance.policy import load_policy
from live.risk.limits import RiskLimits, RiskLimitsError, load_risk_limits
from strategies.roster import STRATEGIES

SYMBOLS = {"NIFTY", "BANKNIFTY"}

BASE: dict[str, Any] = {
    "version": 1,
    "pre_trade": {
        "price_collar_pct": 2.0, "max_qty_per_order": 600, "max_lots_per_order": 4,
        "max_order_value_inr": 10_000_000, "max_open_orders": 20,
        "max_open_order_value_inr": 40_000_000, "max_orders_per_second": 8,
        "duplicate_window_seconds": 2, "reference_max_age_seconds": 60,
    },
    "positions": {
        "max_net_lots_per_symbol": {"default": 8, "BANKNIFTY": 6},
        "max_net_lots_per_strategy": {"default": 4},
        "max_lots_per_expiry": 12,
    },
    "exposure": {
        "sectors": {"NIFTY": "index", "BANKNIFTY": "index"},
        "gross_inr": {"symbol": {"default": 30e6}, "sector": {"default": 50e6},
                      "strategy": {"default": 20e6}, "expiry": 50e6},
        "net_inr": {"symbol": {"default": 20e6}, "sector": {"default": 30e6},
                    "strategy": {"default": 15e6}, "expiry": 30e6},
        "greeks": {"default": {"delta_units": 600, "gamma_units_per_point": 50,
                               "vega_inr_per_vol_pt": 200_000}},
    },
    "margin": {"available_capital_inr": 5_000_000,
               "params_file": "live/risk/margin_params/2025-01-01.yaml"},
    "portfolio": {
        "var_confidence": 0.99, "horizon_days": 1, "lookback_days": 250,
        "max_var_utilisation": 0.05,
        "stress_scenarios": [{"name": "gap_down", "kind": "gap", "size": -0.1},
                             {"name": "vol_up", "kind": "vol_shock", "size": 0.5}],
    },
    "drawdown": {
        "strategy": {"default": {"soft_pct": 3.0, "hard_pct": 5.0, "soft_scale": 0.5}},
        "portfolio": {"soft_pct": 2.0, "hard_pct": 4.0, "soft_scale": 0.5},
        "lockout_windows": [{"start": "09:15", "end": "09:20"}],
    },
    "kill_switch": {"max_daily_loss_inr": 150_000, "max_strategy_daily_loss_inr": 60_000,
                    "max_abs_1min_return_pct": 1.5},
}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _changed(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    edit(data)
    return data


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, leaf = dotted.split(".")

    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return edit


def _drop(dotted: str) -> Callable[[dict[str, Any]], None]:
    *parents, leaf = dotted.split(".")

    def edit(data: dict[str, Any]) -> None:
        node = data
        for key in parents:
            node = node[key]
        del node[leaf]
    return edit


# --- the reviewed file --------------------------------------------------------------------


def test_load_risk_limits_repo_file_loads_against_policy_symbols(repo_root: Path) -> None:
    policy = load_policy(repo_root / "policy.yaml")
    limits = load_risk_limits(repo_root / "risk.yaml", set(policy.rules.symbols),
                              set(STRATEGIES))
    assert limits.version >= 1
    assert limits.pre_trade.max_orders_per_second < 10


def test_load_risk_limits_digest_is_sha256_of_file_bytes(repo_root: Path) -> None:
    limits = load_risk_limits(repo_root / "risk.yaml")
    assert limits.digest == hashlib.sha256((repo_root / "risk.yaml").read_bytes()).hexdigest()


def test_load_risk_limits_margin_params_file_exists(repo_root: Path) -> None:
    limits = load_risk_limits(repo_root / "risk.yaml")
    assert (repo_root / limits.margin.params_file).is_file()


def test_load_risk_limits_snapshot_carries_version_digest_and_sections(tmp_path: Path) -> None:
    snapshot = load_risk_limits(_write(tmp_path, BASE)).to_snapshot()
    assert snapshot["version"] == 1
    assert snapshot["pre_trade"]["max_orders_per_second"] == 8
    assert snapshot["drawdown"]["lockout_windows"] == [{"start": "09:15:00", "end": "09:20:00"}]


# --- lookups and defaults -----------------------------------------------------------------


def test_risk_limits_per_name_lookups_fall_back_to_default(tmp_path: Path) -> None:
    limits = load_risk_limits(_write(tmp_path, BASE))
    assert (limits.symbol_lots("BANKNIFTY"), limits.symbol_lots("NIFTY")) == (6, 8)
    assert limits.strategy_lots("ema_cross") == 4
    assert limits.drawdown_for("ema_cross").hard_pct == 5.0


def test_load_risk_limits_orders_per_second_defaults_to_8(tmp_path: Path) -> None:
    limits: RiskLimits = load_risk_limits(
        _write(tmp_path, _changed(_drop("pre_trade.max_orders_per_second"))))
    assert limits.pre_trade.max_orders_per_second == 8


# --- refusals, each naming the field ------------------------------------------------------

REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown_key", _set("pre_trade.max_lots", 3),
     r"pre_trade\.max_lots: Extra inputs are not permitted"),
    ("missing_value", _drop("pre_trade.price_collar_pct"),
     r"pre_trade\.price_collar_pct: Field required"),
    ("negative_value", _set("pre_trade.max_open_orders", -1),
     r"pre_trade\.max_open_orders: .*greater than or equal to 1 \(got -1\)"),
    ("nan_value", _set("pre_trade.price_collar_pct", float("nan")),
     r"pre_trade\.price_collar_pct: .*finite number"),
    ("order_value_at_exchange_limit", _set("pre_trade.max_order_value_inr", 100_000_000),
     r"pre_trade\.max_order_value_inr: must be < 100000000 .*10 crore.*got 100000000"),
    ("orders_per_second_at_nse_threshold", _set("pre_trade.max_orders_per_second", 10),
     r"pre_trade\.max_orders_per_second: must be < 10 .*unregistered algos.*got 10"),
    ("open_value_below_one_order", _set("pre_trade.max_open_order_value_inr", 9_000_000),
     r"pre_trade\.max_open_order_value_inr: 9e\+06 < max_order_value_inr 1e\+07"),
    ("order_lots_above_symbol_lots", _set("positions.max_net_lots_per_symbol.BANKNIFTY", 3),
     r"positions\.max_net_lots_per_symbol\.BANKNIFTY: 3 lots < pre_trade\.max_lots_per_order 4"),
    ("order_lots_above_strategy_lots", _set("positions.max_net_lots_per_strategy.default", 2),
     r"positions\.max_net_lots_per_strategy\.default: 2 lots < pre_trade\.max_lots_per_order"),
    ("order_lots_above_expiry_lots", _set("positions.max_lots_per_expiry", 3),
     r"positions\.max_lots_per_expiry: 3 < pre_trade\.max_lots_per_order 4"),
    ("mapping_without_default", _set("positions.max_net_lots_per_symbol", {"NIFTY": 8}),
     r"positions\.max_net_lots_per_symbol: needs a 'default' entry"),
    ("zero_lots_in_mapping", _set("positions.max_net_lots_per_strategy.ema_cross", 0),
     r"positions\.max_net_lots_per_strategy: values must be > 0, got \{'ema_cross': 0\}"),
    ("net_above_gross", _set("exposure.net_inr.symbol.default", 40e6),
     r"exposure\.net_inr\.symbol\.default: 4e\+07 > gross_inr\.symbol\.default 3e\+07"),
    ("sector_cap_for_unknown_sector", _set("exposure.gross_inr.sector.energy", 1e6),
     r"exposure\.gross_inr\.sector: \['energy'\] are no symbol's sector"),
    ("greeks_negative", _set("exposure.greeks.default.vega_inr_per_vol_pt", -1),
     r"exposure\.greeks\.default\.vega_inr_per_vol_pt: .*greater than 0"),
    ("margin_params_not_dated", _set("margin.params_file", "live/risk/params.yaml"),
     r"margin\.params_file: file name must be its ISO date"),
    ("var_confidence_out_of_range", _set("portfolio.var_confidence", 0.9),
     r"portfolio\.var_confidence: .*greater than or equal to 0\.95 \(got 0\.9\)"),
    ("stress_kind_unknown", _set("portfolio.stress_scenarios", [
        {"name": "x", "kind": "crash", "size": -0.1}]),
     r"portfolio\.stress_scenarios\.0\.kind: Input should be 'gap'"),
    ("stress_gap_of_zero", _set("portfolio.stress_scenarios", [
        {"name": "x", "kind": "gap", "size": 0.0}]),
     r"portfolio\.stress_scenarios\.0\.size: gap needs a non-zero fraction"),
    ("stress_names_repeat", _set("portfolio.stress_scenarios", [
        {"name": "x", "kind": "gap", "size": 0.1}, {"name": "x", "kind": "gap", "size": -0.1}]),
     r"portfolio\.stress_scenarios: names repeat: \['x'\]"),
    ("soft_drawdown_at_hard", _set("drawdown.portfolio.soft_pct", 4.0),
     r"drawdown\.portfolio\.soft_pct: 4 must be < hard_pct 4"),
    ("strategy_soft_above_hard", _set("drawdown.strategy.default.soft_pct", 6.0),
     r"drawdown\.strategy\.default\.soft_pct: 6 must be < hard_pct 5"),
    ("lockout_end_before_start", _set("drawdown.lockout_windows", [
        {"start": "09:20", "end": "09:15"}]),
     r"drawdown\.lockout_windows\.0\.end: 09:15 is not after start 09:20"),
    ("strategy_loss_above_portfolio_loss", _set("kill_switch.max_strategy_daily_loss_inr", 2e5),
     r"kill_switch\.max_strategy_daily_loss_inr: 200000 > max_daily_loss_inr 150000"),
    ("daily_loss_above_capital", _set("kill_switch.max_daily_loss_inr", 6e6),
     r"kill_switch\.max_daily_loss_inr: 6e\+06 > margin\.available_capital_inr 5e\+06"),
]


@pytest.mark.parametrize(("edit", "match"), [(e, m) for _, e, m in REFUSED],
                         ids=[name for name, _, _ in REFUSED])
def test_load_risk_limits_bad_value_is_refused_naming_field(
        tmp_path: Path, edit: Callable[[dict[str, Any]], None], match: str) -> None:
    path = _write(tmp_path, _changed(edit))
    with pytest.raises(RiskLimitsError, match=rf"risk\.yaml: {match}"):
        load_risk_limits(path, SYMBOLS)


def test_load_risk_limits_unknown_symbol_is_refused_with_known_symbols(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed(_set("positions.max_net_lots_per_symbol.FINNIFTY", 5)))
    with pytest.raises(RiskLimitsError, match=r"positions\.max_net_lots_per_symbol\.FINNIFTY: "
                                              r"'FINNIFTY' is not a known symbol"):
        load_risk_limits(path, SYMBOLS)


def test_load_risk_limits_unknown_symbol_without_known_symbols_is_accepted(
        tmp_path: Path) -> None:
    path = _write(tmp_path, _changed(_set("positions.max_net_lots_per_symbol.FINNIFTY", 5)))
    assert load_risk_limits(path).symbol_lots("FINNIFTY") == 5


def test_load_risk_limits_known_symbol_without_sector_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed(_set("exposure.sectors", {"NIFTY": "index"})))
    with pytest.raises(RiskLimitsError, match=r"exposure\.sectors: no sector for \['BANKNIFTY'\]"):
        load_risk_limits(path, SYMBOLS)


def test_load_risk_limits_unknown_strategy_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed(_set("positions.max_net_lots_per_strategy.momo", 5)))
    with pytest.raises(RiskLimitsError, match=r"positions\.max_net_lots_per_strategy\.momo: "
                                              r"'momo' is not a registered strategy"):
        load_risk_limits(path, SYMBOLS, set(STRATEGIES))


def test_load_risk_limits_unquoted_lockout_time_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    path.write_text(path.read_text().replace("start: 09:15", "start: 9:15"))
    with pytest.raises(RiskLimitsError, match=r"drawdown\.lockout_windows\.0\.start: .*got 555"):
        load_risk_limits(path)


def test_load_risk_limits_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RiskLimitsError, match=r"risk\.yaml: cannot read"):
        load_risk_limits(tmp_path / "risk.yaml")


def test_load_risk_limits_non_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "risk.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(RiskLimitsError, match=r"top level must be a mapping, got list"):
        load_risk_limits(path)
