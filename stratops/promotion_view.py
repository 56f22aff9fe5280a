"""Promotion state as ``stratops promote status`` and the operator page show it: the
approved deployment per stage (governance store), the requests, and the registry aliases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from live.governance.promotion import GovernanceService


def promotion_status(svc: GovernanceService, strategy: str | None = None) -> dict[str, Any]:
    """``{"deployments": [...], "requests": [...]}`` from the governance store."""
    deployments = [{"strategy": s, "stage": stage, "version": version}
                   for (s, stage), (version, _) in sorted(svc.deployments(strategy).items())]
    requests = [{"id": row.ref, "kind": row.kind, "subject": row.subject,
                 "what": _what(row.kind, row.payload),
                 "maker": row.maker, "state": row.state, "decided_by": row.decided_by,
                 "payload": row.payload}
                for row in svc.requests(strategy)]
    return {"deployments": deployments, "requests": requests}


def _what(kind: str, payload: dict[str, Any]) -> str:
    """A request's subject in a few words (a promotion, a rollback proposal, a file)."""
    if kind == "promotion":
        return f"v{payload.get('version')} -> {payload.get('to_stage')}"
    if kind == "rollback":  # proposed by the health monitor (live.governance.rollback)
        return f"rollback live v{payload.get('from_version')} -> v{payload.get('to_version')}"
    return str(payload.get("file", ""))


def registry_aliases(svc: GovernanceService, strategies: list[str]) -> dict[str, Any]:
    """Each strategy's MLflow aliases now (``{}`` for a model never registered); an alias
    that differs from the approved deployment is drift (``stratops promote sync``)."""
    from mlflow.exceptions import MlflowException

    out: dict[str, Any] = {}
    for name in strategies:
        try:
            out[name] = dict(svc.registry.client.get_registered_model(name).aliases or {})
        except MlflowException:
            out[name] = {}
    return out
