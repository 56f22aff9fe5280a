"""The runner's broker session room: a broker whose login died is held, and order updates
the broker pushed are acted on.

A broker with a session (:class:`~live.broker.HasSession`: Kite's access token) that turns
``session_invalid`` - a ``TokenException`` at any call - holds the runner: from then on
nothing is intended or sent (entries, exits, flattens and protective orders alike: an order
sent on a dead session is blind), bars are still journaled, and a critical
``broker_session_invalid`` alert is journaled and paged once. The hold lifts only through
:meth:`BrokerSession.resume_broker` with a broker logged in again, after the broker is
reconciled with the journal (in-doubt orders settled by tag, fills by trade id, positions
compared); an unclean reconciliation keeps holding. Exits owed meanwhile are decided again
at the next bar after the hold lifts (``exit_overdue``); desk kill commands are read (and
their cancels and flattens sent) once it lifts, not while nothing can reach the broker.

Books that cannot be read (a timeout, a 5xx) hold the runner at that market time only: the
positions may have changed, so nothing is decided on them (no order of any kind) until a
read succeeds at the next bar or ``Idle``; a critical ``broker_unavailable`` alert says so.

Pushed order updates (:class:`~live.broker.PushesOrderUpdates`: Kite's postbacks) are
drained at each bar and each ``Idle``; one about an order of ours makes the executor read
the trade and order books now (fills journaled once per trade id, rejections and
cancellations journaled through the execution path).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import cast

from live.broker import Broker, BrokerUnavailableError, HasSession, PushesOrderUpdates
from live.events import AlertRaised, Severity
from live.runner.broker_reconciliation import reconcile
from live.runner.core import RunnerCore

Pager = Callable[[AlertRaised], None]  # tells a person now (the alert is journaled too)
SESSION_ALERT = "broker_session_invalid"
RESTORED_ALERT = "broker_session_restored"
UPDATE_ALERT = "order_update_unreadable"
UNAVAILABLE_ALERT = "broker_unavailable"
_log = logging.getLogger("stratops.pager")


def log_pager(alert: AlertRaised) -> None:
    """The default pager: a CRITICAL log line (a deployment passes one that reaches a
    person: the serve loop, an on-call hook)."""
    _log.critical("%s: %s", alert.code, alert.message)


class BrokerSession(RunnerCore):
    """Holds the runner on a dead broker session; acts on pushed order updates."""

    pager: Pager
    _broker_hold: str | None  # why the runner holds besides a dead session (None: it does not)
    _session_paged: bool
    _books_unread: datetime | None  # the market time whose read of the books failed

    def _session_dead(self, ts: datetime) -> bool:
        """True when the broker's session is dead (alerted and paged the first time)."""
        if not (self.broker_is(HasSession) and cast(HasSession, self.broker).session_invalid):
            return False
        if not self._session_paged:
            self._session_paged = True
            self.page(ts, SESSION_ALERT,
                      f"broker {getattr(self.broker, 'name', '?')}: the session is invalid "
                      "(access token rejected or expired); holding: no order is sent, exits "
                      "included, until a fresh login is reconciled (stratops kite login, "
                      "then restart or resume)")
        return True

    def broker_held(self, ts: datetime) -> bool:
        """True when nothing may be sent: the broker's session is dead (alerted and paged
        once), its reconciliation after a new login was not clean, or its books could not
        be read at ``ts`` (positions unknown: nothing is decided on them until a read
        succeeds, at the next bar or ``Idle``)."""
        if self._session_dead(ts):
            return True
        return self._broker_hold is not None or self._books_unread == ts

    def page(self, ts: datetime, code: str, message: str) -> None:
        """Journal a critical alert and page it."""
        self.alert(ts, Severity.CRITICAL, code, message)
        self.pager(AlertRaised(trace_id="", ts_event=ts, severity=Severity.CRITICAL,
                               code=code, message=message))

    def pushed_updates(self, ts: datetime) -> None:
        """Drain the broker's pushed order updates; read the books now when one is about an
        order of ours (unreadable updates are alerted, the books are read then too)."""
        if not self.broker_is(PushesOrderUpdates) or self.broker_held(ts):
            return
        pushed = cast(PushesOrderUpdates, self.broker).drain_order_updates()
        for problem in pushed.problems:
            self.alert(ts, Severity.WARNING, UPDATE_ALERT, problem)
        ours = [r for r in pushed.orders if r.client_key in self.state.orders]
        if ours or pushed.problems:
            self.read_books(ts)

    def read_books(self, ts: datetime) -> None:
        """Journal the broker's new fills and terminations; a broker that does not answer is
        alerted (a dead session holds the runner), never taken as "nothing happened"."""
        try:
            self.summary.fills += len(self.executor.poll(ts))
        except BrokerUnavailableError as exc:
            self._books_unread = ts
            if not self._session_dead(ts):
                self.alert(ts, Severity.CRITICAL, UNAVAILABLE_ALERT,
                           f"broker reports unavailable: {exc}; nothing is sent until they "
                           "are read (again at the next bar)")
            return
        self._books_unread = None

    def resume_broker(self, broker: Broker, ts: datetime) -> bool:
        """Carry on with ``broker`` (logged in again): reconcile it with the journal first
        (an intent that never reached the broker is closed as stale, never sent late); the
        hold lifts only when that is clean. True when trading may resume."""
        self.broker = self.executor.broker = broker
        outcome = reconcile(self.executor, ts, {})
        if not outcome.clean:
            self._broker_hold = "reconciliation after a new login is not clean"
            self.page(ts, SESSION_ALERT, "new broker session not reconciled: holding: "
                      + "; ".join(outcome.issues))
            return False
        self._broker_hold = None
        self._session_paged = False
        self.alert(ts, Severity.INFO, RESTORED_ALERT,
                   f"broker {getattr(broker, 'name', '?')}: new session reconciled; trading "
                   "resumes")
        return True
