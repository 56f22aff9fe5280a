"""Policy: policy.yaml validation, promotion rules, capital, entry windows and order checks."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.canonical import canonical_json
from live.governance.policy import (
    CanaryEvidence,
    Policy,
    PolicyConfigError,
    PolicyLookupError,
    load_policy,
)
from strategies.roster import STRATEGIES

KNOWN = set(STRATEGIES)
ENOUGH = CanaryEvidence(sessions=5, trades=20, open_breaks=0, source="journal:test")

BASE: dict[str, Any] = {
    "version": 1,
    "products": ["NRML", "MIS"],
    "instrument_types": ["index_future", "index_option"],
    "exchanges": ["NFO"],
    "symbols": ["NIFTY", "BANKNIFTY"],
    "trading_windows": {"NSE": [{"start": "09:20", "end": "14:55"}]},
    "stages": {
        "shadow": {"capital_fraction": 0.0},
        "canary": {"capital_fraction": 0.1, "min_sessions": 5, "min_trades": 20,
                   "max_open_breaks": 0},
        "live": {"capital_fraction": 1.0},
    },
    "default_account": "main",
    "accounts": {"main": {"capital_inr": 5_000_000, "max_strategies_live": 4}},
    "strategies": {
        "defaults": {"max_capital_inr": 1_000_000, "max_lots_per_order": 2,
                     "max_open_positions": 1},
        "atr_divergence": {"symbols": ["NIFTY"]},
    },
}


@pytest.fixture(scope="module")
def repo_policy(repo_root: Path) -> Policy:
    return load_policy(repo_root / "policy.yaml", KNOWN)


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _policy(tmp_path: Path, **changes: Any) -> Policy:
    return load_policy(_write(tmp_path, {**copy.deepcopy(BASE), **changes}), KNOWN)


def _refused(tmp_path: Path, data: dict[str, Any], match: str) -> None:
    with pytest.raises(PolicyConfigError, match=match):
        load_policy(_write(tmp_path, data), KNOWN)


def _base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def _promote(policy: Policy, **overrides: Any) -> list[str]:
    args: dict[str, Any] = {"strategy": "ema_cross", "to_stage": "live", "symbols": ["NIFTY"],
                            "live_count": 0, "evidence": ENOUGH, **overrides}
    return [v.rule for v in policy.check_promotion(**args)]


def _order(policy: Policy, **overrides: Any) -> list[str]:
    args: dict[str, Any] = {"strategy": "ema_cross", "symbol": "NIFTY", "product": "MIS",
                            "instrument_type": "index_future", "exchange": "NFO", "lots": 1,
                            **overrides}
    return [v.rule for v in policy.order_allowed(**args)]


# --- loading ------------------------------------------------------------------------------


def test_load_policy_repo_file_loads_with_version(repo_policy: Policy) -> None:
    assert repo_policy.version >= 1


def test_load_policy_digest_is_sha256_of_file_bytes(repo_root: Path, repo_policy: Policy) -> None:
    expected = hashlib.sha256((repo_root / "policy.yaml").read_bytes()).hexdigest()
    assert repo_policy.digest == expected


def test_load_policy_shadow_fraction_above_zero_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["stages"]["shadow"]["capital_fraction"] = 0.1
    _refused(tmp_path, data, r"policy\.yaml: stages\.shadow\.capital_fraction: .*got 0\.1")


def test_load_policy_canary_fraction_zero_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["stages"]["canary"]["capital_fraction"] = 0.0
    _refused(tmp_path, data, r"stages\.canary\.capital_fraction: .*greater than 0.*got 0\.0")


def test_load_policy_canary_fraction_above_live_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["stages"]["live"]["capital_fraction"] = 0.05
    _refused(tmp_path, data, r"stages\.canary\.capital_fraction: 0\.1 exceeds")


def test_load_policy_window_end_before_start_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["trading_windows"]["NSE"] = [{"start": "11:00", "end": "10:00"}]
    _refused(tmp_path, data, r"trading_windows\.NSE\.0: .*end 10:00 is not after start 11:00")


def test_load_policy_overlapping_windows_are_refused(tmp_path: Path) -> None:
    data = _base()
    data["trading_windows"]["NSE"] = [{"start": "09:20", "end": "11:00"},
                                      {"start": "10:30", "end": "12:00"}]
    _refused(tmp_path, data, r"trading_windows\.NSE\.1: 10:30-12:00 overlaps 09:20-11:00")


def test_load_policy_touching_windows_are_accepted(tmp_path: Path) -> None:
    windows = {"NSE": [{"start": "09:20", "end": "11:00"}, {"start": "11:00", "end": "12:00"}]}
    assert _policy(tmp_path, trading_windows=windows).entry_allowed("NSE", time(11, 0))


def test_load_policy_window_past_venue_cutoff_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["trading_windows"]["NSE"] = [{"start": "14:00", "end": "15:10"}]
    _refused(tmp_path, data, r"trading_windows\.NSE\.0: 14:00-15:10 is not inside .*09:15-15:00")


def test_load_policy_window_before_session_open_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["trading_windows"]["NSE"] = [{"start": "09:00", "end": "10:00"}]
    _refused(tmp_path, data, r"trading_windows\.NSE\.0: 09:00-10:00 is not inside")


def test_load_policy_unquoted_window_time_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = yaml.safe_dump(_base()).replace("start: 09:20", "start: 9:20")
    path.write_text(text)
    with pytest.raises(PolicyConfigError, match=r"trading_windows\.NSE\.0\.start: .*got 560"):
        load_policy(path, KNOWN)


def test_load_policy_unknown_venue_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["trading_windows"] = {"LSE": [{"start": "09:20", "end": "10:00"}]}
    _refused(tmp_path, data, r"trading_windows\.LSE: unknown venue 'LSE'")


def test_load_policy_unknown_strategy_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["momo"] = {"max_lots_per_order": 1}
    _refused(tmp_path, data, r"strategies\.momo: 'momo' is not a registered strategy")


def test_load_policy_unknown_strategy_without_registry_is_accepted(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["momo"] = {"max_lots_per_order": 1}
    assert load_policy(_write(tmp_path, data)).limits_for("momo").max_lots_per_order == 1


def test_load_policy_unknown_field_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["stages"]["canary"]["min_days"] = 3
    _refused(tmp_path, data, r"stages\.canary\.min_days: Extra inputs are not permitted")


def test_load_policy_unknown_strategy_field_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["ema_cross"] = {"max_lots": 3}
    _refused(tmp_path, data, r"strategies\.ema_cross\.max_lots: Extra inputs")


def test_load_policy_strategy_symbol_outside_global_list_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["ema_cross"] = {"symbols": ["NIFTY", "FINNIFTY"]}
    _refused(tmp_path, data, r"strategies\.ema_cross\.symbols: \['FINNIFTY'\] not in the global")


def test_load_policy_strategy_account_not_declared_is_refused(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["ema_cross"] = {"account": "other"}
    _refused(tmp_path, data, r"strategies\.ema_cross\.account: 'other' is not in accounts")


def test_load_policy_default_account_not_declared_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, {**_base(), "default_account": "ghost"},
             r"default_account: 'ghost' is not in accounts \['main'\]")


def test_load_policy_unknown_product_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, {**_base(), "products": ["NRML", "NMRL"]}, r"products\.1: .*got 'NMRL'")


def test_load_policy_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_load_policy_non_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(PolicyConfigError, match="top level must be a mapping, got list"):
        load_policy(path)


# --- capital and limits -------------------------------------------------------------------


def test_capital_fraction_unknown_stage_raises(repo_policy: Policy) -> None:
    with pytest.raises(PolicyLookupError, match="unknown stage 'paper'"):
        repo_policy.capital_fraction("paper")


def test_limits_for_unlisted_strategy_uses_defaults(tmp_path: Path) -> None:
    limits = _policy(tmp_path).limits_for("ema_cross")
    assert (limits.account, limits.max_lots_per_order, limits.symbols) == (
        "main", 2, ("NIFTY", "BANKNIFTY"))


def test_limits_for_listed_strategy_overrides_only_its_keys(tmp_path: Path) -> None:
    limits = _policy(tmp_path).limits_for("atr_divergence")
    assert (limits.symbols, limits.max_lots_per_order) == (("NIFTY",), 2)


def test_limits_for_unregistered_strategy_raises(repo_policy: Policy) -> None:
    with pytest.raises(PolicyLookupError, match="'momo' is not registered"):
        repo_policy.limits_for("momo")


def test_capital_for_canary_is_strategy_cap_times_fraction(tmp_path: Path) -> None:
    assert _policy(tmp_path).capital_for("ema_cross", "canary") == pytest.approx(100_000)


def test_capital_for_strategy_cap_above_account_uses_account_capital(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["ema_cross"] = {"max_capital_inr": 9_000_000}
    policy = load_policy(_write(tmp_path, data), KNOWN)
    assert policy.capital_for("ema_cross", "live") == pytest.approx(5_000_000)


def test_capital_for_shadow_is_zero(repo_policy: Policy) -> None:
    assert repo_policy.capital_for("ema_cross", "shadow") == 0.0


# --- promotion ----------------------------------------------------------------------------


def test_check_promotion_to_live_with_enough_evidence_passes(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path)) == []


def test_check_promotion_unknown_stage_is_violation(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), to_stage="paper") == ["stage"]


def test_check_promotion_unregistered_strategy_is_violation(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), strategy="momo") == ["strategy"]


def test_check_promotion_symbol_outside_policy_is_violation(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), symbols=["NIFTY", "FINNIFTY"]) == ["symbol"]


def test_check_promotion_symbol_outside_strategy_list_is_violation(tmp_path: Path) -> None:
    found = _promote(_policy(tmp_path), strategy="atr_divergence", symbols=["BANKNIFTY"])
    assert found == ["strategy_symbol"]


def test_check_promotion_no_symbols_is_violation(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), symbols=[]) == ["symbols"]


def test_check_promotion_account_at_live_cap_is_violation(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), live_count=4) == ["max_strategies_live"]


def test_check_promotion_account_below_live_cap_passes(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), live_count=3) == []


def test_check_promotion_missing_evidence_names_requirements(tmp_path: Path) -> None:
    found = _policy(tmp_path).check_promotion(strategy="ema_cross", to_stage="live",
                                              symbols=["NIFTY"], live_count=0, evidence=None)
    assert [(v.rule, v.message) for v in found] == [(
        "canary_evidence",
        "no shadow/canary records for ema_cross: the live runner's journal is required to "
        "prove min_sessions=5, min_trades=20; policy.yaml stages.canary sets them")]


def test_check_promotion_missing_evidence_without_requirements_passes(tmp_path: Path) -> None:
    stages = copy.deepcopy(BASE["stages"])
    stages["canary"].update(min_sessions=0, min_trades=0)
    assert _promote(_policy(tmp_path, stages=stages), evidence=None) == []


def test_check_promotion_too_few_sessions_reports_actual_and_required(tmp_path: Path) -> None:
    evidence = CanaryEvidence(sessions=3, trades=25, open_breaks=0, source="journal:x")
    found = _policy(tmp_path).check_promotion(strategy="ema_cross", to_stage="live",
                                              symbols=["NIFTY"], live_count=0, evidence=evidence)
    assert [(v.rule, v.message) for v in found] == [
        ("min_sessions", "ema_cross: 3 canary sessions < min_sessions=5 (evidence: journal:x)")]


def test_check_promotion_too_few_trades_is_violation(tmp_path: Path) -> None:
    evidence = CanaryEvidence(sessions=5, trades=19, open_breaks=0, source="journal:x")
    assert _promote(_policy(tmp_path), evidence=evidence) == ["min_trades"]


def test_check_promotion_open_breaks_is_violation(tmp_path: Path) -> None:
    evidence = CanaryEvidence(sessions=5, trades=20, open_breaks=1, source="journal:x")
    assert _promote(_policy(tmp_path), evidence=evidence) == ["max_open_breaks"]


def test_check_promotion_to_canary_needs_no_evidence(tmp_path: Path) -> None:
    assert _promote(_policy(tmp_path), to_stage="canary", evidence=None, live_count=4) == []


def test_check_promotion_negative_live_count_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="live_count must be >= 0, got -1"):
        _promote(_policy(tmp_path), live_count=-1)


def test_canary_evidence_negative_count_raises() -> None:
    with pytest.raises(ValueError, match=r"CanaryEvidence\.trades must be >= 0, got -2"):
        CanaryEvidence(sessions=1, trades=-2, open_breaks=0, source="x")


# --- entry windows ------------------------------------------------------------------------


def test_entry_allowed_at_window_start_is_true(repo_policy: Policy) -> None:
    assert repo_policy.entry_allowed("NSE", time(9, 15))


def test_entry_allowed_at_window_end_is_false(repo_policy: Policy) -> None:
    assert not repo_policy.entry_allowed("NSE", time(15, 0))


def test_entry_allowed_just_before_window_end_is_true(repo_policy: Policy) -> None:
    assert repo_policy.entry_allowed("NSE", time(14, 59, 59, 999_999))


def test_entry_allowed_before_window_start_is_false(repo_policy: Policy) -> None:
    assert not repo_policy.entry_allowed("NSE", time(9, 14, 59))


def test_entry_allowed_venue_name_is_case_insensitive(repo_policy: Policy) -> None:
    assert repo_policy.entry_allowed("nse", time(10, 0))


def test_entry_allowed_venue_without_windows_is_false(repo_policy: Policy) -> None:
    assert not repo_policy.entry_allowed("NYSE", time(10, 0))


def test_entry_allowed_unknown_venue_is_false(repo_policy: Policy) -> None:
    assert not repo_policy.entry_allowed("LSE", time(10, 0))


def test_entry_allowed_aware_time_raises(repo_policy: Policy) -> None:
    with pytest.raises(ValueError, match="naive venue-local time"):
        repo_policy.entry_allowed("NSE", time(10, 0, tzinfo=UTC))


# --- orders -------------------------------------------------------------------------------


def test_order_allowed_within_policy_has_no_violations(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path)) == []


def test_order_allowed_disallowed_product_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), product="CNC") == ["product"]


def test_order_allowed_disallowed_instrument_type_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), instrument_type="stock_option") == ["instrument_type"]


def test_order_allowed_disallowed_exchange_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), exchange="NSE") == ["exchange"]


def test_order_allowed_lots_above_strategy_max_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), lots=3) == ["max_lots_per_order"]


def test_order_allowed_zero_lots_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), lots=0) == ["lots"]


def test_order_allowed_symbol_outside_strategy_list_is_violation(tmp_path: Path) -> None:
    found = _order(_policy(tmp_path), strategy="atr_divergence", symbol="BANKNIFTY")
    assert found == ["strategy_symbol"]


def test_order_allowed_unregistered_strategy_is_violation(tmp_path: Path) -> None:
    assert _order(_policy(tmp_path), strategy="momo") == ["strategy"]


# --- snapshot -----------------------------------------------------------------------------


def test_to_snapshot_is_canonical_json_with_version_and_digest(repo_policy: Policy) -> None:
    snapshot = repo_policy.to_snapshot()
    assert canonical_json(snapshot)
    assert (snapshot["version"], snapshot["digest"]) == (repo_policy.version, repo_policy.digest)


def test_to_snapshot_has_limits_for_every_registered_strategy(repo_policy: Policy) -> None:
    assert set(repo_policy.to_snapshot()["strategy_limits"]) == KNOWN


def test_ensemble_version_is_a_known_strategy_with_its_own_limits(tmp_path: Path) -> None:
    data = _base()
    data["strategies"]["ensemble_nifty"] = {"symbols": ["NIFTY"]}
    policy = load_policy(_write(tmp_path, data), KNOWN)
    assert policy.limits_for("ensemble_nifty").symbols == ("NIFTY",)
    assert policy.capital_for("ensemble_nifty", "canary") == pytest.approx(100_000.0)
    assert policy.check_promotion(strategy="ensemble_nifty", to_stage="canary",
                                  symbols=["NIFTY"], live_count=0, evidence=None) == []
    assert [v.rule for v in policy.check_promotion(
        strategy="ensemble_nifty", to_stage="canary", symbols=["BANKNIFTY"], live_count=0,
        evidence=None)] == ["strategy_symbol"]
