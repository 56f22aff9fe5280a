"""The leader lease of a hot-standby pair: who may write the journal and send orders, and
the fencing token (the lease's epoch) that makes a deposed leader's writes fail.

A row of the ``leases`` table (name, epoch, holder, expires_at) in the journal's PostgreSQL
database. :meth:`LeaderLease.try_acquire` takes an *expired* lease in one transaction
(``SELECT ... FOR UPDATE``, ``epoch += 1``, ``expires_at = now() + ttl``); the holder renews
it every ``ttl/3`` from a thread on the connection it acquired with. Expiry is the database
clock's; the holder's own view is a monotonic deadline ``sent + ttl - margin`` taken when a
renewal was *sent*, so it ends at least ``margin`` before the database expiry.

Why a deposed leader cannot send (the argument the hot-standby tests check):

1. The journal append of every message (:attr:`live.journal.Journal.fence` =
   :meth:`LeaderLease.check_in`) reads the lease row ``FOR SHARE`` in the append's own
   transaction and refuses (:class:`FencedError`; the journal is unusable from then on)
   unless the epoch is still ours, the row has not expired and our monotonic deadline has
   not passed. An intent is journaled before its order is sent, so a leader whose epoch
   moved on never intends anything new. A standby's ``FOR UPDATE`` waits for an append
   holding the row and then sees it; an append waiting for the standby's commit re-reads
   the row and sees the new epoch.
2. Immediately before every broker call that changes the book (submit, cancel, modify),
   :meth:`LeaderLease.ensure_valid` checks the monotonic deadline (no round trip). A leader
   paused after its append and before its send (SIGSTOP, a long GC, a VM stall) wakes past
   its deadline and refuses.
3. The new leader acquires only after the database expiry, and waits
   (:attr:`Acquired.settle_wait_seconds`) until ``old expiry + margin`` before it settles the
   old epoch's in-doubt orders by status query. The old leader's last permitted send began
   before ``old expiry - margin``: the settle starts at least ``2 * margin`` later, so a send
   already in flight has reached the broker and shows in the status query.

4. The new leader never *sends* an in-doubt intent of the old epoch: one the broker has no
   order for is closed stale (``Recovery.resend_unsent_intents`` is False after a takeover).

A process frozen *between* the deadline check of (2) and the bytes leaving its socket (a
paper exchange's transaction, a client's HTTP call: not only microseconds - the hot-standby
SIGSTOP test lands there now and then) is the window no client-side check closes: brokers
take no fencing token. (4) makes it at-most-once: such an order is sent by the frozen leader
when it wakes, or by nobody - never by both; its fills are journaled by the new leader's
poll like any other (the intent is known), so the books still agree.

Every transaction that touches the lease row sets ``idle_in_transaction_session_timeout``
(``ttl/3``): a process frozen inside one (SIGSTOP mid-append, mid-renewal or mid-takeover)
is disconnected by the server and its lock released, so a frozen instance never locks the
other out; a takeover does not queue behind a lock (``lock_timeout``: it tries again).

A lost database connection is a lost lease (fail closed): the renewals run on the one
connection the lease was acquired with and are never retried on another, so a holder whose
connection drops stops renewing, its deadline passes, and it refuses to append or send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from live.db import make_engine, redacted
from live.journal import SCHEMA_LOCK_KEY, JournalWriteError
from strategies.errors import BadInputError, RefusedError

DEFAULT_TTL_SECONDS = 3.0
MIN_TTL_SECONDS = 0.5
MAX_TTL_SECONDS = 60.0
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired

_META = sa.MetaData()
LEASES = sa.Table(
    "leases", _META,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class FencedError(JournalWriteError, RefusedError):
    """This process no longer holds the leader lease (its epoch moved on, it expired, or the
    connection it renewed on dropped): nothing more may be journaled or sent (exit 1)."""


class LeaseConfigError(BadInputError, ValueError):
    """A lease that cannot work: a journal that is not PostgreSQL, a TTL out of range."""


@dataclass(frozen=True, slots=True)
class Acquired:
    """A lease just taken: our epoch, the holder we deposed ("" for a first lease) and how
    long to wait before settling that holder's in-doubt orders."""

    epoch: int
    previous_holder: str
    settle_wait_seconds: float


