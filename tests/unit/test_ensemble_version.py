"""An ensemble version as governance and the runner read it: the member tag (every member
a registered version, ``strategy:version:digest``; anything else blocks its promotion) and
the manifest the approval signs, validated field by field; tags that contradict it are
named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strategies.ensemble_version import (
    KIND_TAG,
    MEMBERS_TAG,
    RESOLVER_TAG,
    EnsembleManifestError,
    ensemble_member_problems,
    is_ensemble,
    is_ensemble_name,
    parse_manifest,
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


DIGEST = "ab" * 32


def _manifest(**changes: Any) -> str:
    raw = {"kind": "ensemble", "symbol": "NIFTY", "resolver": "priority",
           "priority": ["range_breakout"],
           "members": [{"strategy": "ema_cross", "version": 3, "model_digest": DIGEST},
                       {"strategy": "range_breakout", "version": 1, "model_digest": DIGEST}]}
    return json.dumps({**raw, **changes})


def test_manifest_reads_members_resolver_and_order() -> None:
    manifest = parse_manifest(_manifest(), "m")
    assert manifest.strategies == ("ema_cross", "range_breakout")
    assert manifest.priority == ("range_breakout",) and manifest.resolver == "priority"
    assert manifest.members_tag() == f"ema_cross:3:{DIGEST},range_breakout:1:{DIGEST}"


@pytest.mark.parametrize(("changes", "match"), [
    ({"members": [{"strategy": "ema_cross", "version": None, "model_digest": None}]},
     "no registered version"),
    ({"members": [{"strategy": "ema_cross", "version": 3, "model_digest": "x"}]},
     "model_digest 'x' is not a SHA-256"),
    ({"resolver": "independent"}, "resolver 'independent'"),
    ({"priority": ["atr_reversal"]}, "not a member"),
    ({"members": []}, "at least one"),
    ({"kind": "strategy"}, "not an ensemble manifest"),
])
def test_malformed_manifest_is_refused_naming_the_field(changes: dict[str, Any],
                                                        match: str) -> None:
    with pytest.raises(EnsembleManifestError, match=match):
        parse_manifest(_manifest(**changes), "models:/ensemble_nifty/1 ensemble.json")


def test_member_listed_twice_is_refused() -> None:
    twice = [{"strategy": "ema_cross", "version": v, "model_digest": DIGEST} for v in (1, 2)]
    with pytest.raises(EnsembleManifestError, match="listed twice"):
        parse_manifest(_manifest(members=twice, priority=[]), "m")


def test_edited_members_tag_contradicts_the_manifest() -> None:
    manifest = parse_manifest(_manifest(), "m")
    tags = {MEMBERS_TAG: manifest.members_tag().replace("ema_cross:3", "ema_cross:4"),
            RESOLVER_TAG: "priority"}
    (problem,) = manifest.tag_problems(tags)
    assert "contradicts the signed manifest's members" in problem
    assert manifest.tag_problems({**tags, MEMBERS_TAG: manifest.members_tag()}) == []


def test_ensemble_names_are_recognised() -> None:
    assert is_ensemble_name("ensemble_nifty") and not is_ensemble_name("ema_cross")
    assert not is_ensemble_name("ensemble_")
