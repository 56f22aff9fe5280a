"""Guardrail trigger keys: journaled with the action, read back by a restart."""

from __future__ import annotations

from live.risk.guardrails import SESSION_LOCK, GuardAction, fired_key


def test_journaled_reason_ends_with_the_trigger_key_and_reads_back() -> None:
    action = GuardAction("kill", "ema_cross", "flatten", f"{SESSION_LOCK}: drawdown 5%",
                         "guard:hard:ema_cross")
    assert action.journaled_reason.startswith(SESSION_LOCK)  # lockouts still recognised
    assert fired_key(action.journaled_reason) == "guard:hard:ema_cross"


def test_a_desk_reason_with_brackets_is_no_trigger_key() -> None:
    assert fired_key("K12: halt [desk] per risk officer") is None
