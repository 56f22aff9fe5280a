"""Per-publisher sequencing of bus messages: gaps and reorders detected, an ordered stream
released in sequence only, a gap past its timeout named (property-tested)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.transport.sequencing import Resequencer, SequenceTracker, SeqVerdict


def test_tracker_in_order_messages_are_next() -> None:
    tracker = SequenceTracker()
    assert [tracker.observe("p", s).verdict for s in (1, 2, 3)] == [SeqVerdict.NEXT] * 3


def test_tracker_skipped_numbers_are_a_gap_naming_them() -> None:
    tracker = SequenceTracker()
    tracker.observe("p", 1)
    seen = tracker.observe("p", 4)
    assert seen.verdict is SeqVerdict.GAP and seen.missing == (2, 3)
    assert tracker.missing("p") == (2, 3)


def test_tracker_missing_number_arriving_late_is_a_reorder_closing_the_gap() -> None:
    tracker = SequenceTracker()
    for s in (1, 3):
        tracker.observe("p", s)
    assert tracker.observe("p", 2).verdict is SeqVerdict.LATE
    assert tracker.missing("p") == ()


def test_tracker_number_seen_before_is_a_duplicate() -> None:
    tracker = SequenceTracker()
    for s in (1, 2):
        tracker.observe("p", s)
    assert tracker.observe("p", 1).verdict is SeqVerdict.DUPLICATE


def test_tracker_first_number_of_a_publisher_is_its_start() -> None:
    tracker = SequenceTracker()  # a restarted consumer, mid-stream
    assert tracker.observe("p", 40).verdict is SeqVerdict.NEXT


def test_tracker_sequence_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        SequenceTracker().observe("p", 0)


@given(st.integers(2, 60), st.integers(0, 2**32))
def test_tracker_any_lost_subset_is_exactly_what_it_reports_missing(n: int, seed: int
                                                                    ) -> None:
    rng = random.Random(seed)
    kept = [1] + [s for s in range(2, n + 1) if rng.random() < 0.7] + [n + 1]
    tracker = SequenceTracker()
    for s in kept:
        tracker.observe("p", s)
    assert set(tracker.missing("p")) == set(range(1, n + 2)) - set(kept)


@given(st.permutations(list(range(1, 16))))
def test_resequencer_any_arrival_order_is_released_in_sequence(order: list[int]) -> None:
    reseq: Resequencer[int] = Resequencer(gap_timeout_ns=10**9)
    released: list[int] = []
    reseq.offer("p", 1, 1, now_ns=0)  # the start
    released.append(1)
    for s in order:
        if s != 1:
            released.extend(reseq.offer("p", s, s, now_ns=0))
    assert released == list(range(1, 16)) and reseq.held("p") == []


def test_resequencer_gap_past_its_timeout_is_overdue_naming_the_missing_number() -> None:
    reseq: Resequencer[str] = Resequencer(gap_timeout_ns=100)
    reseq.offer("p", 1, "a", now_ns=0)
    assert reseq.offer("p", 3, "c", now_ns=10) == []
    assert reseq.overdue(now_ns=50) == []
    assert reseq.overdue(now_ns=200) == [("p", 2)]


def test_resequencer_redelivered_old_number_is_released_at_once() -> None:
    reseq: Resequencer[str] = Resequencer(gap_timeout_ns=100)
    reseq.offer("p", 1, "a", now_ns=0)
    assert reseq.offer("p", 1, "a again", now_ns=1) == ["a again"]


def test_resequencer_nonpositive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="gap timeout"):
        Resequencer(gap_timeout_ns=0)
