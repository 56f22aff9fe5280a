"""An ensemble version's member tag as governance reads it: every member must be a
registered version (``strategy:version:digest``); anything else blocks its promotion."""

from __future__ import annotations

import pytest

from strategies.ensemble_version import (
    KIND_TAG,
    MEMBERS_TAG,
    ensemble_member_problems,
    is_ensemble,
)


def _tags(members: str | None) -> dict[str, str]:
    tags = {KIND_TAG: "ensemble"}
    if members is not None:
        tags[MEMBERS_TAG] = members
    return tags


def test_a_strategy_version_has_no_ensemble_problems() -> None:
    assert not is_ensemble({"stratops.strategy": "ema_cross"})
    assert ensemble_member_problems({MEMBERS_TAG: "x:unregistered"}) == []


def test_registered_members_pass() -> None:
    assert ensemble_member_problems(_tags("ema_cross:3:abc,range_breakout:1:def")) == []


@pytest.mark.parametrize(("members", "named"), [
    (None, "no stratops.ensemble.members tag"),
    ("", "no stratops.ensemble.members tag"),
    ("ema_cross:3:abc,range_breakout:unregistered", "range_breakout has no registered"),
    ("ema_cross:v3:abc", "'ema_cross:v3:abc' is not strategy:version:digest"),
    ("ema_cross:3:", "not strategy:version:digest"),
    ("ema_cross", "not strategy:version:digest"),
])
def test_bad_or_unregistered_members_block(members: str | None, named: str) -> None:
    problems = ensemble_member_problems(_tags(members))
    assert len(problems) == 1 and named in problems[0]
