"""Signed deployment snapshots: what was approved, by whom, under which configuration.

A snapshot document is ``{"body": ..., "request": {payload, signature}, "approval":
{payload, signature}}``. The body holds the strategy, version, stage, params, lineage
(dataset hash, code revision), gate-verdict, gates, policy, risk-limit and roles digests,
the model artifacts' SHA-256 and the stage's capital fraction. The maker's signature covers
the request; the checker's covers the approval, which names the request's digest and the
body's digest - so altering any byte of the body, the request or either signature breaks
verification. :func:`verify_snapshot` is what ``stratops deploy verify`` and the live
runner run before trusting a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from live.canonical import digest
from live.governance.identity import Directory, IdentityError
from live.governance.signing import Signature, SignatureError

SNAPSHOT_SCHEMA = 1
MAKER_ROLE, CHECKER_ROLE = "quant", "desk_head"


def _authentic(directory: Directory, payload: Mapping[str, Any], signature: Signature,
               role: str, label: str) -> tuple[str | None, list[str]]:
    """Verify a stored signature's authenticity (at its signing time: expiry guards the
    moment of action, not later verification) and its signer's role."""
    try:
        user = directory.verify(payload, signature, now=signature.signed_time)
    except (SignatureError, IdentityError, LookupError, ValueError) as exc:
        return None, [f"{label} signature does not verify: {exc}"]
    if role not in user.roles:
        return user.name, [f"{label} signer {user.name!r} lacks role {role!r} "
                           f"(has {sorted(user.roles)})"]
    return user.name, []


def evidence_problems(body: Mapping[str, Any]) -> list[str]:
    """A live approval must carry the canary evidence it was granted on, meeting the
    canary requirements of the policy snapshot it signed."""
    evidence = body.get("canary_evidence")
    needs = (body.get("policy") or {}).get("canary_requirements") or {}
    if not isinstance(evidence, Mapping):
        return ["the live approval carries no canary evidence (a live deployment must follow "
                "a canary run that met the policy)"]
    problems = []
    for name, key in (("sessions", "min_sessions"), ("trades", "min_trades")):
        if not isinstance(evidence.get(name), int) or evidence[name] < needs.get(key, 0):
            problems.append(f"canary evidence {name}={evidence.get(name)!r} < policy "
                            f"{key}={needs.get(key)}")
    breaks = evidence.get("open_breaks")
    if not isinstance(breaks, int) or breaks > needs.get("max_open_breaks", 0):
        problems.append(f"canary evidence open_breaks={breaks!r} > policy max_open_breaks="
                        f"{needs.get('max_open_breaks', 0)}")
    return problems + _slippage_problems(evidence, needs.get("max_slippage_excess_bps"))


def _slippage_problems(evidence: Mapping[str, Any], limit: Any) -> list[str]:
    """The policy's ``max_slippage_excess_bps`` (when its snapshot set one) against the
    realised and assumed slippage the approval was granted on."""
    if limit is None:
        return []
    realised, assumed = (evidence.get("realised_slippage_bps"),
                         evidence.get("assumed_slippage_bps"))
    if not isinstance(realised, int | float) or not isinstance(assumed, int | float):
        return [f"canary evidence has no realised/assumed slippage, but the policy sets "
                f"max_slippage_excess_bps={limit}"]
    if realised - assumed > limit:
        return [f"canary evidence slippage {realised:.2f} bps - assumed {assumed:.2f} bps > "
                f"policy max_slippage_excess_bps={limit}"]
    return []


def verify_snapshot(document: Mapping[str, Any], directory: Directory, *,
                    alias_version: int | None = None,
                    model_digest: str | None = None, strategy: str | None = None,
                    stage: str | None = None) -> list[str]:
    """Every reason ``document`` cannot be trusted (empty when it verifies).

    ``alias_version`` is the version the registry alias points at now and ``model_digest``
    the digest of that version's artifacts now; each must equal what was approved.
    ``strategy`` and ``stage`` are what the document is being trusted for: a signed canary
    approval proves nothing about live.
    """
    try:
        body = document["body"]
        request, approval = document["request"], document["approval"]
        req_sig = Signature.from_dict(request["signature"])
        app_sig = Signature.from_dict(approval["signature"])
    except (KeyError, TypeError, SignatureError) as exc:
        return [f"snapshot is malformed: {exc}"]
    problems: list[str] = []
    if body.get("schema") != SNAPSHOT_SCHEMA:
        problems.append(f"snapshot schema {body.get('schema')!r} != {SNAPSHOT_SCHEMA}")
    for label, want in (("strategy", strategy), ("stage", stage)):
        if want is not None and body.get(label) != want:
            problems.append(f"the signed approval is for {label} {body.get(label)!r}, not "
                            f"{want!r}")
    maker, errors = _authentic(directory, request["payload"], req_sig, MAKER_ROLE, "request")
    problems += errors
    checker, errors = _authentic(directory, approval["payload"], app_sig, CHECKER_ROLE,
                                 "approval")
    problems += errors
    if (maker is not None and maker == checker) or req_sig.key_id == app_sig.key_id:
        problems.append(f"maker and checker are the same person ({maker!r}, key "
                        f"{req_sig.key_id})")
    app = approval["payload"]
    if app.get("snapshot_digest") != digest(body):
        problems.append("the snapshot body was altered after approval (digest mismatch)")
    if app.get("request_digest") != digest(request["payload"]):
        problems.append("the approval does not approve this request (request digest mismatch)")
    req = request["payload"]
    for key, want in (("strategy", body.get("strategy")), ("version", body.get("version")),
                      ("to_stage", body.get("stage"))):
        if req.get(key) != want:
            problems.append(f"request {key} {req.get(key)!r} != snapshot {want!r}")
    if body.get("stage") == "live":
        problems += evidence_problems(body)
    return problems + _current_problems(body, alias_version, model_digest)


def _current_problems(body: Mapping[str, Any], alias_version: int | None,
                      model_digest: str | None) -> list[str]:
    """What the registry holds now against what was approved."""
    problems = []
    if alias_version is not None and alias_version != body.get("version"):
        problems.append(
            f"registry alias points at version {alias_version} but the approved deployment is "
            f"version {body.get('version')}: an unsigned deployment")
    if model_digest is not None and model_digest != body.get("model_digest"):
        problems.append(f"model artifacts digest {model_digest[:16]}... != approved "
                        f"{str(body.get('model_digest'))[:16]}...: a swapped artifact")
    return problems
