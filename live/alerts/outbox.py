"""The durable alert queue: one SQLite file beside the journal (``alerts.db_path``).

``alert_groups`` holds one row per alert (or per burst of the same code and scope inside the
dedup window, with its count), ``alert_deliveries`` one row per (group, channel, tier) - the
unique key that makes a delivery happen once - and ``alert_sources`` what was ingested from
where (a journal's seq, a page's id), so a re-read of the journal queues nothing twice.
A sender claims a delivery before sending (a second worker cannot send it too), marks it
delivered after; a failure is retried with exponential backoff; a crash mid-send frees the
claim after ``claim_s`` (then the receiver may see it twice: the ``X-Stratops-Delivery`` id
lets it tell). Every change is one transaction; the file is WAL with ``synchronous=FULL``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live.alerts.config import DeliveryConfig
from live.events import Severity
from live.playbooks.spec import SEVERITY_RANK
from strategies.errors import BadInputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL, code TEXT NOT NULL, scope TEXT NOT NULL,
    severity TEXT NOT NULL, message TEXT NOT NULL, trace_id TEXT NOT NULL,
    source TEXT NOT NULL, details TEXT NOT NULL,
    first_at REAL NOT NULL, last_at REAL NOT NULL, count INTEGER NOT NULL,
    tier INTEGER NOT NULL, tier_at REAL NOT NULL,
    acked_at REAL, acked_by TEXT);
CREATE INDEX IF NOT EXISTS alert_groups_key ON alert_groups (dedup_key, first_at);
CREATE TABLE IF NOT EXISTS alert_sources (
    source TEXT NOT NULL, ref TEXT NOT NULL, group_id INTEGER NOT NULL,
    PRIMARY KEY (source, ref));
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL REFERENCES alert_groups (id),
    channel TEXT NOT NULL, tier INTEGER NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL, claimed_until REAL, last_error TEXT,
    created_at REAL NOT NULL, delivered_at REAL,
    UNIQUE (group_id, channel, tier));
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (state, next_at);
CREATE TABLE IF NOT EXISTS alert_cursor (source TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


class UnknownAlertError(BadInputError, LookupError):
    """An alert id that is not in the delivery queue (the id named)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """An alert to queue: from ``source`` (a journal, ``page``), its ``ref`` there."""

    source: str
    ref: str
    code: str
    scope: str
    severity: Severity
    message: str
    trace_id: str = ""
    details: dict[str, Any] | None = None
    tier: int = 0  # the first tier paged (a playbook's page_tier)


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to send now, with its group's fields (the payload is built from them)."""

    id: int
    group_id: int
    channel: str
    tier: int
    attempts: int
    group: dict[str, Any]


