"""Build the governance service from settings; sign with the acting user's key file."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from live.governance.identity import (
    Directory,
    default_keys_dir,
    load_actor,
)
from live.governance.signing import Signature
from live.governance.trust import TrustedDirectory, load_trusted, lock_path_for
from stratops.clock import utc_now as utc_now  # re-exported for the CLI modules
from stratops.errors import ActorMissingError  # defined there: no import cycle
from stratops.settings import Settings, load_settings

if TYPE_CHECKING:  # imported where used: the CLI starts without them
    import sqlalchemy as sa

    from live.governance.audit import AuditLog
    from live.governance.policy import CanaryEvidence
    from live.governance.promotion import GovernanceService, Signer
    from strategies.confidence import ConfidenceSizing

USER_ENV = "STRATOPS_USER"


def acting_user(name: str | None) -> str:
    user = name or os.environ.get(USER_ENV)
    if not user:
        raise ActorMissingError(f"who is acting? pass --as USER or set {USER_ENV}")
    return user


def keys_dir(settings: Settings) -> Path:
    return settings.governance.keys_dir or default_keys_dir()


def trusted(settings: Settings) -> TrustedDirectory:
    """The trust lock's verified head: the only roles any signature is checked against."""
    roles = settings.path(settings.governance.roles_file)
    return load_trusted(roles, lock_path_for(roles), settings.governance.trust_root)


def directory(settings: Settings) -> Directory:
    return trusted(settings).directory


def directory_or_none(settings: Settings) -> Directory | None:
    """The trusted directory, or None where no trust lock exists yet (reading a journal or
    the audit trail needs none until there are signed checkpoints to check)."""
    from live.governance.trust import TrustError

    try:
        return directory(settings)
    except TrustError:
        return None


def signer_for(settings: Settings, user: str) -> Signer:
    """A signer backed by ``user``'s private key file (checked against the roles file)."""
    actor = load_actor(directory(settings), user, keys_dir(settings))
    ttl = settings.governance.signature_ttl_seconds

    def sign(payload: Mapping[str, Any]) -> Signature:
        return actor.sign(payload, now=utc_now(), ttl_seconds=ttl)

    return sign


GOVERNANCE_HINT = ("nothing has been governed here yet (stratops keys create USER --role ROLE "
                   "--add-to-roles, then stratops trust bootstrap), or governance.db_url "
                   "(STRATOPS_GOVERNANCE__DB_URL) points elsewhere; a PostgreSQL database "
                   "must exist first (createdb NAME)")


def governance_engine(settings: Settings, *, create: bool = True) -> sa.Engine:
    """The governance store's engine; ``create=False`` (readers) never creates a database
    and reports a missing or unreachable one with a hint."""
    from live.db import make_engine

    return make_engine(settings.governance.db_url, settings.root, create=create,
                       what="governance database", hint=GOVERNANCE_HINT)


def audit_log(settings: Settings, *, create: bool = True) -> AuditLog:
    """The audit trail of the configured governance store (``create=False``: for reading)."""
    from live.governance.audit import AuditLog

    return AuditLog(governance_engine(settings, create=create))


def audit_refusal(settings: Settings, actor: str, action: str, reason: str) -> None:
    """Audit a refusal that happens before the service can check a signature (an unknown
    or unapproved user, an exposed key file, a missing or broken trust lock)."""
    audit_log(settings).append(ts=utc_now(), kind="refused", actor=actor[:64],
                               detail={"action": action, "reason": reason})


def registry(settings: Settings, *, create: bool = True) -> Any:
    """The MLflow registry (no governance needed: reading versions proves nothing);
    ``create=False`` (readers) never creates an empty MLflow store."""
    from pipelines.research.registry import ResearchRegistry

    return ResearchRegistry(settings.tracking_uri, settings.artifact_root, create=create)


