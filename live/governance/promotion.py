"""Maker/checker promotion: shadow -> canary -> live, signed, policy-checked, audited,
reversible.

Every action is a payload the actor signs with their own key (the ``signer`` callback; the
CLI passes one backed by the user's private key file). The service verifies the signature
against the reviewed roles file, checks the actor's role and the action's preconditions, and
then commits the state change together with its audit record. Any failure is a refusal: it
is audited (kind ``refused``, with the reason) and raised as :class:`GovernanceRefusal`;
nothing else changes. Registry aliases (``shadow``, ``canary``, ``live``,
``previous-live``) are a projection of the approved deployments, moved only here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from live.canonical import digest
from live.governance import store
from live.governance.audit import AuditLog
from live.governance.configs import KINDS, ConfigFiles
from live.governance.identity import Directory, IdentityError
from live.governance.policy import CanaryEvidence, load_policy
from live.governance.signing import Signature, SignatureError
from live.governance.snapshot import SNAPSHOT_SCHEMA, verify_snapshot
from live.governance.trust import TrustedDirectory
from live.ports import ModelRegistry
from strategies.ensemble_version import (
    ENSEMBLE_PREFIX,
    EnsembleManifest,
    ensemble_member_problems,
    is_ensemble,
    is_ensemble_name,
)
from strategies.errors import RefusedError
from strategies.lineage import VersionLineage

T = TypeVar("T")
STAGES = ("shadow", "canary", "live")
PREVIOUS_STAGE = {"shadow": None, "canary": "shadow", "live": "canary"}
PREVIOUS_LIVE = "previous-live"
Signer = Callable[[Mapping[str, Any]], Signature]
EvidenceSource = Callable[[str, int], CanaryEvidence | None]
# audit kinds that decide a request (its subject is the request's ref)
DECISION_KINDS = ("promotion_approved", "promotion_rejected", "rollback_rejected",
                  "config_approved", "config_rejected")


class GovernanceRefusal(RefusedError):
    """An action refused (and audited) with the reason."""

    # (actor, action, reason, strategy) of a refusal inside a transaction, audited after it
    audit: tuple[str, str, str, str | None] | None = None


def no_evidence(strategy: str, version: int) -> CanaryEvidence | None:
    """Canary evidence source before the live runner's journal exists: none (fail closed)."""
    return None


