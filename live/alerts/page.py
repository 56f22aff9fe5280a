"""Page a person from any process (the dead-man watchdog, a CLI): ``page(...)`` queues the
page in the durable outbox and tries to deliver it at once; what does not go out now is
retried by whichever alert worker runs next (the runner's, or ``stratops alerts deliver``).

The app layer calls :func:`configure` once with the resolved delivery config (``stratops``
does it from settings: ``stratops.alerts_ops.configure_alerts``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from live.alerts.config import AlertConfigError, DeliveryConfig
from live.alerts.dispatcher import AlertDispatcher
from live.alerts.outbox import Incoming, Outbox
from live.events import Severity

_CONFIG: list[DeliveryConfig] = []


def configure(config: DeliveryConfig) -> None:
    """Where :func:`page` queues and which channels it uses (this process)."""
    _CONFIG[:] = [config]


def page(kind: str, severity: str, message: str, details: dict[str, Any]) -> None:
    """Page tier 0 about ``kind`` (an alert code, e.g. ``runner_heartbeat_missing``) now.

    Raises
    ------
    AlertConfigError
        Delivery is not configured in this process, or ``severity`` is not a severity.
    """
    if not _CONFIG:
        raise AlertConfigError("alert delivery is not configured in this process "
                               "(alerts.enabled, alerts.tiers); cannot page")
    try:
        level = Severity(severity)
    except ValueError:
        raise AlertConfigError(f"severity={severity!r}: one of "
                               f"{[s.value for s in Severity]}") from None
    config = _CONFIG[0]
    outbox = Outbox(config.db_path, config)
    scope = str(details.get("scope", "-"))
    outbox.ingest(Incoming("page", uuid.uuid4().hex, kind, scope, level, message,
                           str(details.get("trace_id", "")), details), time.time(),
                  delay_s=0.0)
    AlertDispatcher(config, outbox).deliver_due()  # now; a failure stays queued
