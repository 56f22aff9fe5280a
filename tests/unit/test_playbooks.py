"""playbooks.yaml: validation names the file, field and value; the engine's rate limits,
confirm-first proposals and restart memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from live.events import PlaybookActed, Severity
from live.playbooks.engine import PlaybookEngine, proposal_id
from live.playbooks.spec import PlaybookConfigError, load_playbooks, parse_playbooks

T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
STRATEGIES = {"ema_cross", "range_breakout"}


def rule(**overrides: Any) -> dict[str, Any]:
    base = {"name": "runaway_pause", "when": {"codes": ["runaway_order_rate"]},
            "action": "pause", "scope": "alert", "mode": "auto",
            "rate_limit": {"max_actions": 1, "window_seconds": 600}}
    return {**base, **overrides}


def book(*rules: dict[str, Any]) -> Any:
    return parse_playbooks({"version": 1, "playbooks": list(rules) or [rule()]},
                           "playbooks.yaml", "", STRATEGIES, {"prop_a", "prop_b"})


def refused(*rules: dict[str, Any]) -> str:
    with pytest.raises(PlaybookConfigError) as caught:
        book(*rules)
    return str(caught.value)


def test_shipped_playbooks_file_validates(repo_root: Path) -> None:
    loaded = load_playbooks(repo_root / "playbooks.yaml", STRATEGIES | {"atr_reversal",
                                                                        "atr_divergence"})
    assert loaded.named("runaway_pause") is not None
    assert len(loaded.sha256) == 64


def test_playbook_unknown_key_is_refused_naming_it() -> None:
    assert "playbooks[0].'then'" in refused(rule(then="pause"))


def test_playbook_unknown_action_is_refused_naming_the_value() -> None:
    message = refused(rule(action="explode"))
    assert "action='explode'" in message and "playbooks.yaml" in message


def test_playbook_without_rate_limit_is_refused() -> None:
    assert "rate_limit=None" in refused({k: v for k, v in rule().items()
                                         if k != "rate_limit"})


def test_playbook_rate_limit_of_zero_is_refused() -> None:
    assert "max_actions=0" in refused(rule(rate_limit={"max_actions": 0,
                                                       "window_seconds": 60}))


def test_playbook_confirm_page_is_refused() -> None:
    assert "mode=confirm" in refused(rule(action="page", mode="confirm"))


def test_playbook_unknown_strategy_scope_is_refused() -> None:
    assert "scope='nope'" in refused(rule(scope="nope"))


def test_playbook_reroute_to_unknown_venue_is_refused() -> None:
    assert "reroute_from='prop_z'" in refused(rule(action="reroute", reroute_from="prop_z"))


def test_playbook_duplicate_names_are_refused() -> None:
    assert "used twice" in refused(rule(), rule())


def test_playbook_file_that_is_not_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "playbooks.yaml"
    path.write_text("playbooks: [\n")
    with pytest.raises(PlaybookConfigError, match=str(path)):
        load_playbooks(path)


def test_playbook_min_severity_filters_milder_alerts() -> None:
    loaded = book(rule(when={"codes": ["runaway_order_rate"], "min_severity": "error"}))
    assert loaded.matching("runaway_order_rate", Severity.WARNING, "ema_cross") == []
    assert len(loaded.matching("runaway_order_rate", Severity.CRITICAL, "ema_cross")) == 1


def _acted(engine: PlaybookEngine, trace: str, ts: datetime, outcome: str = "applied",
           scope: str = "ema_cross") -> None:
    engine.note(PlaybookActed(trace_id=trace, ts_event=ts, playbook="runaway_pause",
                              alert_code="runaway_order_rate", action="pause", scope=scope,
                              outcome=outcome))


def _steps(engine: PlaybookEngine, trace: str, ts: datetime,
           strategy: str | None = "ema_cross") -> list[Any]:
    return engine.steps(trace, ts, "runaway_order_rate", Severity.CRITICAL, strategy, ts)


def test_engine_second_alert_inside_the_window_is_rate_limited() -> None:
    engine = PlaybookEngine(book())
    _acted(engine, "al1", T0)
    (step,) = _steps(engine, "al2", T0 + timedelta(seconds=599))
    assert step.outcome == "rate_limited"


def test_engine_alert_after_the_window_acts_again() -> None:
    engine = PlaybookEngine(book())
    _acted(engine, "al1", T0)
    (step,) = _steps(engine, "al2", T0 + timedelta(seconds=600))
    assert step.outcome == "apply"


def test_engine_rate_limit_is_per_scope() -> None:
    engine = PlaybookEngine(book())
    _acted(engine, "al1", T0, scope="range_breakout")
    (step,) = _steps(engine, "al2", T0 + timedelta(seconds=1))
    assert (step.outcome, step.scope) == ("apply", "ema_cross")


def test_engine_alert_naming_no_strategy_acts_on_all() -> None:
    (step,) = _steps(PlaybookEngine(book()), "al1", T0, strategy=None)
    assert step.scope == "all"


def test_engine_confirm_mode_proposes_with_a_deterministic_id() -> None:
    (step,) = _steps(PlaybookEngine(book(rule(mode="confirm"))), "al1", T0)
    assert (step.outcome, step.proposal) == ("propose", proposal_id("al1", "runaway_pause"))


def test_engine_handled_alert_gets_no_second_step() -> None:
    engine = PlaybookEngine(book(rule(rate_limit={"max_actions": 5, "window_seconds": 600})))
    _acted(engine, "al1", T0)
    assert _steps(engine, "al1", T0) == []


def test_engine_alert_older_than_its_window_is_not_acted_on() -> None:
    engine = PlaybookEngine(book())
    assert engine.steps("al1", T0, "runaway_order_rate", Severity.CRITICAL, "ema_cross",
                        T0 + timedelta(seconds=601)) == []



def test_shipped_playbooks_answer_only_alert_codes_the_code_raises() -> None:
    """A playbook on a code nothing raises protects nobody: every code the shipped
    playbooks.yaml answers is a string literal of the runtime code (live/, stratops/)."""
    import re

    root = Path(__file__).resolve().parents[2]
    shipped = yaml.safe_load((root / "playbooks.yaml").read_text())
    codes = {c for p in shipped["playbooks"] for c in p["when"]["codes"]}
    source = "\n".join(f.read_text() for folder in ("live", "stratops")
                       for f in (root / folder).rglob("*.py"))
    raised = set(re.findall(r'"([a-z][a-z0-9_]+)"', source))
    assert codes and codes <= raised, sorted(codes - raised)
