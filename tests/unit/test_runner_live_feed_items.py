"""What a live feed adds to the runner path: catch-up bars only warm the history (journaled,
never traded on), a feed hold stops new entries but never exits, a feed alert is journaled
once. Same stores and strategy as ``test_runner_engine`` (EMA cross on the synthetic NIFTY
day: short at bar 22's close, long at bar 30)."""

from __future__ import annotations

from pathlib import Path

from live.events import AlertRaised, BarClosed, GovernanceDecided, OrderIntended, Severity
from live.runner.feed import FeedAlert, FeedHold, WarmBar
from tests.unit.test_runner_engine import FIRST_ENTRY, day_bars, stores_in


def test_warm_bars_are_journaled_into_the_history_but_never_traded_on(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(40)
    runner = stores.runner()
    runner.recover()
    summary = runner.run([WarmBar(b) for b in bars[:FIRST_ENTRY + 1]] + bars[FIRST_ENTRY + 1:])
    assert summary.warm_bars == FIRST_ENTRY + 1 and summary.bars == 40 - FIRST_ENTRY - 1
    assert len(stores.messages(BarClosed)) == 40
    intents = stores.messages(OrderIntended)
    assert intents and min(m.ts_event for m in intents) > bars[FIRST_ENTRY].ts


def test_warm_bars_give_the_live_bar_the_same_signal_as_a_warm_history(tmp_path: Path) -> None:
    """The first live bar after the catch-up decides as if the runner had seen every bar:
    the long entry of bar 30 (with the short of bar 22 never taken) is intended."""
    stores = stores_in(tmp_path)
    bars = day_bars(31)
    runner = stores.runner()
    runner.recover()
    runner.run([WarmBar(b) for b in bars[:30]] + [bars[30]])
    (intent,) = stores.messages(OrderIntended)
    assert intent.ts_event == bars[30].ts and intent.side.value == "BUY"  # type: ignore[attr-defined]


def test_a_warm_bar_after_a_restart_is_not_decided_on_again(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(FIRST_ENTRY + 1)
    stores.run([WarmBar(b) for b in bars])
    stores.run([WarmBar(b) for b in bars])  # a restart: the same catch-up again
    assert stores.messages(OrderIntended) == []
    assert len(stores.messages(BarClosed)) == FIRST_ENTRY + 1


def test_a_feed_hold_denies_entries_in_its_symbol_and_is_journaled_once(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(FIRST_ENTRY + 3)
    hold = FeedHold(bars[0].ts, "NIFTY", True, "stale feed: no tick for 31.0 s")
    stores.run([bars[0], hold, hold, *bars[1:]])
    assert stores.messages(OrderIntended) == []
    denied = [m for m in stores.messages(GovernanceDecided) if not m.allowed]  # type: ignore[attr-defined]
    assert denied and all("feed: stale feed" in m.reason for m in denied)  # type: ignore[attr-defined]
    held = [m for m in stores.messages(AlertRaised) if m.code == "entries_held"]  # type: ignore[attr-defined]
    assert len(held) == 1


def test_a_feed_hold_never_blocks_an_exit(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(31)  # short at 22 (filled at 23), flip long at 30: exit + entry
    hold = FeedHold(bars[25].ts, "NIFTY", True, "stale feed")
    stores.run([*bars[:26], hold, *bars[26:]])
    exits = [m for m in stores.messages(OrderIntended) if m.ts_event == bars[30].ts]
    assert [m.side.value for m in exits] == ["BUY"]  # type: ignore[attr-defined]  # exit only
    assert exits[0].qty == 75  # type: ignore[attr-defined]


def test_a_lifted_hold_lets_entries_through_again(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(FIRST_ENTRY + 1)
    stores.run([bars[0], FeedHold(bars[0].ts, "NIFTY", True, "stale"), *bars[1:5],
                FeedHold(bars[4].ts, "NIFTY", False, "ticks resumed"), *bars[5:]])
    assert len(stores.messages(OrderIntended)) == 1
    codes = [m.code for m in stores.messages(AlertRaised)]  # type: ignore[attr-defined]
    assert codes.count("entries_held") == 1 and codes.count("entries_resumed") == 1


def test_a_feed_alert_is_journaled_with_its_code_and_severity(tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    bars = day_bars(2)
    alert = FeedAlert(bars[0].ts, Severity.ERROR, "bad_tick", "tick refused: price nan")
    stores.run([bars[0], alert, bars[1]])
    (journaled,) = [m for m in stores.messages(AlertRaised) if m.code == "bad_tick"]  # type: ignore[attr-defined]
    assert journaled.severity is Severity.ERROR and "price nan" in journaled.message  # type: ignore[attr-defined]
