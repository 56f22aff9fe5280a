"""The leader lease and its fences on the real PostgreSQL server: one holder at a time, a
takeover only after expiry, and a deposed holder's journal append and broker call refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from live.adapters.paper import FillModel, PaperExchange
from live.broker import OrderRequest, Side
from live.db import make_engine
from live.events import BarClosed
from live.journal import Journal, JournalWriteError, open_journal
from live.lease import FencedError, LeaderLease, LeaseConfigError
from live.standby import FencedBroker
from tests.doubles import submitted_count
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]
TTL_SECONDS = 0.6
T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def url() -> Iterator[str]:
    yield from fresh_database("stratops_lease")


@pytest.fixture()
def leases(url: str) -> Iterator[list[LeaderLease]]:
    made: list[LeaderLease] = []
    yield made
    for lease in made:
        lease.close(release=False)


def _lease(url: str, made: list[LeaderLease], holder: str, **kwargs: object) -> LeaderLease:
    lease = LeaderLease(url, name="live", holder=holder, ttl_seconds=TTL_SECONDS,
                        **kwargs)  # type: ignore[arg-type]  # margin/monotonic only
    made.append(lease)
    return lease


def _bar(i: int) -> BarClosed:
    return BarClosed(trace_id="", ts_event=T0.replace(minute=i), symbol="NIFTY", open=1.0,
                     high=2.0, low=0.5, close=1.5, volume=1.0)


def _journal(url: str, lease: LeaderLease) -> Journal:
    journal = open_journal(url, clock=lambda: T0)
    journal.fence = lease.check_in
    return journal


def test_lease_held_is_refused_to_a_second_holder(url: str, leases: list[LeaderLease]) -> None:
    first = _lease(url, leases, "A").try_acquire()
    second = _lease(url, leases, "B").try_acquire()
    assert first is not None and first.epoch == 1 and first.previous_holder == ""
    assert second is None


def test_lease_expired_is_taken_at_next_epoch_after_a_settle_wait(
        url: str, leases: list[LeaderLease]) -> None:
    _lease(url, leases, "A").try_acquire()
    time.sleep(TTL_SECONDS + 0.05)
    taken = _lease(url, leases, "B").try_acquire()
    assert taken is not None and (taken.epoch, taken.previous_holder) == (2, "A")
    assert 0 <= taken.settle_wait_seconds <= TTL_SECONDS / 6


def test_lease_deposed_holder_cannot_renew_or_take_it_back(
        url: str, leases: list[LeaderLease]) -> None:
    old = _lease(url, leases, "A")
    old.try_acquire()
    time.sleep(TTL_SECONDS + 0.05)
    _lease(url, leases, "B").try_acquire()
    assert old.renew() is False and old.lost is not None
    with pytest.raises(FencedError):
        old.try_acquire()


def test_journal_append_of_deposed_leader_is_fenced_and_journal_unusable(
        url: str, leases: list[LeaderLease]) -> None:
    old = _lease(url, leases, "A", margin_seconds=0.01)
    old.try_acquire()
    journal = _journal(url, old)
    journal.append(_bar(0))
    time.sleep(TTL_SECONDS + 0.05)
    _lease(url, leases, "B").try_acquire()
    with pytest.raises(FencedError, match="refusing to append"):
        journal.append(_bar(1))
    with pytest.raises(JournalWriteError, match="unusable"):
        journal.append(_bar(2))
    assert journal.head()[0] == 1
    journal.engine.dispose()


def test_journal_append_checks_the_epoch_row_not_only_the_local_clock(
        url: str, leases: list[LeaderLease]) -> None:
    clock = Clock()
    old = _lease(url, leases, "A", monotonic=clock)
    old.try_acquire()
    journal = _journal(url, old)
    with make_engine(url).begin() as conn:  # the row moved on (a takeover elsewhere)
        conn.execute(sa.text("UPDATE leases SET epoch = epoch + 1, holder = 'B'"))
    with pytest.raises(FencedError, match="epoch 2 held by 'B'"):
        journal.append(_bar(0))
    journal.engine.dispose()


def test_broker_submit_past_the_holders_deadline_is_refused_unsent(
        url: str, leases: list[LeaderLease]) -> None:
    clock = Clock()
    lease = _lease(url, leases, "A", monotonic=clock)
    lease.try_acquire()
    exchange = PaperExchange(make_engine(url), seed=1, fill_model=FillModel())
    broker = FencedBroker(exchange, lease)
    request = OrderRequest(client_key="k1", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=75)
    clock.now += TTL_SECONDS  # paused past its own deadline (a SIGSTOP between the two)
    with pytest.raises(FencedError, match="refusing to submit k1"):
        broker.submit(request)
    assert submitted_count(exchange, "k1") == 0 and broker.orders() == []


def test_lease_connection_dropped_loses_the_lease(url: str, leases: list[LeaderLease]) -> None:
    lease = _lease(url, leases, "A")
    lease.try_acquire()
    with make_engine(url).connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    assert lease.renew() is False
    assert lease.lost is not None and "renewal failed" in lease.lost and not lease.valid()


def test_lease_released_is_taken_without_waiting_the_ttl(
        url: str, leases: list[LeaderLease]) -> None:
    _lease(url, leases, "A").try_acquire()
    leases[0].close()
    taken = _lease(url, leases, "B").try_acquire()
    assert taken is not None and taken.epoch == 2


def test_lease_on_a_sqlite_journal_is_refused() -> None:
    with pytest.raises(LeaseConfigError, match="PostgreSQL"):
        LeaderLease("sqlite:///journal.db", name="live", holder="A")


def test_leader_frozen_inside_an_append_does_not_block_the_takeover(
        url: str, leases: list[LeaderLease]) -> None:
    old = _lease(url, leases, "A")
    old.try_acquire()
    journal = open_journal(url, clock=lambda: T0)
    conn = journal.engine.connect()
    conn.begin()
    old.check_in(conn)  # holds the lease row FOR SHARE, then the process "freezes"
    time.sleep(TTL_SECONDS + 0.05)
    taken = _lease(url, leases, "B").try_acquire()
    assert taken is not None and taken.epoch == 2  # the server ended the idle append
    with pytest.raises(sa.exc.OperationalError):
        conn.execute(sa.text("SELECT 1"))
    conn.invalidate()
    journal.engine.dispose()
