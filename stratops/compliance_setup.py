"""Compliance at the start of a run: ``compliance.yaml`` loaded, each deployed version given
the algo id of its broker approval record (SEBI's algo framework), versions without one
refused where the file requires it, and the pre-trade compliance controls built."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from stratops.errors import LiveSetupError
from stratops.settings import Settings


def load_config(settings: Settings) -> Any:
    """The reviewed ``compliance.yaml`` (a bad file: :class:`LiveSetupError` naming it)."""
    from live.compliance_rules.config import ComplianceConfigError, load_compliance

    try:
        return load_compliance(settings.path(settings.governance.compliance_file))
    except ComplianceConfigError as exc:
        raise LiveSetupError(f"compliance rules cannot be loaded: {exc}") from exc


def with_algo_ids(config: Any, mode: str, deployed: list[Any], refused: list[Any]
                  ) -> list[Any]:
    """``deployed`` with each version's exchange algo id (its approval record's; an
    ensemble's members carry the ensemble version's); with ``algo.require_algo_id``, a
    canary or live version without one is moved to ``refused`` (a shadow run sends no order,
    so it needs none)."""
    from live.runner.deployments import Refusal

    kept = []
    for d in deployed:  # an ensemble's member trades as the ensemble's algo (its approval)
        algo, version = (d.strategy, d.version) if d.ensemble is None else \
            (d.ensemble.name, d.ensemble.version)
        approval = config.approval_for(algo, version)
        if approval is None and config.algo.require_algo_id and mode != "shadow":
            refused.append(Refusal(d.strategy, (
                f"{algo} version {version} has no broker approval record (algo id) in "
                f"{config.path.name} algo.approvals, and algo.require_algo_id is set: "
                "an unregistered algo may not trade (SEBI algo framework)")))
            continue
        kept.append(d if approval is None else dataclasses.replace(d,
                                                                   algo_id=approval.algo_id))
    return kept


def controls(config: Any, mode: str) -> Any:
    """The pre-trade compliance controls of ``config`` for a run in ``mode`` (a shadow run
    sends no order, so its orders need no exchange algo id)."""
    from live.risk.compliance_controls import ComplianceControls

    return ComplianceControls(config, sends_orders=mode != "shadow")


def check_egress(settings: Settings, config: Any, mode: str,
                 on_hold: Callable[[str], None]) -> None:
    """Hold the start (:class:`LiveSetupError`, after ``on_hold(why)``: the runner's caller
    journals it as a critical ``egress_ip`` alert) when ``algo.static_egress_ip`` is set and
    this machine's egress address towards the broker is not it; a shadow run sends no order
    and is not checked."""
    from live.compliance_rules.egress import EgressCheckError, require_egress

    expected = config.algo.static_egress_ip
    if expected is None or mode == "shadow":
        return
    try:
        require_egress(expected, settings.preopen.egress_probe_host,
                       settings.preopen.egress_probe_port)
    except EgressCheckError as exc:
        on_hold(f"start held: {exc}")
        raise LiveSetupError(f"{mode} refused: {exc}") from exc
