"""Hot standby: a second runner that follows the leader's journal live and takes over when
the leader's lease (:mod:`live.lease`) expires, and the fence that stops a deposed leader.

:func:`fence_runner` puts the lease in front of the runner's two ways out: every journal
append checks the lease epoch in its own transaction, and every broker call that changes
the book (submit, cancel, modify) checks the holder's deadline first (:class:`FencedBroker`).
:class:`Standby` folds the journal's new rows into the runner's state as they commit (the
state stays warm, the hash chain is checked row by row) and polls the lease; once it has the
lease it folds the last rows, waits out the old leader's window (the lease's settle wait)
and hands back: the caller runs the normal recovery (in-doubt orders settled by status
query) and trades on from the journal's position.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from live.broker import Broker, OrderRequest, SubmitResult
from live.journal import Journal
from live.lease import Acquired, LeaderLease
from live.runner.execution import Executor

DEFAULT_POLL_SECONDS = 0.1


class FencedBroker:
    """A broker whose book-changing calls first check that this process still leads;
    reads (status, orders, fills, positions, anything else) pass straight through."""

    def __init__(self, broker: Broker, lease: LeaderLease) -> None:
        self._broker, self._lease = broker, lease
        self.name = broker.name
        self.supports_oco = broker.supports_oco

    def submit(self, request: OrderRequest) -> SubmitResult:
        self._lease.ensure_valid(f"submit {request.client_key}")
        return self._broker.submit(request)

    def cancel(self, broker_order_id: str) -> SubmitResult:
        self._lease.ensure_valid(f"cancel {broker_order_id}")
        return self._broker.cancel(broker_order_id)

    def modify(self, broker_order_id: str, **changes: Any) -> SubmitResult:
        self._lease.ensure_valid(f"modify {broker_order_id}")
        return self._broker.modify(broker_order_id, **changes)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._broker, attr)


class _Fenceable(Protocol):
    journal: Journal
    broker: Broker
    executor: Executor


def fence_runner(runner: _Fenceable, lease: LeaderLease) -> None:
    """Make ``runner`` append and send only while ``lease`` is held (see module doc)."""
    runner.journal.fence = lease.check_in
    fenced: Any = FencedBroker(runner.broker, lease)
    runner.broker = fenced
    runner.executor.broker = fenced


class _Follows(Protocol):
    journal_position: tuple[int, str]
    resend_unsent_intents: bool

    def resume_from_snapshot(self) -> None: ...

    def fold_journal(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Takeover:
    """How this process came to lead: the lease taken, rows folded while following, and
    the seconds from the poll that found the lease free to leading."""

    acquired: Acquired
    rows_followed: int
    takeover_seconds: float


class Standby:
    """Follow ``runner``'s journal and poll ``lease`` every ``poll_seconds`` until it is
    ours; ``sleep`` and ``monotonic`` are injected (tests, benchmarks)."""

    def __init__(self, runner: _Follows, lease: LeaderLease, *,
                 poll_seconds: float = DEFAULT_POLL_SECONDS,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.runner, self.lease = runner, lease
        self.poll_seconds, self._sleep, self._monotonic = poll_seconds, sleep, monotonic

    def follow_until_leader(self) -> Takeover:
        """Fold new journal rows until the lease is taken; then fold the rest and wait out
        the deposed leader's window. The lease is renewed from then on."""
        followed = 0
        self.runner.resume_from_snapshot()  # the newest trusted state snapshot, then the tail
        while True:
            followed += self.runner.fold_journal()
            taken = self.lead_now()
            if taken is not None:
                return Takeover(taken.acquired, followed + taken.rows_followed,
                                taken.takeover_seconds)
            self._sleep(self.poll_seconds)

    def lead_now(self) -> Takeover | None:
        """Take the lease if it is free (None while another holds it), renew it from now
        on, wait out the deposed leader's window and fold the journal to its end."""
        started = self._monotonic()
        self.runner.resume_from_snapshot()  # (nothing once the fold has begun)
        acquired = self.lease.try_acquire()
        if acquired is None:
            return None
        self.lease.start_renewing()
        if acquired.previous_holder:  # its unsent intents are never ours to send
            self.runner.resend_unsent_intents = False
        if acquired.settle_wait_seconds > 0:
            self._sleep(acquired.settle_wait_seconds)
        followed = self.runner.fold_journal()  # the old leader's last rows, all committed
        return Takeover(acquired, followed, self._monotonic() - started)
