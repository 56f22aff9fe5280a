"""The operator page's server state: the journal view it folds, the risk report and
promotion state it assembles, the sign-in, and a version number that the page's event
stream (server-sent events) follows. One poller thread reads; nothing here writes to the
journal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from live.governance.identity import Directory
from strategies.errors import StratopsError
from stratops.ops_auth import OpsAuth
from stratops.ops_view import JournalView
from stratops.risk_view import RiskInputs
from stratops.settings import Settings

PROMOTION_EVERY_SECONDS = 5.0  # the governance store and registry change outside the journal


class OpsServer:
    """Everything ``stratops ops serve`` keeps in memory."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None
                 ) -> None:
        from stratops.governance_ops import directory, utc_now
        from stratops.live_ops import journal_url

        self.settings = settings
        self.clock = clock or utc_now
        self.url = journal_url(settings, settings.ops.mode)
        self.view: JournalView | None = None
        self.auth = OpsAuth(lambda: self._directory(directory), self.clock, self.audit_refusal,
                            challenge_ttl_seconds=settings.ops.challenge_ttl_seconds,
                            session_ttl_seconds=settings.ops.session_ttl_seconds)
        self.version = 0
        self.payload: dict[str, Any] = {"seq": 0, "journal": "not read yet"}
        self.encoded = json.dumps(self.payload)
        self._risk_inputs: RiskInputs | str | None = None
        self._risk: dict[str, Any] = {}
        self._promotion: dict[str, Any] = {}
        self._promotion_at = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _directory(self, load: Callable[[Settings], Directory]) -> Directory:
        return load(self.settings)

    # --- audit --------------------------------------------------------------------------

    def audit_refusal(self, actor: str, action: str, reason: str) -> None:
        """Every refused page action and sign-in goes to the governance audit trail."""
        from stratops.governance_ops import audit_log

        audit_log(self.settings).append(ts=self.clock(), kind="refused", actor=actor[:64],
                                        detail={"action": action, "reason": reason,
                                                "via": "ops page"})

    # --- reading ------------------------------------------------------------------------

    def _open_view(self) -> JournalView | None:
        from live.db import make_engine
        from live.journal import Journal, journal_exists

        if self.view is None and journal_exists(self.url, self.settings.root):
            engine = make_engine(self.url, self.settings.root, create=False,
                                 what=f"{self.settings.ops.mode} journal")
            self.view = JournalView(Journal(engine), recent_rows=self.settings.ops.recent_rows)
        return self.view

    def refresh(self, *, promotion: bool = False) -> bool:
        """Fold new journal rows (and re-read promotion state when due or asked); True when
        the page's data changed (a new version is published)."""
        with self._lock:
            try:
                view = self._open_view()
                folded = view.poll() if view is not None else 0
            except (sa.exc.SQLAlchemyError, StratopsError, OSError) as exc:
                self.view = None  # it may hold part of a read: rebuild from seq 1 next time
                return self._publish({"seq": self.payload.get("seq", 0),
                                      "journal": f"journal unreadable: {exc}"[:500],
                                      "mode": self.settings.ops.mode})
            due = promotion or time.monotonic() - self._promotion_at >= PROMOTION_EVERY_SECONDS
            if due:
                self._promotion = self._read_promotion()
                self._promotion_at = time.monotonic()
            if folded and view is not None:
                self._risk = self._read_risk(view)
            if not (folded or due or self.version == 0):
                return False
            payload = view.snapshot() if view is not None else \
                {"seq": 0, "journal": f"no {self.settings.ops.mode} journal at {self.url} yet"}
            payload |= {"mode": self.settings.ops.mode, "risk": self._risk,
                        "promotion": self._promotion}
            return self._publish(payload)

    def _publish(self, payload: dict[str, Any]) -> bool:
        """Make ``payload`` the page's state (a new version) unless it is unchanged."""
        encoded = json.dumps(payload, default=str)
        if encoded == self.encoded:
            return False
        self.payload, self.encoded = payload, encoded
        self.version += 1
        return True

    def _read_risk(self, view: JournalView) -> dict[str, Any]:
        from stratops.risk_view import risk_inputs, risk_view

        if self._risk_inputs is None:
            try:
                self._risk_inputs = risk_inputs(self.settings)
            except (StratopsError, OSError) as exc:
                self._risk_inputs = f"risk report unavailable: {exc}"
        if isinstance(self._risk_inputs, str):
            return {"error": self._risk_inputs}
        try:
            report = risk_view(self._risk_inputs, view.state)
        except (StratopsError, KeyError, ValueError) as exc:
            return {"error": f"risk report failed: {exc}"}
        return {"as_of": report.as_of.isoformat(), "exceeded": report.exceeded,
                "risk_version": self._risk_inputs.limits.version,
                "rows": [{"area": r.area, "item": r.item, "value": r.value, "limit": r.limit,
                          "utilisation": r.utilisation} for r in report.rows]}

    def _read_promotion(self) -> dict[str, Any]:
        from stratops.governance_ops import service
        from stratops.promotion_view import promotion_status, registry_aliases

        try:
            svc = service(self.settings, create=False)
            status = promotion_status(svc)
            names = sorted({d["strategy"] for d in status["deployments"]})
            return status | {"aliases": registry_aliases(svc, names)}
        except (StratopsError, OSError, sa.exc.SQLAlchemyError) as exc:
            return {"error": f"promotion state unavailable: {exc}"}

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [] if self.view is None else self.view.trace(trace_id)

    # --- the poller ---------------------------------------------------------------------

    def start(self) -> None:
        """Poll the journal every ``ops.poll_ms`` in a daemon thread."""
        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self.settings.ops.poll_ms / 1000)

        self.refresh(promotion=True)
        self._thread = threading.Thread(target=loop, name="ops-journal-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