class LazyRegistry:
    """:func:`registry`, opened at its first use: a command that never reads a model
    version (a config change, an audit or trust command) does not import MLflow (about a
    second of every such command)."""

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self._settings, self._create = settings, create
        self._opened: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._opened is None:
            self._opened = registry(self._settings, create=self._create)
        return getattr(self._opened, name)


def service(settings: Settings | None = None, *, create: bool = True
            ) -> GovernanceService:
    """The governance service over the configured store, roles file and MLflow registry;
    ``create=False`` (readers) never creates an empty governance database."""
    from live.governance.configs import ConfigFiles
    from live.governance.promotion import GovernanceService
    from pipelines.research.gates import load_gates
    from strategies.roster import STRATEGIES

    settings = settings or load_settings()
    engine = governance_engine(settings, create=create)
    models = LazyRegistry(settings, create=create)
    configs = ConfigFiles(engine, {
        "gates": settings.path(settings.governance.gates_file),
        "policy": settings.path(settings.governance.policy_file),
        "risk": settings.path(settings.governance.risk_file),
        "playbooks": settings.path(settings.governance.playbooks_file),
        "compliance": settings.path(settings.governance.compliance_file)},
        load_gates=load_gates)
    trust = trusted(settings)
    return GovernanceService(engine=engine, directory=trust.directory, registry=models,
                             configs=configs, clock=utc_now, evidence=_evidence(settings, models),
                             known_strategies=set(STRATEGIES), trust=trust)


def _evidence(settings: Settings, registry: Any
              ) -> Callable[[str, int], CanaryEvidence | None]:
    """Canary evidence from the live runner's canary journal."""
    from live.canary import journal_evidence

    url = settings.live.journal_url.replace("{mode}", "canary")
    return journal_evidence(url, settings.root, registry, settings.live.max_history_sessions,
                            check=lambda journal: canary_checkpoint_problem(settings, journal),
                            sizing=lambda: confidence_sizing(settings))


def confidence_sizing(settings: Settings) -> ConfidenceSizing:
    """The desk's confidence sizing, as the runner reads it (policy.yaml)."""
    from live.governance.policy import load_policy
    from strategies.roster import STRATEGIES

    return load_policy(settings.path(settings.governance.policy_file),
                       set(STRATEGIES)).confidence_sizing()


def canary_checkpoint_problem(settings: Settings, journal: Any) -> str | None:
    """Why the canary journal is not evidence: it contradicts its signed checkpoints, some of
    its entries are covered by none (an open tail: a row added after the last checkpoint is
    indistinguishable from the runner's), or - on a desk whose trust lock enrols the runner's
    service identity, so its canary runs sign checkpoints - it has no signed checkpoint at
    all (a journal written, or its checkpoints deleted, by someone with database access).
    None: it is covered; or the desk enrols no runner identity and the journal has no
    checkpoints (canary runs without a service key, which the runner warns about)."""
    from live.checkpoints import read_checkpoints, verify_against
    from stratops.checkpoint_ops import RUNNER_ROLE, journal_chain, journal_checkpoint_file

    path = journal_checkpoint_file(settings, "canary")
    trust = directory_or_none(settings)
    if not path.exists():
        runners = [] if trust is None else [u.name for u in trust.users.values()
                                            if RUNNER_ROLE in u.roles]
        if not runners:
            return None
        return (f"it has no signed checkpoint ({path} is missing), yet the trust lock enrols "
                f"the runner identity {runners[0]!r} whose canary runs sign them")
    if trust is None:
        return f"{path} holds signed checkpoints but there is no trust lock to check them"
    verdict = verify_against(journal, read_checkpoints(path), trust,
                             chain=journal_chain("canary"), role=RUNNER_ROLE)
    if verdict.finding == "ok":
        return None
    if verdict.finding == "open_tail":
        return f"{verdict.reason}: not evidence until a signed checkpoint covers them"
    return (f"it contradicts its signed checkpoints in {path}: first bad entry seq "
            f"{verdict.first_bad_seq}: {verdict.reason}")