class LeaderLease:
    """The leader lease ``name`` in the PostgreSQL database at ``url``, held as ``holder``.

    ``margin_seconds`` (default ``ttl/6``) is how much earlier than the database expiry the
    holder stops trusting its lease. ``monotonic`` is the holder's clock (injected for tests).
    """

    def __init__(self, url: str, *, name: str, holder: str,
                 ttl_seconds: float = DEFAULT_TTL_SECONDS, margin_seconds: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not url.startswith("postgresql"):
            raise LeaseConfigError(f"leader lease on {redacted(url)}: a hot standby needs a "
                                   "PostgreSQL journal (live.journal_url=postgresql://...); "
                                   "the SQLite journal has one writer")
        if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
            raise LeaseConfigError(f"lease ttl_seconds={ttl_seconds!r}: use "
                                   f"{MIN_TTL_SECONDS}..{MAX_TTL_SECONDS}")
        margin = ttl_seconds / 6 if margin_seconds is None else margin_seconds
        if not 0 < margin < ttl_seconds / 2:
            raise LeaseConfigError(f"lease margin_seconds={margin!r}: use 0 < margin < ttl/2")
        if not holder:
            raise LeaseConfigError("lease holder name is empty")
        self.name, self.holder = name, holder
        self.ttl_seconds, self.margin_seconds = ttl_seconds, margin
        self._monotonic = monotonic
        self._lock_timeout_ms = max(50, int(ttl_seconds * 1000 / 6))
        # the holder keeps its connection checked out: a drop surfaces as a failed
        # renewal, never silently replaced by the pool (a connection loss is a lease loss)
        self._engine = make_engine(url)
        with self._engine.begin() as conn:  # two instances may start together
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            _META.create_all(conn)
        self._conn: sa.Connection | None = None  # the holder's connection, from acquisition
        self._lock = threading.Lock()
        self.epoch: int | None = None
        self._deadline = 0.0  # monotonic; valid while below it
        self.lost: str | None = None  # why the lease was lost (never re-taken by this object)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- taking and keeping --------------------------------------------------------------

    def try_acquire(self) -> Acquired | None:
        """Take the lease if it is free or expired (epoch + 1); None while another holds it.

        Raises
        ------
        FencedError
            This object held and lost the lease: a deposed holder never takes it again.
        """
        if self.lost is not None:
            raise FencedError(f"lease {self.name}: lost ({self.lost}); not taken again")
        if self.epoch is not None:
            raise LeaseConfigError(f"lease {self.name}: already held at epoch {self.epoch}")
        conn = self._engine.connect()
        sent = self._monotonic()
        try:
            taken = self._take(conn)
        except BaseException:
            conn.close()
            raise
        if taken is None:
            conn.close()
            return None
        self._conn, self.epoch = conn, taken.epoch
        self._deadline = sent + self.ttl_seconds - self.margin_seconds
        return taken

    def _take(self, conn: sa.Connection) -> Acquired | None:
        try:
            return self._take_locked(conn)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) == _LOCK_NOT_AVAILABLE:
                return None  # the leader is inside an append: it still holds the lease
            raise

    def _take_locked(self, conn: sa.Connection) -> Acquired | None:
        with conn.begin():
            # a stopped leader may hold the row FOR SHARE in an open append: do not queue
            # behind it (its session is ended by the append's idle timeout, see check_in)
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {self._lock_timeout_ms}")
            self._bounded(conn)
            conn.execute(sa.text(
                "INSERT INTO leases (name, epoch, holder, expires_at) "
                "VALUES (:n, 0, '', to_timestamp(0)) ON CONFLICT (name) DO NOTHING"),
                {"n": self.name})
            row = conn.execute(sa.text(
                "SELECT epoch, holder, expires_at > now() AS held, "
                "EXTRACT(EPOCH FROM (now() - expires_at)) AS expired_seconds FROM leases "
                "WHERE name = :n FOR UPDATE"), {"n": self.name}).one()
            if row.held:
                return None
            conn.execute(sa.text(
                "UPDATE leases SET epoch = epoch + 1, holder = :h, "
                "expires_at = now() + make_interval(secs => :ttl) WHERE name = :n"),
                {"n": self.name, "h": self.holder, "ttl": self.ttl_seconds})
        return Acquired(epoch=row.epoch + 1, previous_holder=row.holder,
                        settle_wait_seconds=0.0 if not row.holder else max(
                            0.0, self.margin_seconds - float(row.expired_seconds)))

    def renew(self) -> bool:
        """Extend the lease by a TTL from now; False (and lost for good) when it was no
        longer ours, had expired, or the connection failed."""
        if self.lost is not None or self._conn is None:
            return False
        sent = self._monotonic()
        try:
            with self._lock, self._conn.begin():
                self._bounded(self._conn)
                row = self._conn.execute(sa.text(
                    "UPDATE leases SET expires_at = now() + make_interval(secs => :ttl) "
                    "WHERE name = :n AND epoch = :e AND holder = :h AND expires_at > now() "
                    "RETURNING epoch"),
                    {"n": self.name, "e": self.epoch, "h": self.holder,
                     "ttl": self.ttl_seconds}).first()
        except sa.exc.SQLAlchemyError as exc:
            self._lose(f"renewal failed on the lease connection: {_first_line(exc)}")
            return False
        if row is None:
            self._lose(f"epoch {self.epoch} expired or taken over before renewal")
            return False
        if sent >= self._deadline:  # renewed in time for the database, not for us
            self._lose("renewal came after the holder's own deadline")
            return False
        self._deadline = sent + self.ttl_seconds - self.margin_seconds
        return True

    def start_renewing(self) -> None:
        """Renew every ``ttl/3`` from a daemon thread until :meth:`close` or a failure."""
        if self._renewer is not None:
            return
        self._renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                         name=f"lease-{self.name}")
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_seconds / 3):
            if not self.renew():
                return

    # --- fencing -------------------------------------------------------------------------

    def valid(self) -> bool:
        """Whether this holder may still act, by its own clock (no round trip)."""
        return self.lost is None and self.epoch is not None and \
            self._monotonic() < self._deadline

    def ensure_valid(self, what: str = "act") -> None:
        """Raise :class:`FencedError` unless :meth:`valid` (the check before a broker call)."""
        if self.valid():
            return
        if self.lost is None:
            self._lose("the holder's deadline passed (paused or renewals late)"
                       if self.epoch is not None else "never acquired")
        raise FencedError(f"fenced: lease {self.name} epoch {self.epoch} of {self.holder} is "
                          f"no longer held ({self.lost}); refusing to {what}")

    def check_in(self, conn: sa.Connection) -> None:
        """The fence of a journal append, in the append's own transaction (``conn``): the
        lease row, read ``FOR SHARE``, must still carry our epoch and not have expired."""
        self.ensure_valid("append to the journal")
        self._bounded(conn)
        row = conn.execute(sa.text(
            "SELECT epoch, holder, expires_at > now() AS live FROM leases WHERE name = :n "
            "FOR SHARE"), {"n": self.name}).first()
        if row is None or row.epoch != self.epoch or not row.live:
            found = "no lease row" if row is None else \
                f"epoch {row.epoch} held by {row.holder!r}{'' if row.live else ', expired'}"
            self._lose(f"the journal's lease row says {found}")
            raise FencedError(f"fenced: lease {self.name} epoch {self.epoch} of {self.holder} "
                              f"is no longer held ({self.lost}); refusing to append")

    def _bounded(self, conn: sa.Connection) -> None:
        """A process stopped inside a transaction on the lease row (SIGSTOP, a partition)
        must not lock it for ever: the server ends the session once it idles this long."""
        conn.exec_driver_sql(
            f"SET LOCAL idle_in_transaction_session_timeout = {self._lock_timeout_ms * 2}")

    # --- letting go ----------------------------------------------------------------------

    def close(self, *, release: bool = True) -> None:
        """Stop renewing; ``release``: expire the lease now (a clean hand-over, so a standby
        need not wait out the TTL), if it is still ours."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.ttl_seconds)
        if self._conn is not None:
            if release and self.lost is None:
                try:
                    with self._lock, self._conn.begin():
                        self._bounded(self._conn)
                        self._conn.execute(sa.text(
                            "UPDATE leases SET expires_at = now() WHERE name = :n "
                            "AND epoch = :e AND holder = :h"),
                            {"n": self.name, "e": self.epoch, "h": self.holder})
                except sa.exc.SQLAlchemyError:
                    pass  # not released: the standby waits out the TTL instead
            self._conn.close()
            self._conn = None
        self.lost = self.lost or "closed"
        self._engine.dispose()

    def _lose(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
        self._stop.set()


def lease_holder(name: str, url: str, *, engine: sa.Engine | None = None
                 ) -> tuple[int, str] | None:
    """``(epoch, holder)`` of lease ``name`` at ``url`` (None when never taken): for
    status displays and tests."""
    owned = engine is None
    engine = engine or make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
            _META.create_all(conn)
            row = conn.execute(sa.select(LEASES.c.epoch, LEASES.c.holder)
                               .where(LEASES.c.name == name)).first()
        return None if row is None else (row.epoch, row.holder)
    finally:
        if owned:
            engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