@dataclass(frozen=True, slots=True)
class DeploymentCheck:
    """Whether a (strategy, stage) deployment verifies, and why not."""

    strategy: str
    stage: str
    version: int | None
    problems: list[str]
    snapshot: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class GovernanceService:
    """The promotion workflow over one governance store, roles file and model registry."""

    engine: sa.Engine
    directory: Directory
    registry: ModelRegistry  # the app layer injects pipelines' ResearchRegistry
    configs: ConfigFiles
    clock: Callable[[], datetime]
    evidence: EvidenceSource = no_evidence
    known_strategies: set[str] = field(default_factory=set)
    trust: TrustedDirectory | None = None  # the verified trust lock behind ``directory``

    def __post_init__(self) -> None:
        if self.trust is not None and self.directory is not self.trust.directory:
            raise ValueError("directory must be the trust lock's head directory")
        store.create_tables(self.engine)
        self.audit = AuditLog(self.engine)

    # -- plumbing ------------------------------------------------------------------------

    def _now(self) -> str:
        return self.clock().isoformat()

    def refuse(self, actor: str, action: str, reason: str, strategy: str | None = None,
               subject: str = "") -> GovernanceRefusal:
        """Audit a refusal and return the exception to raise."""
        self.audit.append(ts=self.clock(), kind="refused", actor=actor, strategy=strategy,
                          subject=subject, detail={"action": action, "reason": reason})
        return GovernanceRefusal(f"{action} refused: {reason}")

    def _signed(self, payload: dict[str, Any], signer: Signer, role: str | tuple[str, ...],
                strategy: str | None) -> tuple[str, Signature]:
        """Sign ``payload`` through ``signer``, verify it, check the role; refuse otherwise."""
        action = str(payload["action"])
        try:
            signature = signer(payload)
        except (SignatureError, IdentityError, LookupError, OSError, ValueError) as exc:
            raise self.refuse("unknown", action, f"cannot sign: {exc}", strategy) from exc
        try:
            user = self.directory.verify(payload, signature, now=self.clock())
        except (SignatureError, IdentityError, LookupError, ValueError) as exc:
            raise self.refuse_unverified(signature, payload, action, f"bad signature: {exc}",
                                         strategy) from exc
        roles = (role,) if isinstance(role, str) else role
        if not set(roles) & set(user.roles):
            raise self.refuse(user.name, action, f"user {user.name!r} has roles "
                              f"{sorted(user.roles)}; {action} needs one of {list(roles)}",
                              strategy)
        return user.name, signature

    def refuse_unverified(self, signature: Signature, payload: Mapping[str, Any], action: str,
                          reason: str, strategy: str | None = None,
                          subject: str = "") -> GovernanceRefusal:
        """Audit a refusal of a signature that does not verify: the name it claims is only a
        claim (``unverified:<name>``); the key that really signed it is recorded if listed."""
        owner = self.directory.key_owner(payload, signature)
        self.audit.append(ts=self.clock(), kind="refused",
                          actor=f"unverified:{signature.signer}"[:64], strategy=strategy,
                          subject=subject,
                          detail={"action": action, "reason": reason,
                                  "claimed_signer": signature.signer,
                                  "claimed_key_id": signature.key_id,
                                  "signed_with": owner or "no key of the trusted roles"})
        return GovernanceRefusal(f"{action} refused: {reason}")

    def maker_of(self, row: store.RequestRow, actor: str, action: str) -> tuple[str, str]:
        """The request's maker and key id, proven by the maker's signature over the stored
        payload (never the ``maker`` column); refused and audited when it does not verify."""
        try:
            signature = Signature.from_dict(row.maker_signature)
            user = self.directory.verify(row.payload, signature, now=signature.signed_time)
        except (SignatureError, IdentityError, LookupError, ValueError, TypeError) as exc:
            raise self.refuse(actor, action, f"{row.ref}'s maker signature does not verify "
                              f"over its payload: {exc}", subject=row.ref) from exc
        if user.name != row.maker:
            raise self.refuse(actor, action, f"{row.ref}: the maker column says {row.maker!r} "
                              f"but the request is signed by {user.name!r} (an edited row)",
                              subject=row.ref)
        return user.name, signature.key_id

    def earlier_decision(self, row: store.RequestRow) -> str | None:
        """Why ``row`` was decided already although its (unsigned) state column says
        pending: a decision stored on the row, or one in the hash-chained audit trail (an
        approval or rejection of this request, a rollback carried out on it). A request is
        decided once - an insider resetting the column cannot overturn a rejection or reuse
        an old request for a second approval."""
        if row.decision is not None:
            return f"{row.ref} already carries a decision by {row.decided_by!r}"
        for record in self.audit.records(subject=row.ref):
            if record.kind in DECISION_KINDS:
                return (f"{row.ref} was already decided ({record.kind} by {record.actor!r}, "
                        f"audit seq {record.seq}); its state column was edited")
        for record in self.audit.records(kind="rollback", strategy=row.subject):
            if record.detail.get("request") == row.ref:
                return (f"{row.ref} was already carried out (rollback by {record.actor!r}, "
                        f"audit seq {record.seq}); its state column was edited")
        return None

    def same_person(self, maker: tuple[str, str], actor: str, signature: Signature) -> bool:
        """Maker and checker are the same person: same name or same key."""
        return maker[0] == actor or maker[1] == signature.key_id

    def _consume(self, conn: sa.Connection, signature: Signature, actor: str,
                 action: str, strategy: str | None) -> None:
        if not store.use_nonce(conn, signature.nonce, actor, self._now()):
            raise self._deferred_refusal(actor, action, "signature already used (a replayed "
                                         "approval or request)", strategy)

    def _deferred_refusal(self, actor: str, action: str, reason: str,
                          strategy: str | None) -> GovernanceRefusal:
        """A refusal detected inside a transaction: the transaction rolls back; the audit
        record is written by :meth:`_commit` after the rollback."""
        error = GovernanceRefusal(f"{action} refused: {reason}")
        error.audit = (actor, action, reason, strategy)
        return error

    def _commit(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            with store.transaction(self.engine) as conn:
                return work(conn)
        except GovernanceRefusal as exc:
            pending = getattr(exc, "audit", None)
            if pending is not None:
                actor, action, reason, strategy = pending
                self.refuse(actor, action, reason, strategy)
            raise

    # -- state ---------------------------------------------------------------------------

    def deployments(self, strategy: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        with self.engine.connect() as conn:
            return store.deployments(conn, strategy)

    def ensemble_names(self, stage: str) -> list[str]:
        """The per-symbol ensembles (``ensemble_<symbol>``) with an approved deployment at
        ``stage`` or a registry alias of that name (an unsigned one is then refused by
        :meth:`verify_deployment`, never ignored)."""
        with self.engine.connect() as conn:
            names = {s for (s, at) in store.deployments(conn) if at == stage
                     and is_ensemble_name(s)}
        for model in self.registry.client.search_registered_models(
                filter_string=f"name LIKE '{ENSEMBLE_PREFIX}%'"):
            if is_ensemble_name(model.name) and stage in (model.aliases or {}):
                names.add(model.name)
        return sorted(names)

    def stage_of(self, strategy: str, version: int) -> str | None:
        """The highest stage ``version`` is deployed at, or None."""
        current = self.deployments(strategy)
        found = [s for s in STAGES if current.get((strategy, s), (None,))[0] == version]
        return found[-1] if found else None

    def requests(self, strategy: str | None = None, state: str | None = None
                 ) -> list[store.RequestRow]:
        with self.engine.connect() as conn:
            return store.list_requests(conn, subject=strategy, state=state)

    def _request(self, ref: str, actor: str, action: str) -> store.RequestRow:
        try:
            request_id = store.parse_ref(ref)
        except ValueError as exc:
            raise self.refuse(actor, action, str(exc)) from exc
        try:
            with self.engine.connect() as conn:
                row = store.get_request(conn, request_id)
        except ValueError as exc:  # a payload or signature column edited into invalid JSON
            raise self.refuse(actor, action, f"request {ref} is unreadable (its row was "
                              f"edited): {exc}") from exc
        if row is None:
            raise self.refuse(actor, action, f"request {ref} does not exist")
        return row

    # -- checks --------------------------------------------------------------------------

    def config_problems(self) -> list[str]:
        """Reviewed files not at their approved version, approved versions whose signed
        request and approval do not verify (a row inserted into ``gov_config_versions``
        approves nothing), and an unapproved roles edit."""
        problems = self.configs.unapproved()
        for kind in KINDS:
            with self.engine.connect() as conn:
                row = store.latest_config(conn, kind)
                request = store.get_request(conn, row.request_id) if row is not None else None
            if row is not None:
                problems += self._config_signature_problems(kind, row, request)
        return problems + self.roles_problems()

    def _config_signature_problems(self, kind: str, row: Any,
                                   request: store.RequestRow | None) -> list[str]:
        label = f"approved {kind} version {row.version}"
        if request is None or request.kind != "config" or request.subject != kind or \
                request.payload.get("sha256") != row.sha256 or request.decision is None:
            return [f"{label} has no signed request and approval for sha {row.sha256[:12]}"]
        try:
            maker_sig = Signature.from_dict(request.maker_signature)
            maker = self.directory.verify(request.payload, maker_sig,
                                          now=maker_sig.signed_time)
            check_sig = Signature.from_dict(request.decision["signature"])
            checker = self.directory.verify(request.decision["payload"], check_sig,
                                            now=check_sig.signed_time)
        except (SignatureError, IdentityError, LookupError, ValueError, TypeError,
                KeyError) as exc:
            return [f"{label}: its signatures do not verify ({exc})"]
        decision = request.decision["payload"]
        if decision.get("action") != "config_approve" or \
                decision.get("request_digest") != digest(request.payload) or \
                "risk_officer" not in checker.roles or maker.name == checker.name or \
                maker_sig.key_id == check_sig.key_id:
            return [f"{label}: not approved by a risk officer other than its maker"]
        return []

    def roles_problems(self) -> list[str]:
        """An unapproved edit of the roles file blocks approvals (it grants nothing)."""
        if self.trust is None:
            return []
        problem = self.trust.pending_problem()
        return [problem] if problem else []

    def _stage_problem(self, strategy: str, version: int, to_stage: str) -> str | None:
        if to_stage not in STAGES:
            return f"stage {to_stage!r} is not one of {list(STAGES)}"
        current = self.deployments(strategy)
        at = current.get((strategy, to_stage), (None,))[0]
        if at == version:
            return f"{strategy} v{version} is already at {to_stage}"
        before = PREVIOUS_STAGE[to_stage]
        if before is not None and current.get((strategy, before), (None,))[0] != version:
            return (f"{strategy} v{version} is not at {before}: stages go in order "
                    f"none -> shadow -> canary -> live (no skipping); it is at "
                    f"{self.stage_of(strategy, version) or 'none'}")
        return None

    def algo_approval(self, strategy: str, version: int) -> dict[str, Any] | None:
        """The broker's approval record of ``strategy`` v``version`` as a registered algo
        (compliance.yaml ``algo.approvals``, a maker/checker-approved file), else None."""
        config = self._compliance()
        found = None if config is None else config.approval_for(strategy, version)
        return None if found is None else found.model_dump(mode="json")

    def _compliance(self) -> Any:
        """The compliance rules, or None when this service has no compliance file."""
        from live.compliance_rules.config import load_compliance

        path = self.configs.paths.get("compliance")
        return None if path is None or not path.is_file() else load_compliance(path)

    def _algo_problems(self, strategy: str, version: int, to_stage: str) -> list[str]:
        """SEBI's algo framework: with ``algo.require_algo_id``, a version goes to canary
        (or live) only with the broker's approval record of it (its exchange algo id)."""
        from live.compliance_rules.config import ComplianceConfigError

        if to_stage not in ("canary", "live"):
            return []
        try:
            config = self._compliance()
        except ComplianceConfigError as exc:
            return [str(exc)]
        if config is None or not config.algo.require_algo_id or \
                config.approval_for(strategy, version) is not None:
            return []
        return [f"{strategy} v{version} has no broker approval record (exchange algo id) in "
                f"{config.path.name} algo.approvals, and algo.require_algo_id is set: an "
                f"unregistered algo may not go to {to_stage} (SEBI algo framework)"]

    def _version_problems(self, strategy: str, version: int) -> list[str]:
        """Gate verdict (recorded and re-checked now) and lineage of a registered version."""
        try:
            found = self.registry.get_version(strategy, version)
        except LookupError as exc:
            return [str(exc)]
        lineage = VersionLineage.from_tags(found.tags)
        problems = [f"lineage tag {name} missing" for name in lineage.missing()]
        if not lineage.committed:
            problems.append(f"code revision {lineage.code_revision or ''!r} is not a committed "
                            "revision")
        if not lineage.passed:
            problems.append(f"{strategy} v{version} failed its gates at registration "
                            f"(stratops.gate_verdict={lineage.gate_verdict!r})")
        verdict = self.configs.gates(self.known_strategies).evaluate(
            strategy, self.registry.run_metrics(found))
        if not verdict.passed:
            failed = [c.name for c in verdict.checks if not c.passed]
            problems.append(f"{strategy} v{version} fails the current gates: {failed}")
        problems += self._ensemble_problems(strategy, version, found.tags)
        return problems

    def _ensemble_problems(self, strategy: str, version: int,
                           tags: Mapping[str, str]) -> list[str]:
        """An ensemble's version (``ensemble_<symbol>``) moves only when its manifest (the
        digest-checked ``ensemble.json`` the approval signs through ``model_digest``) agrees
        with its tags, and every member it names is a registered version with the recorded
        model digest, itself passing the version checks (gates at registration and now,
        lineage). The live runner trades exactly those members (:mod:`live.runner.ensembles`)."""
        if not is_ensemble(tags) and not is_ensemble_name(strategy):
            return []
        problems = ensemble_member_problems(tags)
        if not is_ensemble(tags):
            problems.append(f"{strategy} v{version} is not tagged as an ensemble version")
        if problems:
            return problems
        try:
            manifest = self.registry.load_ensemble(strategy, version)
        except (LookupError, ValueError) as exc:
            return [f"{strategy} v{version}: {exc}"]
        problems += manifest.tag_problems(tags)
        for member in manifest.members:
            problems += [f"ensemble member {member.strategy} v{member.version}: {p}"
                         for p in self._member_problems(member.strategy, member.version,
                                                        member.model_digest)]
        return problems

    def _member_problems(self, member: str, version: int, recorded: str) -> list[str]:
        """One member's version: registered, its model files hashing to the digest the
        ensemble recorded (recomputed, not the tag), and the version checks."""
        if is_ensemble_name(member):
            return ["an ensemble cannot be a member of an ensemble"]
        try:
            now = self.registry.artifact_digest(member, version)
        except LookupError as exc:
            return [str(exc)]
        problems = []
        if now != recorded:
            problems.append(f"model digest {now[:16]}... is not the recorded "
                            f"{recorded[:16]}...")
        return problems + self._version_problems(member, version)

    def _conflict_problems(self, strategy: str, version: int, to_stage: str) -> list[str]:
        """One strategy, one approval per stage: an ensemble whose member is deployed on
        its own (or in another ensemble) at ``to_stage``, or a strategy that a deployed
        ensemble already trades there, is refused (the runner would refuse the ensemble)."""
        with self.engine.connect() as conn:
            current = store.deployments(conn)
            claimed: dict[str, str] = {}  # member -> the deployed ensemble trading it
            for (name, at), (_, snapshot_id) in current.items():
                if at != to_stage or name == strategy or not is_ensemble_name(name):
                    continue
                try:
                    body = store.get_snapshot(conn, snapshot_id).get("body") or {}
                except LookupError:
                    continue  # a deployment without its snapshot: verification refuses it
                for entry in (body.get("ensemble") or {}).get("members", []):
                    claimed[str(entry).split(":")[0]] = name
        if not is_ensemble_name(strategy):
            return [f"{strategy} is traded at {to_stage} as a member of {claimed[strategy]}: "
                    "one strategy, one approval per stage"] if strategy in claimed else []
        try:
            members = self.registry.load_ensemble(strategy, version).strategies
        except (LookupError, ValueError):
            return []  # the version checks report the manifest
        return [f"ensemble member {m} is already deployed at {to_stage} "
                f"{'on its own' if (m, to_stage) in current else 'in ' + claimed[m]}: one "
                "strategy, one approval per stage" for m in members
                if (m, to_stage) in current or m in claimed]

    def ensemble_manifest(self, strategy: str, version: int,
                          model_digest: str) -> EnsembleManifest | None:
        """The manifest of ``strategy`` v``version`` when it is an ensemble's, read from the
        files hashing to ``model_digest`` (the approved digest); None otherwise."""
        if not is_ensemble_name(strategy):
            return None
        return self.registry.load_ensemble(strategy, version, expected_digest=model_digest)
    def _tag_problems(self, strategy: str, version: int, model_digest: Any
                      ) -> tuple[list[str], list[str]]:
        """The symbols the version's model config trades (read as data from the artifacts
        the maker requested), and where its MLflow tags - which the snapshot records and the
        checker reads - do not describe that config: an edited ``params``/``params_hash``
        or ``symbol`` tag would make the checker sign one thing while the runner trades
        another."""
        from strategies.params import get_params, params_hash

        lineage = VersionLineage.from_tags(self.registry.get_version(strategy, version).tags)
        if is_ensemble_name(strategy):  # no model config: its manifest, checked against its
            try:  # tags by the version checks, names the one symbol it trades
                manifest = self.ensemble_manifest(strategy, version, str(model_digest))
            except (LookupError, ValueError) as exc:
                return [str(lineage.symbol)], [f"{strategy} v{version}: ensemble manifest "
                                               f"cannot be read as approved: {exc}"]
            symbol = manifest.symbol if manifest is not None else str(lineage.symbol)
            if lineage.symbol != symbol:
                return [symbol], [f"{strategy} v{version}: tag symbol {lineage.symbol!r} is "
                                  f"not the symbol its manifest trades {symbol!r}"]
            return [symbol], []
        try:
            config = self.registry.load_config(strategy, version,
                                               expected_digest=str(model_digest))
        except (LookupError, ValueError) as exc:
            return [str(lineage.symbol)], [f"{strategy} v{version}: model config cannot be "
                                           f"read as approved: {exc}"]
        problems = []
        actual = params_hash(config.params)
        if lineage.params_hash != actual:
            problems.append(f"{strategy} v{version}: tag params_hash {lineage.params_hash!r} "
                            f"!= {actual!r}, the hash of the params its model config trades "
                            "(an MLflow tag edited after registration)")
        tagged = _tagged_params_hash(config.spec, lineage.params)
        if tagged != actual:
            problems.append(f"{strategy} v{version}: tag params {lineage.params} are not the "
                            f"params its model config trades {get_params(config.params)} (an "
                            "MLflow tag edited after registration)")
        if lineage.symbol not in config.symbols:
            problems.append(f"{strategy} v{version}: tag symbol {lineage.symbol!r} is not one "
                            f"of the symbols its model config trades {list(config.symbols)}")
        return list(config.symbols), problems

    def _policy_problems(self, strategy: str, version: int, to_stage: str,
                         symbols: list[str]) -> list[str]:
        policy = load_policy(self.configs.path("policy"), self.known_strategies or None)
        live_count = sum(1 for (s, stage) in self.deployments()
                         if stage == "live" and s != strategy)
        evidence = self.evidence(strategy, version) if to_stage == "live" else None
        violations = policy.check_promotion(strategy=strategy, to_stage=to_stage,
                                            symbols=symbols, live_count=live_count,
                                            evidence=evidence)
        return [f"policy {v.rule}: {v.message}" for v in violations]

    def approval_problems(self, row: store.RequestRow) -> list[str]:
        """Everything re-checked at approval time."""
        strategy, version = row.payload["strategy"], int(row.payload["version"])
        to_stage = row.payload["to_stage"]
        problems = self.config_problems()
        stage = self._stage_problem(strategy, version, to_stage)
        if stage is not None:
            problems.append(stage)
        problems += self._version_problems(strategy, version)
        problems += self._algo_problems(strategy, version, to_stage)
        problems += self._conflict_problems(strategy, version, to_stage)
        if problems:
            return problems
        before = PREVIOUS_STAGE.get(to_stage)
        if before is not None:
            check = self.verify_deployment(strategy, before)
            problems += [f"the {before} deployment it builds on does not verify: {p}"
                         for p in check.problems]
        symbols, tag_problems = self._tag_problems(strategy, version,
                                                   row.payload.get("model_digest"))
        problems += tag_problems
        problems += self._policy_problems(strategy, version, to_stage, symbols)
        current_digest = self.registry.artifact_digest(strategy, version)
        if current_digest != row.payload.get("model_digest"):
            problems.append("model artifacts changed since the request "
                            f"({current_digest[:16]}... != requested "
                            f"{str(row.payload.get('model_digest'))[:16]}...)")
        return problems

    # -- actions -------------------------------------------------------------------------

    def request_promotion(self, strategy: str, version: int, to_stage: str, reason: str,
                          signer: Signer) -> store.RequestRow:
        """Maker (quant): ask for ``strategy`` v``version`` to move to ``to_stage``."""
        action = "promotion_request"
        if not reason.strip():
            raise self.refuse("unknown", action, "a reason is required", strategy)
        try:
            model_digest = self.registry.artifact_digest(strategy, version)
        except LookupError as exc:
            raise self.refuse("unknown", action, str(exc), strategy) from exc
        payload = {"action": action, "strategy": strategy, "version": int(version),
                   "to_stage": to_stage, "reason": reason, "model_digest": model_digest}
        actor, signature = self._signed(payload, signer, "quant", strategy)
        problems = [p for p in [self._stage_problem(strategy, version, to_stage)] if p]
        problems += self._version_problems(strategy, version)
        problems += self._algo_problems(strategy, version, to_stage)
        if problems:
            raise self.refuse(actor, action, "; ".join(problems), strategy)

        return self.record_request(kind="promotion", subject=strategy, payload=payload,
                                   signature=signature, actor=actor, action=action,
                                   strategy=strategy)

    def record_request(self, *, kind: str, subject: str, payload: dict[str, Any],
                       signature: Signature, actor: str, action: str,
                       strategy: str | None = None,
                       content: str | None = None) -> store.RequestRow:
        """Store a maker's signed request, in one transaction: its nonce consumed, the
        request row, the audit entry ``<kind>_requested``; returns the stored row."""

        def work(conn: sa.Connection) -> store.RequestRow:
            self._consume(conn, signature, actor, action, strategy)
            request_id = store.insert_request(
                conn, kind=kind, subject=subject, payload=payload, maker=actor,
                signature=signature.to_dict(), created_at=self._now(), content=content)
            self.audit.append_in(conn, ts=self.clock(), kind=f"{kind}_requested",
                                 actor=actor, strategy=strategy, subject=f"R{request_id}",
                                 detail={"payload": payload, "signature": signature.to_dict()})
            row = store.get_request(conn, request_id)
            assert row is not None
            return row

        return self._commit(work)

    def _body_or_problem(self, row: store.RequestRow) -> tuple[dict[str, Any], str | None]:
        """The snapshot body a promotion approval would sign, or ``({}, why not)`` when it
        cannot be built (the version deleted from the registry, an edited request row): the
        approver's signature is still checked, then the refusal is audited under their name."""
        if row.kind != "promotion":
            return {}, None
        if row.payload.get("strategy") != row.subject:  # the deployment row is the subject's
            return {}, (f"{row.ref}: the subject column says {row.subject!r} but its maker "
                        f"signed a request for {row.payload.get('strategy')!r} (an edited row)")
        try:
            return self.snapshot_body(row), None
        except (LookupError, ValueError, TypeError) as exc:  # KeyError is a LookupError
            return {}, f"{row.ref}: its deployment snapshot cannot be built: {exc}"

    def snapshot_body(self, row: store.RequestRow) -> dict[str, Any]:
        """The deployment snapshot body this approval would sign."""
        strategy, version = row.payload["strategy"], int(row.payload["version"])
        stage = row.payload["to_stage"]
        lineage = VersionLineage.from_tags(self.registry.get_version(strategy, version).tags)
        policy = load_policy(self.configs.path("policy"), self.known_strategies or None)

        def tag(value: str | None) -> str:
            return value or ""

        evidence = self.evidence(strategy, version) if stage == "live" else None
        return {
            "previous_stage_snapshot": self._current_snapshot_digest(
                strategy, PREVIOUS_STAGE.get(stage), version),
            "canary_evidence": None if evidence is None else {
                "sessions": evidence.sessions, "trades": evidence.trades,
                "open_breaks": evidence.open_breaks, "source": evidence.source,
                "size_note": evidence.size_note,
                **({} if evidence.realised_slippage_bps is None else {
                    "realised_slippage_bps": evidence.realised_slippage_bps,
                    "assumed_slippage_bps": evidence.assumed_slippage_bps})},
            "schema": SNAPSHOT_SCHEMA, "strategy": strategy, "version": version,
            "stage": stage, "capital_fraction": policy.capital_fraction(stage),
            "capital_inr": policy.capital_for(strategy, stage),
            "params": tag(lineage.params), "params_hash": tag(lineage.params_hash),
            "dataset": tag(lineage.dataset), "dataset_md5": tag(lineage.dataset_md5),
            "symbol": tag(lineage.symbol), "code_revision": tag(lineage.code_revision),
            "strategies_source_hash": tag(lineage.strategies_source_hash),
            "feature_set_version": tag(lineage.feature_set_version),
            "gate_verdict_digest": tag(lineage.verdict_digest),
            "gates_digest": self.configs.digest("gates"),
            "policy_digest": self.configs.digest("policy"),
            "risk_limits_digest": self.configs.digest("risk"),
            "playbooks_digest": self.configs.digest("playbooks"),
            "compliance_digest": self.configs.digest("compliance"),
            "algo_approval": self.algo_approval(strategy, version),
            "roles_digest": self.directory.digest,
            "trust_root": self.trust.root_sha if self.trust is not None else None,
            "policy": policy.to_snapshot(), "model_digest": row.payload["model_digest"],
            "request_id": row.ref,
            **self._ensemble_body(strategy, version, row.payload["model_digest"]),
        }

    def _ensemble_body(self, strategy: str, version: int, model_digest: str
                       ) -> dict[str, Any]:
        """An ensemble version's snapshot also signs its manifest in plain sight (members at
        their versions and digests, resolver, order): what the runner will trade. A
        manifest that cannot be read signs ``None``; the approval is refused anyway (its
        digest or tags no longer check out) and the runner refuses such a snapshot."""
        if not is_ensemble_name(strategy):
            return {}
        try:
            manifest = self.ensemble_manifest(strategy, version, model_digest)
        except (LookupError, ValueError):
            return {"ensemble": None}
        return {"ensemble": None if manifest is None else manifest.to_json()}

    def _current_snapshot_digest(self, strategy: str, stage: str | None,
                                 version: int) -> str | None:
        """Digest of the snapshot deployed at ``stage`` if it is ``version``'s, else None."""
        if stage is None:
            return None
        with self.engine.connect() as conn:
            current = store.deployments(conn, strategy).get((strategy, stage))
            if current is None or current[0] != version:
                return None
            return digest(store.get_snapshot(conn, current[1]))

    def approve(self, ref: str, signer: Signer) -> DeploymentCheck:
        """Checker (desk head, never the maker): re-check everything, then deploy."""
        action = "promotion_approve"
        row = self._request(ref, "unknown", action)
        strategy = row.subject
        body, body_problem = self._body_or_problem(row)
        payload = {"action": action, "request_id": row.ref,
                   "request_digest": digest(row.payload), "snapshot_digest": digest(body)}
        actor, signature = self._signed(payload, signer, "desk_head", strategy)
        if row.kind != "promotion":
            raise self.refuse(actor, action, f"{row.ref} is a {row.kind} request", strategy)
        maker = self.maker_of(row, actor, action)
        if self.same_person(maker, actor, signature):
            raise self.refuse(actor, action, f"{actor!r} made {row.ref}: maker and checker "
                              "must be different people", strategy, row.ref)
        if row.state != "pending":
            raise self.refuse(actor, action, f"{row.ref} is already {row.state} by "
                              f"{row.decided_by}", strategy, row.ref)
        decided = self.earlier_decision(row) or body_problem
        if decided is not None:
            raise self.refuse(actor, action, decided, strategy, row.ref)
        problems = self.approval_problems(row)
        if problems:
            raise self.refuse(actor, action, "; ".join(problems), strategy, row.ref)
        document = {"body": body,
                    "request": {"payload": row.payload, "signature": row.maker_signature},
                    "approval": {"payload": payload, "signature": signature.to_dict()}}
        version, stage = int(row.payload["version"]), row.payload["to_stage"]

        def work(conn: sa.Connection) -> None:
            self._consume(conn, signature, actor, action, strategy)
            decision = {"payload": payload, "signature": signature.to_dict()}
            if not store.decide_request(conn, row.id, state="approved", decided_by=actor,
                                        decision=decision, decided_at=self._now()):
                raise self._deferred_refusal(actor, action, f"{row.ref} was decided "
                                             "concurrently by someone else", strategy)
            snapshot_id = store.insert_snapshot(conn, strategy=strategy, stage=stage,
                                                version=version, document=document,
                                                created_at=self._now())
            store.set_deployment(conn, strategy=strategy, stage=stage, version=version,
                                 snapshot_id=snapshot_id, action="promote", actor=actor,
                                 at=self._now())
            self.audit.append_in(conn, ts=self.clock(), kind="promotion_approved", actor=actor,
                                 strategy=strategy, subject=row.ref,
                                 detail={"snapshot_digest": digest(document),
                                         "stage": stage, "version": version,
                                         "approval": decision})

        self._commit(work)
        self.sync_aliases(strategy)
        return self.verify_deployment(strategy, stage)

    def reject(self, ref: str, reason: str, signer: Signer) -> store.RequestRow:
        """Checker (desk head, never the maker): refuse a pending request with a reason."""
        action = "promotion_reject"
        row = self._request(ref, "unknown", action)
        payload = {"action": action, "request_id": row.ref,
                   "request_digest": digest(row.payload), "reason": reason}
        actor, signature = self._signed(payload, signer, ("desk_head", "risk_officer"),
                                        row.subject)
        if not reason.strip():
            raise self.refuse(actor, action, "a reason is required", row.subject, row.ref)
        if self.same_person(self.maker_of(row, actor, action), actor, signature):
            raise self.refuse(actor, action, "the maker cannot decide their own request",
                              row.subject, row.ref)
        if row.state != "pending":
            raise self.refuse(actor, action, f"{row.ref} is already {row.state}",
                              row.subject, row.ref)

        def work(conn: sa.Connection) -> store.RequestRow:
            self._consume(conn, signature, actor, action, row.subject)
            decision = {"payload": payload, "signature": signature.to_dict()}
            if not store.decide_request(conn, row.id, state="rejected", decided_by=actor,
                                        decision=decision, decided_at=self._now()):
                raise self._deferred_refusal(actor, action, f"{row.ref} was decided "
                                             "concurrently", row.subject)
            about_strategy = row.kind in ("promotion", "rollback")
            kind = f"{row.kind}_rejected" if about_strategy else "config_rejected"
            self.audit.append_in(conn, ts=self.clock(), kind=kind, actor=actor,
                                 strategy=row.subject if about_strategy else None,
                                 subject=row.ref, detail=decision)
            updated = store.get_request(conn, row.id)
            assert updated is not None
            return updated

        return self._commit(work)

    def rollback(self, strategy: str, reason: str, signer: Signer) -> DeploymentCheck:
        """Desk head or risk officer: live returns at once to the previous live version."""
        action = "rollback"
        with self.engine.connect() as conn:
            current = store.deployments(conn, strategy).get((strategy, "live"))
            history = store.live_history(conn, strategy)
        previous = previous_live(history, current)
        payload = {"action": action, "strategy": strategy, "reason": reason,
                   "from_version": current[0] if current else None,
                   "to_version": previous[0] if previous else None}
        actor, signature = self._signed(payload, signer, ("desk_head", "risk_officer"),
                                        strategy)
        if current is None or previous is None:
            raise self.refuse(actor, action, f"{strategy} has no "
                              f"{'live version' if current is None else 'previous live version'}"
                              " to roll back", strategy)
        if not reason.strip():
            raise self.refuse(actor, action, "a reason is required", strategy)
        problems = self.rollback_target_problems(strategy, previous)
        if problems:  # never point live at a snapshot the runner would refuse
            raise self.refuse(actor, action, f"the previous live deployment of {strategy} "
                              f"(v{previous[0]}) does not verify: " + "; ".join(problems) +
                              "; live stays where it is (pull the kill switch to stop it)",
                              strategy)

        def work(conn: sa.Connection) -> None:
            self._consume(conn, signature, actor, action, strategy)
            store.set_deployment(conn, strategy=strategy, stage="live", version=previous[0],
                                 snapshot_id=previous[1], action="rollback", actor=actor,
                                 at=self._now())
            self.audit.append_in(conn, ts=self.clock(), kind="rollback", actor=actor,
                                 strategy=strategy, subject=f"v{current[0]}->v{previous[0]}",
                                 detail={"payload": payload, "signature": signature.to_dict()})

        self._commit(work)
        self.sync_aliases(strategy)
        return self.verify_deployment(strategy, "live")

    def rollback_target_problems(self, strategy: str, target: tuple[int, int]) -> list[str]:
        """Why the live snapshot a rollback would return to cannot be trusted (a history row
        inserted by hand, a snapshot whose signatures or stage chain no longer verify)."""
        try:
            with self.engine.connect() as conn:
                document = store.get_snapshot(conn, target[1])
        except (LookupError, ValueError) as exc:
            return [str(exc)]
        problems = verify_snapshot(document, self.directory, strategy=strategy, stage="live")
        if (document.get("body") or {}).get("version") != target[0]:
            problems.append(f"snapshot {target[1]} approves version "
                            f"{(document.get('body') or {}).get('version')!r}, not {target[0]}")
        return problems + self._chain_problems(document, strategy, "live")

    # -- registry projection and verification ----------------------------------------------

    def sync_aliases(self, strategy: str, *, repair: bool = False) -> dict[str, int | None]:
        """Point the registry aliases at the approved deployments (and remove others).
        ``repair`` (``stratops promote sync``): aliases found elsewhere were moved by hand -
        audited as ``alias_drift`` before they are put back."""
        with self.engine.connect() as conn:
            current = store.deployments(conn, strategy)
            history = store.live_history(conn, strategy)
        wanted: dict[str, int | None] = {
            s: current[(strategy, s)][0] if (strategy, s) in current else None for s in STAGES}
        previous = previous_live(history, current.get((strategy, "live")))
        wanted[PREVIOUS_LIVE] = previous[0] if previous else None
        client = self.registry.client
        present = dict(client.get_registered_model(strategy).aliases or {})
        drift = {alias: {"found": present.get(alias), "approved": version}
                 for alias, version in wanted.items()
                 if str(present.get(alias)) != str(version) and
                 not (version is None and alias not in present)}
        if drift and repair:  # a hand-moved alias: recorded before it is put back
            self.audit.append(ts=self.clock(), kind="alias_drift", actor="sync_aliases",
                              strategy=strategy, subject=strategy, detail={"aliases": drift})
        for alias, version in wanted.items():
            if version is None:
                if alias in present:
                    client.delete_registered_model_alias(strategy, alias)
            else:
                client.set_registered_model_alias(strategy, alias, str(version))
        return wanted

    def verify_deployment(self, strategy: str, stage: str, *,
                          audit_as: str | None = None) -> DeploymentCheck:
        """Does the registry alias ``stage`` of ``strategy`` carry an approved, signed,
        unaltered deployment whose signed chain (shadow -> canary -> live approvals of this
        version, in order) verifies? What the runner checks before it trades a version.
        With ``audit_as``, the check is audited: ``deployment_verified`` or
        ``deployment_refused`` (an unsigned alias, a forged row)."""
        check = self._verify_deployment(strategy, stage)
        if audit_as is not None:
            self.audit.append(ts=self.clock(),
                              kind="deployment_verified" if check.ok else "deployment_refused",
                              actor=audit_as,
                              strategy=strategy if strategy in self.known_strategies
                              or not self.known_strategies or is_ensemble_name(strategy)
                              else None,
                              subject=f"{strategy}@{stage}"[:200],
                              detail={"version": check.version, "problems": check.problems})
        return check

    def _verify_deployment(self, strategy: str, stage: str) -> DeploymentCheck:
        if stage not in STAGES:
            return DeploymentCheck(strategy, stage, None, [f"unknown stage {stage!r}"])
        with self.engine.connect() as conn:
            current = store.deployments(conn, strategy).get((strategy, stage))
            try:
                document = store.get_snapshot(conn, current[1]) if current else None
            except (LookupError, ValueError) as exc:  # a row deleted or edited with SQL
                return DeploymentCheck(strategy, stage, current[0] if current else None,
                                       [f"deployment of {strategy}@{stage} points at snapshot "
                                        f"{current[1] if current else None}, which is not a "
                                        f"readable signed snapshot ({exc})"])
        try:
            alias = self.registry.get_version(strategy, f"@{stage}").version
        except LookupError:
            alias = None
        if current is None or document is None:
            problem = f"no approved {stage} deployment of {strategy}"
            if alias is not None:
                problem += f", yet alias @{stage} points at v{alias}: an unsigned deployment"
            return DeploymentCheck(strategy, stage, alias, [problem])
        if alias is None:
            return DeploymentCheck(strategy, stage, current[0],
                                   [f"alias @{stage} is missing; run `stratops promote sync`"],
                                   document)
        model_digest = self.registry.artifact_digest(strategy, alias)
        problems = verify_snapshot(document, self.directory, alias_version=alias,
                                   model_digest=model_digest, strategy=strategy, stage=stage)
        problems += self._chain_problems(document, strategy, stage)
        return DeploymentCheck(strategy, stage, alias, problems, document)

    def _chain_problems(self, document: Mapping[str, Any], strategy: str,
                        stage: str) -> list[str]:
        """Walk the signed approvals down to shadow: each names the digest of the approval of
        the stage before, for the same version and model, signed before its own request."""
        problems: list[str] = []
        body = document.get("body") or {}
        version, model = body.get("version"), body.get("model_digest")
        while (before := PREVIOUS_STAGE.get(stage)) is not None:
            wanted = body.get("previous_stage_snapshot")
            found = self._snapshot_by_digest(strategy, before, version, wanted)
            if found is None:
                problems.append(f"no signed {before} approval of {strategy} v{version} precedes "
                                f"its {stage} approval (stages go shadow -> canary -> live)")
                break
            problems += [f"{before} approval: {p}" for p in verify_snapshot(
                found, self.directory, strategy=strategy, stage=before)]
            if found["body"].get("version") != version or \
                    found["body"].get("model_digest") != model:
                problems.append(f"the {before} approval is for another version or model")
            if not _signed_before(found, document):
                problems.append(f"the {before} approval was signed after the {stage} request")
            document, body, stage = found, found["body"], before
        return problems

    def _snapshot_by_digest(self, strategy: str, stage: str, version: Any,
                            wanted: Any) -> dict[str, Any] | None:
        if not isinstance(wanted, str) or not isinstance(version, int):
            return None
        with self.engine.connect() as conn:
            for document in store.snapshots_for(conn, strategy, stage, version):
                if digest(document) == wanted:
                    return document
        return None


def _tagged_params_hash(spec: Any, params_json: str | None) -> str | None:
    """The params hash of a version's ``params`` tag (canonical JSON) built with the
    installed params class; None when the tag is absent, not JSON or not valid params."""
    import json

    from strategies.params import params_hash

    try:
        return params_hash(spec.make_params(**json.loads(params_json or "")))
    except (ValueError, TypeError):
        return None


def _signed_before(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    """The earlier document's approval was signed no later than the later one's request."""
    try:
        approved = Signature.from_dict(earlier["approval"]["signature"]).signed_time
        requested = Signature.from_dict(later["request"]["signature"]).signed_time
    except (KeyError, TypeError, SignatureError):
        return False
    return approved <= requested


def previous_live(history: list[tuple[int, int]],
                   current: tuple[int, int] | None) -> tuple[int, int] | None:
    """The live promotion before the current live one (by snapshot), if any."""
    if current is None:
        return None
    earlier = [h for h in history if h[1] != current[1]]
    before = [h for h in earlier if h[1] < current[1]]
    return before[-1] if before else None

