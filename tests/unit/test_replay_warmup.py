"""The replay feed's warm-up from stored data (live/runner/warmup.py): the dataset's bars of
the sessions before the first traded bar reach the runner as WarmBars - journaled, never
traded, no look-ahead - so a governed version trades from the first bar of a fresh
journal's first session; a restart folds them back; no stored history holds entries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from live.events import AlertRaised, BarClosed, GovernanceDecided, SignalRaised
from live.runner.feed import FeedHold, WarmBar, replay_bars, replay_frame
from live.runner.warmup import WARMUP_MISSING, replay_warmup, warmed
from tests.synthetic_datasets import nse_index_1m_path
from tests.unit.test_runner_engine import Stores, stores_in
from tests.unit.test_runner_signal_governance import governed_runner

DAY = date(2025, 3, 3)  # a Monday: the two sessions before it are Feb 27 and 28


def _history() -> pd.DataFrame:
    return replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 2, 20), DAY)


def _traded(count: int = 60) -> pd.DataFrame:
    return replay_frame(nse_index_1m_path(), ["NIFTY"], DAY, DAY).head(count)


def test_warmup_takes_the_stored_sessions_strictly_before_the_first_traded_bar() -> None:
    history, traded = _history(), _traded()
    warmup = replay_warmup(history, traded, sessions=3)
    days = sorted(set(warmup.bars["ts"].dt.date))
    assert days == [date(2025, 2, 27), date(2025, 2, 28)]
    assert warmup.bars["ts"].max() < traded["ts"].iloc[0]  # no look-ahead
    expected = history[history["ts"].dt.date.isin(days)].reset_index(drop=True)
    pd.testing.assert_frame_equal(warmup.bars, expected)  # every bar of them, unchanged
    assert warmup.found == {"NIFTY": 2} and warmup.missing == () and warmup.notes("d") == []


def test_warmup_of_a_replay_starting_mid_session_stops_before_its_first_bar() -> None:
    history = _history()
    traded = _traded(200).iloc[120:]
    warmup = replay_warmup(history, traded, sessions=2)
    assert warmup.bars["ts"].max() < traded["ts"].iloc[0]
    assert sorted(set(warmup.bars["ts"].dt.date)) == [date(2025, 2, 28), DAY]
    assert len(warmup.bars) == 375 + 120 and warmup.found == {"NIFTY": 1}


def _run(stores: Stores, items: object) -> None:
    runner = governed_runner(stores)
    runner.recover()
    runner.run(items)  # type: ignore[arg-type]


def test_governed_version_trades_from_the_first_session_of_a_fresh_journal(
        tmp_path: Path) -> None:
    stores = stores_in(tmp_path)
    warmup = replay_warmup(_history(), _traded(30), sessions=2)  # Feb 28: 375 bars
    items = list(warmed(warmup, "nse_index_1m", replay_bars(_traded(30))))
    assert sum(isinstance(i, WarmBar) for i in items) == len(warmup.bars)
    _run(stores, items)
    first = _traded(30)["ts"].iloc[0]
    signals = stores.messages(SignalRaised)
    assert signals and all(s.ts_event >= first for s in signals)  # never on a warm bar
    decided = stores.messages(GovernanceDecided)
    assert decided[0].regime != "unknown" and decided[0].allowed  # type: ignore[attr-defined]
    bars = stores.messages(BarClosed)
    assert len(bars) == 375 + 30  # the warm bars are journaled
    # a restart over the same journal and feed folds them back: nothing journaled twice
    before = len(stores.messages(BarClosed))
    _run(stores, list(warmed(warmup, "nse_index_1m", replay_bars(_traded(30)))))
    assert len(stores.messages(BarClosed)) == before
    assert len(stores.messages(SignalRaised)) == len(signals)


def test_no_stored_history_is_a_note_and_holds_entries_until_a_whole_session(
        tmp_path: Path) -> None:
    first_day = replay_frame(nse_index_1m_path(), ["NIFTY"], None, None)["ts"].dt.date.min()
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], first_day, first_day + pd.Timedelta(
        days=6))
    history = frame.copy()
    warmup = replay_warmup(history, frame, sessions=5)
    assert warmup.bars.empty and warmup.missing == ("NIFTY",)
    items = list(warmed(warmup, "nse_index_1m", replay_bars(frame)))
    holds = [i for i in items if isinstance(i, FeedHold)]
    assert [h.held for h in holds] == [True, False]
    second = sorted(set(frame["ts"].dt.date))[1]
    assert holds[1].ts.date() == second  # lifted at the second traded session
    stores = stores_in(tmp_path)
    cut = next(k for k, i in enumerate(items) if isinstance(i, FeedHold) and not i.held)
    _run(stores, items[:cut + 90])  # the first session, then 90 bars of the second
    (note,) = [m for m in stores.messages(AlertRaised) if m.code == WARMUP_MISSING]  # type: ignore[attr-defined]
    assert "no stored bars of nse_index_1m" in note.message  # type: ignore[attr-defined]
    decided: list[GovernanceDecided] = stores.messages(GovernanceDecided)  # type: ignore[assignment]
    first = [d for d in decided if d.ts_event.date() == first_day]
    assert first and all(not d.allowed and d.reason.startswith("feed: no stored history")
                         for d in first)
    later = [d for d in decided if d.ts_event.date() == second]
    assert later and not any(d.reason.startswith("feed:") for d in later)


def test_live_serve_day_feeds_the_warm_up_first_and_only_traded_bars_move_its_clock(
        tmp_path: Path) -> None:
    from live.service.clock import SimulatedClock
    from stratops.live_ops import LiveRun
    from stratops.serve_ops import ReplayPaperDays
    from stratops.settings import Settings

    traded = _traded(5)
    warmup = replay_warmup(_history(), traded, sessions=2)
    prepared = LiveRun(None, None, [], traded, warmup=warmup, dataset="nse_index_1m")
    start = traded["ts"].iloc[0].to_pydatetime() - pd.Timedelta(hours=1)
    clock = SimulatedClock(start)
    days = ReplayPaperDays(Settings(root=tmp_path), mode="shadow", feed="replay:nse_index_1m",
                           strategies=None, candidates=True, speed=0.0, clock=clock)
    items = list(days._bars(prepared))
    assert all(isinstance(i, WarmBar) for i in items[:375])
    assert [i.ts for i in items[375:]] == list(traded["ts"])  # type: ignore[union-attr]
    assert clock.now() == traded["ts"].iloc[-1] + pd.Timedelta(minutes=1)


def test_live_run_without_from_or_with_catchup_off_has_no_warm_up(tmp_path: Path) -> None:
    from stratops.live_ops import _replay_warmup
    from stratops.settings import Settings

    notes: list[str] = []
    on = Settings(root=tmp_path)
    assert _replay_warmup(on, _history(), _traded(), None, "d", notes) is None
    off = on.model_copy(update={"live": on.live.model_copy(update={
        "market": on.live.market.model_copy(update={"catchup": False})})})
    assert _replay_warmup(off, _history(), _traded(), DAY, "d", notes) is None
    warm = _replay_warmup(on, _history(), _traded(), DAY, "d", notes)
    assert warm is not None and warm.wanted == on.live.max_history_sessions - 1 and not notes