class Outbox:
    """The queue over one SQLite file (one connection per call: safe across threads and
    processes)."""

    def __init__(self, path: Path, config: DeliveryConfig) -> None:
        self.path, self.config = path, config
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)  # idempotent; commits itself
        finally:
            conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # -- ingest --------------------------------------------------------------------------

    def ingest(self, alert: Incoming, now: float, *, cursor: tuple[str, int] | None = None,
               delay_s: float | None = None) -> int | None:
        """Queue ``alert`` (once per source and ref); the group it joined or opened, None
        when it was already queued. A repeat of an open group's code and scope inside the
        dedup window only counts (and raises the group's severity). ``cursor``: the
        journal position to store in the same transaction."""
        with self._tx() as conn:
            if cursor is not None:
                conn.execute("INSERT INTO alert_cursor VALUES (?, ?) ON CONFLICT (source) "
                             "DO UPDATE SET seq = excluded.seq", cursor)
            if conn.execute("SELECT 1 FROM alert_sources WHERE source = ? AND ref = ?",
                            (alert.source, alert.ref)).fetchone():
                return None
            group = self._open_group(conn, alert, now)
            if group is None:
                group = self._new_group(conn, alert, now, self.config.coalesce_s
                                        if delay_s is None else delay_s)
            conn.execute("INSERT INTO alert_sources VALUES (?, ?, ?)",
                         (alert.source, alert.ref, group))
            return group

    def _open_group(self, conn: sqlite3.Connection, alert: Incoming, now: float) -> int | None:
        key = f"{alert.code}|{alert.scope}|{alert.tier}"
        row = conn.execute("SELECT id, severity FROM alert_groups WHERE dedup_key = ? AND "
                           "first_at >= ? ORDER BY id DESC LIMIT 1",
                           (key, now - self.config.dedup_window_s)).fetchone()
        if row is None:
            return None
        severity = max(Severity(row["severity"]), alert.severity,
                       key=lambda s: SEVERITY_RANK[s])
        conn.execute("UPDATE alert_groups SET count = count + 1, last_at = ?, severity = ?, "
                     "message = ? WHERE id = ?", (now, severity.value, alert.message,
                                                  row["id"]))
        return int(row["id"])

    def _new_group(self, conn: sqlite3.Connection, alert: Incoming, now: float,
                   delay_s: float) -> int:
        cur = conn.execute(
            "INSERT INTO alert_groups (dedup_key, code, scope, severity, message, trace_id, "
            "source, details, first_at, last_at, count, tier, tier_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (f"{alert.code}|{alert.scope}|{alert.tier}", alert.code, alert.scope,
             alert.severity.value, alert.message, alert.trace_id, alert.source,
             json.dumps(alert.details or {}, sort_keys=True, default=str), now, now,
             alert.tier, now))
        group = int(cur.lastrowid or 0)
        self._add_deliveries(conn, group, alert.tier, now + delay_s, now)
        return group

    def _add_deliveries(self, conn: sqlite3.Connection, group: int, tier: int,
                        next_at: float, now: float) -> None:
        for channel in self.config.tier(tier):
            conn.execute("INSERT OR IGNORE INTO alert_deliveries (group_id, channel, tier, "
                         "state, next_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                         (group, channel, tier, next_at, now))

    def cursor(self, source: str) -> int | None:
        with self._tx() as conn:
            row = conn.execute("SELECT seq FROM alert_cursor WHERE source = ?",
                               (source,)).fetchone()
        return None if row is None else int(row["seq"])

    def set_cursor(self, source: str, seq: int) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO alert_cursor VALUES (?, ?) ON CONFLICT (source) "
                         "DO UPDATE SET seq = excluded.seq", (source, seq))

    # -- delivery ------------------------------------------------------------------------

    def claim_due(self, now: float, limit: int = 50) -> list[Due]:
        """The pending deliveries due at ``now``, claimed for ``claim_s`` (another worker
        skips them; a crashed sender's claim lapses)."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, group_id, channel, tier, attempts FROM alert_deliveries WHERE "
                "state = 'pending' AND next_at <= ? AND (claimed_until IS NULL OR "
                "claimed_until < ?) ORDER BY next_at, id LIMIT ?", (now, now, limit)).fetchall()
            found = []
            for row in rows:
                conn.execute("UPDATE alert_deliveries SET claimed_until = ? WHERE id = ?",
                             (now + self.config.claim_s, row["id"]))
                group = dict(conn.execute("SELECT * FROM alert_groups WHERE id = ?",
                                          (row["group_id"],)).fetchone())
                found.append(Due(int(row["id"]), int(row["group_id"]), str(row["channel"]),
                                 int(row["tier"]), int(row["attempts"]), group))
            return found

    def delivered(self, delivery: int, now: float) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE alert_deliveries SET state = 'delivered', delivered_at = ?, "
                         "attempts = attempts + 1, claimed_until = NULL, last_error = NULL "
                         "WHERE id = ?", (now, delivery))

    def failed(self, delivery: int, error: str, now: float) -> float:
        """A failed attempt: retried after an exponential backoff; returns when."""
        with self._tx() as conn:
            attempts = int(conn.execute("SELECT attempts FROM alert_deliveries WHERE id = ?",
                                        (delivery,)).fetchone()[0]) + 1
            wait = min(self.config.retry_initial_s * 2 ** (attempts - 1),
                       self.config.retry_max_s)
            conn.execute("UPDATE alert_deliveries SET attempts = ?, next_at = ?, "
                         "claimed_until = NULL, last_error = ? WHERE id = ?",
                         (attempts, now + wait, error[:1000], delivery))
        return float(now + wait)

    # -- escalation and acknowledgement ----------------------------------------------------

    def escalate(self, now: float) -> list[int]:
        """Groups nobody acknowledged within ``escalate_after_s`` of their tier's paging
        go to the next tier (until the last); their ids."""
        last = len(self.config.tiers) - 1
        with self._tx() as conn:
            rows = conn.execute("SELECT id, tier FROM alert_groups WHERE acked_at IS NULL "
                                "AND tier < ? AND tier_at <= ?",
                                (last, now - self.config.escalate_after_s)).fetchall()
            for row in rows:
                tier = int(row["tier"]) + 1
                conn.execute("UPDATE alert_groups SET tier = ?, tier_at = ? WHERE id = ?",
                             (tier, now, row["id"]))
                self._add_deliveries(conn, int(row["id"]), tier, now, now)
        return [int(r["id"]) for r in rows]

    def ack(self, group: int, by: str, now: float) -> None:
        """A person has it: no further escalation (deliveries already queued still go)."""
        with self._tx() as conn:
            cur = conn.execute("UPDATE alert_groups SET acked_at = ?, acked_by = ? WHERE id = ? "
                               "AND acked_at IS NULL", (now, by, group))
            if cur.rowcount == 0 and conn.execute("SELECT 1 FROM alert_groups WHERE id = ?",
                                                  (group,)).fetchone() is None:
                raise UnknownAlertError(f"alert {group} does not exist")

    def groups(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest groups with their deliveries' states (for ``stratops alerts list``)."""
        with self._tx() as conn:
            rows = [dict(r) for r in conn.execute(
                "SELECT * FROM alert_groups ORDER BY id DESC LIMIT ?", (limit,))]
            for row in rows:
                row["deliveries"] = [dict(d) for d in conn.execute(
                    "SELECT channel, tier, state, attempts, last_error, delivered_at FROM "
                    "alert_deliveries WHERE group_id = ? ORDER BY id", (row["id"],))]
        return rows
