"""An ensemble's registered version read as data: the tags research writes on a version of
``ensemble_<symbol>`` (:mod:`pipelines.research.ensemble_record`) and what governance
checks in them before it lets one move (every member registered)."""

from __future__ import annotations

from collections.abc import Mapping

from strategies.lineage import TAG_PREFIX

ENSEMBLE_KIND = "ensemble"
KIND_TAG = f"{TAG_PREFIX}kind"  # "ensemble" on an ensemble's version
RESOLVER_TAG = f"{TAG_PREFIX}ensemble.resolver"
MEMBERS_TAG = f"{TAG_PREFIX}ensemble.members"  # strategy:version:digest, comma-separated
UNREGISTERED = "unregistered"
NOT_LOADED_LIVE = ("the live runner does not load ensemble versions yet (it resolves between "
                   "separately approved member versions, policy.yaml signal_governance."
                   "ensemble): refused rather than approved and not traded")


def is_ensemble(tags: Mapping[str, str]) -> bool:
    """Is the version with these tags an ensemble's?"""
    return tags.get(KIND_TAG) == ENSEMBLE_KIND


def ensemble_member_problems(tags: Mapping[str, str]) -> list[str]:
    """Why an ensemble version may not move: no members tag, a member recorded without a
    registered version of the studied params, or an entry that is not
    ``strategy:version:digest`` (none for a version that is not an ensemble's)."""
    if not is_ensemble(tags):
        return []
    members = [m for m in tags.get(MEMBERS_TAG, "").split(",") if m]
    if not members:
        return [f"ensemble version has no {MEMBERS_TAG} tag"]
    problems = []
    for entry in members:
        parts = entry.split(":")
        if len(parts) == 2 and parts[1] == UNREGISTERED:
            problems.append(f"ensemble member {parts[0]} has no registered version of the "
                            "studied params: register it first")
        elif len(parts) != 3 or not parts[1].isdigit() or not parts[2]:
            problems.append(f"ensemble member entry {entry!r} is not strategy:version:digest")
    return problems
