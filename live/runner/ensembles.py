"""An approved ensemble version loaded for trading: its members, each at the version and model
digest its signed manifest records, resolved by the manifest's resolver.

What is trusted is what the desk head signed: the deployment snapshot of ``ensemble_<symbol>``
(:meth:`GovernanceService.verify_deployment`) signs the manifest's digest (``model_digest``)
and the manifest itself (``ensemble``). The manifest is read from the digest-checked model
files; each member's config, classifier and calibrator from files that must hash to the
member digest the manifest records (and to the member version's own recorded digest). A tag
that contradicts the manifest (a members or resolver tag edited after approval), a member
whose files changed, a member of a ``confidence`` ensemble without a calibrator (or one that
fails its own digest check), or code other than the ensemble was researched with: the whole
ensemble is refused with the reason - never half an ensemble, never a member the approval
did not name.

Conflicts fail closed: a member also deployed on its own at the same stage, or two ensembles
sharing a member, would put two approvals on one strategy's positions, kill switch and
guardrails (all keyed by the strategy's name). The ensemble(s) concerned are refused and the
standalone deployment - approved earlier and holding its own positions - keeps trading.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from live.canonical import digest
from live.runner.decisions import UnsupportedVersionError
from live.runner.deployments import (
    STAGE_OF_MODE,
    Deployed,
    EnsembleBinding,
    Refusal,
    build,
    load_deployed,
)
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_version import EnsembleManifest, is_ensemble_name
from strategies.errors import RefusedError


class EnsembleLoadError(RefusedError, ValueError):
    """Why an approved ensemble version cannot be traded (the refusal's reason)."""


def _member(service: Any, manifest: EnsembleManifest, index: int, body: dict[str, Any],
            mode: str, snapshot_digest: str, binding: EnsembleBinding) -> Deployed:
    member = manifest.members[index]
    registry, want = service.registry, member.model_digest
    try:
        config = registry.load_config(member.strategy, member.version, expected_digest=want,
                                      expected_source_hash=body["strategies_source_hash"])
        governance = registry.load_governance(member.strategy, member.version,
                                              expected_digest=want)
        confidence = registry.load_confidence(member.strategy, member.version,
                                              expected_digest=want)
        if confidence is None and manifest.resolver == "confidence":
            raise EnsembleLoadError("carries no confidence calibrator, and the ensemble's "
                                    "confidence resolver weighs every entry by one")
        deployed = build(config, member.version, mode, float(body["capital_fraction"]),
                         snapshot_digest, governance, confidence)
    except (UnsupportedVersionError, LookupError, ValueError, KeyError) as exc:
        raise EnsembleLoadError(f"member {member.strategy} v{member.version}: {exc}") from exc
    if manifest.symbol not in deployed.symbols:
        raise EnsembleLoadError(f"member {member.strategy} v{member.version} trades "
                                f"{list(deployed.symbols)}, not the ensemble's symbol "
                                f"{manifest.symbol}")
    return replace(deployed, symbols=(manifest.symbol,),
                   per_symbol=tuple(p for p in deployed.per_symbol
                                    if p[0].symbol == manifest.symbol),
                   ensemble=binding)


def _load(service: Any, name: str, check: Any, mode: str, installed: str) -> list[Deployed]:
    body = check.snapshot["body"]
    if body.get("strategies_source_hash") != installed:
        raise EnsembleLoadError("installed strategies code differs from the code the "
                                "ensemble was researched with")
    try:
        manifest = service.registry.load_ensemble(name, check.version,
                                                  expected_digest=body["model_digest"])
        tags = service.registry.get_version(name, check.version).tags
    except (LookupError, ValueError, KeyError) as exc:
        raise EnsembleLoadError(str(exc)) from exc
    if body.get("ensemble") != manifest.to_json():
        raise EnsembleLoadError(f"the signed approval names ensemble {body.get('ensemble')!r}, "
                                f"the manifest {manifest.to_json()!r}")
    problems = manifest.tag_problems(tags)
    if problems:
        raise EnsembleLoadError("; ".join(problems))
    binding = EnsembleBinding(name, check.version,
                              EnsemblePolicy(make_resolver(manifest.resolver),
                                             manifest.priority), manifest.strategies)
    snapshot_digest = digest(check.snapshot)
    return [_member(service, manifest, i, body, mode, snapshot_digest, binding)
            for i in range(len(manifest.members))]


def load_ensembles(service: Any, mode: str, names: list[str], installed: str
                   ) -> tuple[dict[str, list[Deployed]], list[Refusal]]:
    """Each named ensemble's members ready to trade (by ensemble), and the refusals."""
    loaded: dict[str, list[Deployed]] = {}
    refused = []
    for name in names:
        check = service.verify_deployment(name, STAGE_OF_MODE[mode])
        if check.version is None and check.snapshot is None:
            continue
        if not check.ok:
            refused.append(Refusal(name, "; ".join(check.problems)))
            continue
        try:
            loaded[name] = _load(service, name, check, mode, installed)
        except EnsembleLoadError as exc:
            refused.append(Refusal(name, f"{name} v{check.version} not loaded: {exc}"))
    return loaded, refused


def load_approved(service: Any, mode: str, strategies: list[str] | None = None
                  ) -> tuple[list[Deployed], list[Refusal]]:
    """Everything approved for ``mode``, ready to trade: each strategy's own deployment
    (:func:`load_deployed`) and each approved ensemble version's members (all deployed
    ensembles when ``strategies`` is None, else the ``ensemble_<symbol>`` names in it);
    the refusals with reasons, conflicts included (:func:`settle_conflicts`)."""
    from strategies.lineage import strategies_source_hash

    stage = STAGE_OF_MODE[mode]
    loaded, refused = load_deployed(service, mode, strategies)
    # standalone deployments at this stage, in this run or not (another process's)
    present = {d.strategy for d in loaded} | {r.strategy for r in refused} | {
        s for (s, at) in service.deployments() if at == stage and not is_ensemble_name(s)}
    names = service.ensemble_names(stage) if strategies is None else \
        [n for n in strategies if is_ensemble_name(n)]
    ensembles, refusals = load_ensembles(service, mode, names, strategies_source_hash())
    members, conflicts = settle_conflicts(present, ensembles)
    return loaded + members, refused + refusals + conflicts


def settle_conflicts(standalone: set[str], ensembles: dict[str, list[Deployed]]
                     ) -> tuple[list[Deployed], list[Refusal]]:
    """The ensembles' members that may trade and the ensembles refused: one with a member
    deployed on its own at this stage (``standalone``: loaded or refused there), or sharing
    a member with another ensemble (both refused: neither approval outranks the other)."""
    claims = Counter(d.strategy for members in ensembles.values() for d in members)
    kept, refused = [], []
    for name, members in sorted(ensembles.items()):
        alone = sorted(d.strategy for d in members if d.strategy in standalone)
        shared = sorted(d.strategy for d in members if claims[d.strategy] > 1)
        if alone:
            refused.append(Refusal(name, f"{name}: member(s) {alone} also deployed on their "
                                         "own at this stage: one strategy, one approval - "
                                         "retire the standalone deployment or the ensemble"))
        elif shared:
            refused.append(Refusal(name, f"{name}: member(s) {shared} also in another "
                                         "deployed ensemble: one strategy, one approval"))
        else:
            kept.extend(members)
    return kept, refused


def whole_ensembles(deployed: list[Deployed], refused: list[Refusal]) -> list[Deployed]:
    """``deployed`` without the members of an ensemble that lost a member to a later check
    (the instrument master, the broker's algo approvals): an ensemble trades whole or not at
    all, so its other members are moved to ``refused`` too, naming the missing ones."""
    present = {(d.ensemble.label, d.strategy) for d in deployed if d.ensemble is not None}
    kept, broken = [], {}
    for d in deployed:
        missing = [] if d.ensemble is None else [
            m for m in d.ensemble.members if (d.ensemble.label, m) not in present]
        if d.ensemble is not None and missing:
            broken[d.ensemble.name] = f"{d.ensemble.label} not traded: member(s) {missing} " \
                                      "refused, and an ensemble trades whole or not at all"
        else:
            kept.append(d)
    refused.extend(Refusal(name, why) for name, why in sorted(broken.items()))
    return kept
