"""An ensemble's registered version read as data: the tags research writes on a version of
``ensemble_<symbol>`` (:mod:`pipelines.research.ensemble_record`), what governance checks in
them before it lets one move (every member registered), and the version's manifest
(``ensemble.json``, the model file the signed ``model_digest`` covers): the members the
live runner trades, their versions and model digests, the resolver and the priority order.

The tags are a search index; the manifest is the contract. What trades is read from the
digest-checked manifest, and a members or resolver tag that disagrees with it is refused
(an edit after recording), never believed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strategies.errors import BadInputError
from strategies.lineage import TAG_PREFIX

ENSEMBLE_KIND = "ensemble"
ENSEMBLE_PREFIX = "ensemble_"  # registered model name: ensemble_<symbol>
MANIFEST_FILE = "ensemble.json"  # the version's one model file
KIND_TAG = f"{TAG_PREFIX}kind"  # "ensemble" on an ensemble's version
RESOLVER_TAG = f"{TAG_PREFIX}ensemble.resolver"
MEMBERS_TAG = f"{TAG_PREFIX}ensemble.members"  # strategy:version:digest, comma-separated
UNREGISTERED = "unregistered"
MANIFEST_RESOLVERS = ("priority", "confidence")
_ENSEMBLE_NAME = re.compile(r"^ensemble_[a-z0-9_]{1,54}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class EnsembleManifestError(BadInputError, ValueError):
    """An ensemble version's ``ensemble.json`` that is not a loadable ensemble (a field
    missing or malformed, a member unregistered, a resolver unknown) or whose tags
    contradict it."""


def is_ensemble(tags: Mapping[str, str]) -> bool:
    """Is the version with these tags an ensemble's?"""
    return tags.get(KIND_TAG) == ENSEMBLE_KIND


def is_ensemble_name(name: str) -> bool:
    """Is ``name`` a per-symbol ensemble's registered model (``ensemble_<symbol>``)?"""
    return bool(_ENSEMBLE_NAME.fullmatch(name))


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


@dataclass(frozen=True, slots=True)
class EnsembleMember:
    """One member as the manifest records it: the strategy, its registered version and
    that version's model digest (what its artifacts must hash to when loaded)."""

    strategy: str
    version: int
    model_digest: str

    def tag(self) -> str:
        return f"{self.strategy}:{self.version}:{self.model_digest}"


@dataclass(frozen=True, slots=True)
class EnsembleManifest:
    """An ensemble version's ``ensemble.json``: its symbol, resolver, priority order (first
    wins; empty: each member's own priority) and members."""

    symbol: str
    resolver: str
    priority: tuple[str, ...]
    members: tuple[EnsembleMember, ...]

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(m.strategy for m in self.members)

    def members_tag(self) -> str:
        """The ``stratops.ensemble.members`` value research wrote beside this manifest."""
        return ",".join(m.tag() for m in self.members)

    def tag_problems(self, tags: Mapping[str, str]) -> list[str]:
        """Where the version's tags contradict this (digest-checked) manifest: a members or
        resolver tag edited after recording. The manifest is what was approved."""
        problems = []
        if tags.get(MEMBERS_TAG) != self.members_tag():
            problems.append(f"tag {MEMBERS_TAG} {tags.get(MEMBERS_TAG)!r} contradicts the "
                            f"signed manifest's members {self.members_tag()!r} (a tag edited "
                            "after recording; the manifest is what was approved)")
        if tags.get(RESOLVER_TAG) != self.resolver:
            problems.append(f"tag {RESOLVER_TAG} {tags.get(RESOLVER_TAG)!r} contradicts the "
                            f"signed manifest's resolver {self.resolver!r}")
        return problems

    def to_json(self) -> dict[str, Any]:
        """What a deployment snapshot signs of the ensemble (beside its ``model_digest``)."""
        return {"symbol": self.symbol, "resolver": self.resolver,
                "priority": list(self.priority),
                "members": [m.tag() for m in self.members]}


def _member(where: str, i: int, raw: Any) -> EnsembleMember:
    if not isinstance(raw, Mapping):
        raise EnsembleManifestError(f"{where}: members[{i}] is {raw!r}, not a mapping")
    strategy, version, digest = raw.get("strategy"), raw.get("version"), \
        raw.get("model_digest")
    if not isinstance(strategy, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", strategy):
        raise EnsembleManifestError(f"{where}: members[{i}].strategy {strategy!r} is not a "
                                    "strategy name")
    if version is None:
        raise EnsembleManifestError(f"{where}: member {strategy} has no registered version "
                                    "of the studied params (recorded unregistered)")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EnsembleManifestError(f"{where}: member {strategy} version {version!r} is not "
                                    "a positive integer")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise EnsembleManifestError(f"{where}: member {strategy} v{version} model_digest "
                                    f"{digest!r} is not a SHA-256")
    return EnsembleMember(strategy, version, digest)


def parse_manifest(text: str, where: str) -> EnsembleManifest:
    """The manifest in ``text`` (``where`` names it in errors), validated: a known resolver,
    distinct members each at a registered version with its digest, a priority order naming
    only members."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnsembleManifestError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(raw, Mapping) or raw.get("kind") != ENSEMBLE_KIND:
        raise EnsembleManifestError(f"{where}: not an ensemble manifest (kind "
                                    f"{raw.get('kind') if isinstance(raw, Mapping) else raw!r})")
    symbol, resolver, priority, members = (raw.get("symbol"), raw.get("resolver"),
                                           raw.get("priority", []), raw.get("members"))
    if not isinstance(symbol, str) or not symbol:
        raise EnsembleManifestError(f"{where}: symbol {symbol!r} is not a symbol")
    if resolver not in MANIFEST_RESOLVERS:
        raise EnsembleManifestError(f"{where}: resolver {resolver!r} is not one of "
                                    f"{list(MANIFEST_RESOLVERS)}")
    if not isinstance(members, list) or not members:
        raise EnsembleManifestError(f"{where}: members {members!r}: an ensemble needs at "
                                    "least one")
    parsed = tuple(_member(where, i, m) for i, m in enumerate(members))
    names = [m.strategy for m in parsed]
    if len(set(names)) != len(names):
        raise EnsembleManifestError(f"{where}: a member is listed twice: {names}")
    if not isinstance(priority, list) or any(p not in names for p in priority):
        raise EnsembleManifestError(f"{where}: priority {priority!r} names a strategy that is "
                                    f"not a member of {names}")
    return EnsembleManifest(symbol, str(resolver), tuple(priority), parsed)
