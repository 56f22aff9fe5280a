"""An ensemble version's manifest read as data: what the runner trades is the manifest the
approval signs, validated field by field; tags that contradict it are named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from strategies.ensemble_version import (
    MEMBERS_TAG,
    RESOLVER_TAG,
    EnsembleManifestError,
    is_ensemble_name,
    parse_manifest,
)

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
