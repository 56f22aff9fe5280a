"""Per-publisher sequence numbers on the bus: every publisher numbers its messages 1, 2, ...
(a restarted publisher is a new publisher id); a consumer takes the first number it sees of
a publisher as where that publisher stands (a restarted consumer resumes mid-stream, at the
first message its predecessor did not ack), then detects gaps and reorders
(:class:`SequenceTracker`, alerted) and, on an ordered stream (commands, market data),
releases messages only in sequence (:class:`Resequencer`): a gap holds everything after it
until the missing message arrives (redelivered); a gap open past the timeout is named
(:meth:`Resequencer.overdue`) for the service to alert on, and still holds (fail closed:
nothing after it is acted on by guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class SeqVerdict(StrEnum):
    NEXT = "next"  # the expected one
    GAP = "gap"  # later than expected: the ones between are missing
    LATE = "late"  # a missing one arriving after later ones (a reorder)
    DUPLICATE = "duplicate"  # seen before (a redelivery)


@dataclass(frozen=True, slots=True)
class SeqObservation:
    verdict: SeqVerdict
    missing: tuple[int, ...] = ()  # the sequence numbers a GAP skipped


@dataclass
class _Publisher:
    expected: int = 1
    missing: set[int] = field(default_factory=set)


class SequenceTracker:
    """Gap and reorder detection over the (publisher, sequence) pairs a consumer sees."""

    def __init__(self) -> None:
        self._publishers: dict[str, _Publisher] = {}

    def observe(self, publisher: str, seq: int) -> SeqObservation:
        """Classify ``seq`` from ``publisher`` (numbered from 1) and remember it."""
        if seq < 1:
            raise ValueError(f"sequence {seq} from {publisher!r}: numbered from 1")
        p = self._publishers.setdefault(publisher, _Publisher(expected=seq))
        if seq == p.expected:
            p.expected += 1
            return SeqObservation(SeqVerdict.NEXT)
        if seq > p.expected:
            skipped = tuple(range(p.expected, seq))
            p.missing.update(skipped)
            p.expected = seq + 1
            return SeqObservation(SeqVerdict.GAP, skipped)
        if seq in p.missing:
            p.missing.discard(seq)
            return SeqObservation(SeqVerdict.LATE)
        return SeqObservation(SeqVerdict.DUPLICATE)

    def missing(self, publisher: str) -> tuple[int, ...]:
        """The sequence numbers of ``publisher`` still missing, ascending."""
        p = self._publishers.get(publisher)
        return tuple(sorted(p.missing)) if p is not None else ()


@dataclass
class _Queue(Generic[T]):
    expected: int = 1
    held: dict[int, T] = field(default_factory=dict)
    gap_since_ns: int | None = None


class Resequencer(Generic[T]):
    """Releases each publisher's items in sequence order: an item after a gap is held until
    the gap fills; :meth:`overdue` names the gaps older than ``gap_timeout_ns``. An item at
    or before the expected one (a redelivery) is released at once (handlers are
    idempotent)."""

    def __init__(self, gap_timeout_ns: int) -> None:
        if gap_timeout_ns <= 0:
            raise ValueError(f"gap timeout {gap_timeout_ns} ns: must be positive")
        self.gap_timeout_ns = gap_timeout_ns
        self._queues: dict[str, _Queue[T]] = {}

    def offer(self, publisher: str, seq: int, item: T, now_ns: int) -> list[T]:
        """The items now released in order (empty: ``item`` is held behind a gap)."""
        if seq < 1:
            raise ValueError(f"sequence {seq} from {publisher!r}: numbered from 1")
        q = self._queues.setdefault(publisher, _Queue(expected=seq))
        if seq < q.expected:
            return [item]
        q.held[seq] = item
        released: list[T] = []
        while q.expected in q.held:
            released.append(q.held.pop(q.expected))
            q.expected += 1
        q.gap_since_ns = (q.gap_since_ns if released == [] and q.gap_since_ns is not None
                          else now_ns) if q.held else None
        return released

    def held(self, publisher: str) -> list[T]:
        """The items of ``publisher`` held behind its gap, in sequence order."""
        q = self._queues.get(publisher)
        return [q.held[s] for s in sorted(q.held)] if q is not None else []

    def overdue(self, now_ns: int) -> list[tuple[str, int]]:
        """(publisher, first missing sequence) of every gap open longer than the timeout."""
        return [(name, q.expected) for name, q in self._queues.items()
                if q.gap_since_ns is not None and now_ns - q.gap_since_ns > self.gap_timeout_ns]
