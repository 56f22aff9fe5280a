"""``stratops live serve``'s service loop in simulated time: the calendar's next session
(holidays, weekends, a Muhurat evening), sleeping to it in bounded slices, holding and paging
while the broker session is not ready, trading through the real runner, the day's
reconciliation, and stopping gracefully."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.events import (
    AlertRaised,
    BarClosed,
    OrderIntended,
    ReconciliationCompleted,
    Severity,
)
from live.service.clock import SimulatedClock, StopSignal
from live.service.pager import CommandPager
from live.service.service import LiveService, ServeConfig, ServeResult
from live.service.sessions import next_session
from tests.serve_days import ReplayDays

IST = ZoneInfo("Asia/Kolkata")


def ist(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


class Pages:
    """A pager that keeps what it was asked to send (and when, in service time)."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Severity, str, str]] = []

    def page(self, severity: Severity, code: str, message: str) -> None:
        self.sent.append((self.clock.now(), severity, code, message))


class TokenAt:
    """A session check that is ready from ``at`` on (a person logged in then)."""

    def __init__(self, clock: SimulatedClock, at: datetime) -> None:
        self.clock, self.at = clock, at

    def ready(self) -> tuple[bool, str]:
        if self.clock.now() >= self.at:
            return True, "access token fresh"
        return False, "access token issued before today's 06:00 IST expiry"


def serve(tmp_path: Path, start: datetime, *, sessions: int, **kwargs: object
          ) -> tuple[ServeResult, ReplayDays, Pages, SimulatedClock]:
    clock = SimulatedClock(start)
    check = kwargs.pop("check", None)
    days = ReplayDays(tmp_path, clock, **kwargs)  # type: ignore[arg-type]
    if check is not None:
        days.check = check(clock)  # type: ignore[operator]
    pages = Pages(clock)
    config = ServeConfig(report_dir=tmp_path / "days", max_sessions=sessions,
                         page_every=timedelta(minutes=5), wake=timedelta(seconds=30))
    service = LiveService(factory=days, clock=clock, stop=StopSignal(), pager=pages,
                          config=config, log=lambda _line: None)
    return service.serve(), days, pages, clock


def alerts(days: ReplayDays, code: str) -> list[AlertRaised]:
    return [m for _, m in days.journal().read()
            if isinstance(m, AlertRaised) and m.code == code]


# --- the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "day", "opens"), [
    (ist(date(2025, 2, 25), 16), date(2025, 2, 27), (9, 15)),  # 26th: Mahashivratri holiday
    (ist(date(2025, 2, 28), 15, 30), date(2025, 3, 3), (9, 15)),  # Friday's close -> Monday
    (ist(date(2025, 3, 3), 11), date(2025, 3, 3), (9, 15)),  # during a session: that one
    (ist(date(2024, 10, 31), 16), date(2024, 11, 1), (18, 0)),  # Diwali's Muhurat evening
])
def test_next_session_follows_the_nse_calendar(now: datetime, day: date,
                                               opens: tuple[int, int]) -> None:
    window = next_session("NSE", now)
    assert window.day == day
    assert (window.open.hour, window.open.minute) == opens
    assert window.open < window.close and window.open <= window.cutoff <= window.close


def test_next_session_muhurat_evening_is_past_the_cutoff_from_its_open() -> None:
    window = next_session("NSE", ist(date(2024, 10, 31), 16))
    assert window.cutoff == window.open


def test_next_session_refuses_a_naive_clock() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_session("NSE", datetime(2025, 3, 3, 10))


# --- sleeping to the right sessions -------------------------------------------------------


def test_service_sleeps_across_a_holiday_and_a_weekend_to_each_preopen(tmp_path: Path) -> None:
    result, days, _, clock = serve(tmp_path, ist(date(2025, 2, 25), 16), sessions=3, bars=20)
    opened = [(when.astimezone(IST), window.day) for when, window in days.opened]
    assert opened == [(ist(date(2025, 2, 27), 9), date(2025, 2, 27)),
                      (ist(date(2025, 2, 28), 9), date(2025, 2, 28)),
                      (ist(date(2025, 3, 3), 9), date(2025, 3, 3))]
    assert [d.status for d in result.days] == ["traded"] * 3
    slept = [s for _, s in clock.sleeps]
    assert max(slept) <= 30  # wakes every 30 s (stop, desk) ...
    assert len(slept) < 2 * (clock.now() - ist(date(2025, 2, 25), 16)).total_seconds() / 30
    bars_per_day = {d: sum(1 for _, m in days.journal().read() if isinstance(m, BarClosed)
                           and m.ts_event.astimezone(IST).date() == d)
                    for d in (date(2025, 2, 26), date(2025, 2, 27), date(2025, 3, 3))}
    assert bars_per_day == {date(2025, 2, 26): 0, date(2025, 2, 27): 20, date(2025, 3, 3): 20}


# --- holding until the broker session is ready --------------------------------------------


def test_service_holds_and_pages_every_five_minutes_until_the_token_then_trades(
        tmp_path: Path) -> None:
    ready_at = ist(date(2025, 3, 3), 9, 37)
    result, days, pages, _ = serve(tmp_path, ist(date(2025, 3, 3), 8), sessions=1,
                                   check=lambda clock: TokenAt(clock, ready_at))
    held = [p for p in pages.sent if p[2] == "broker_session_not_ready"]
    assert [p[0].astimezone(IST).strftime("%H:%M") for p in held] == [
        "09:00", "09:05", "09:10", "09:15", "09:20", "09:25", "09:30", "09:35"]
    assert all(p[1] is Severity.CRITICAL for p in held)
    journaled = alerts(days, "broker_session_not_ready")
    assert len(journaled) == len(held) and journaled[0].severity is Severity.CRITICAL
    messages = [m for _, m in days.journal().read()]
    first_bar = next(i for i, m in enumerate(messages) if isinstance(m, BarClosed))
    last_hold = max(i for i, m in enumerate(messages) if isinstance(m, AlertRaised)
                    and m.code == "broker_session_not_ready")
    assert last_hold < first_bar  # nothing reached the runner while holding
    assert any(isinstance(m, OrderIntended) for m in messages)
    assert result.days[0].status == "traded"


def test_service_never_trades_a_session_whose_token_never_comes(tmp_path: Path) -> None:
    result, days, pages, _ = serve(tmp_path, ist(date(2025, 3, 3), 8), sessions=1,
                                   check=lambda clock: TokenAt(clock, ist(date(2025, 3, 4), 8)))
    assert result.days[0].status == "missed"
    messages = [m for _, m in days.journal().read()]
    assert not any(isinstance(m, BarClosed | OrderIntended) for m in messages)
    assert len(alerts(days, "session_missed")) == 1
    assert [p[2] for p in pages.sent][-1] == "session_missed"
    report = json.loads((tmp_path / "days" / "2025-03-03" / "day.json").read_text())
    assert report["status"] == "missed"


def test_service_treats_a_session_check_that_raises_as_not_ready(tmp_path: Path) -> None:
    class Broken:
        def ready(self) -> tuple[bool, str]:
            raise ConnectionError("profile() timed out")

    result, days, _, _ = serve(tmp_path, ist(date(2025, 3, 3), 15), sessions=1,
                               check=lambda _clock: Broken())
    assert result.days[0].status == "missed"
    assert "profile() timed out" in alerts(days, "broker_session_not_ready")[0].message


# --- the session end ----------------------------------------------------------------------


def test_session_end_confirms_the_flatten_and_writes_the_reconciliation(tmp_path: Path) -> None:
    result, days, _, _ = serve(tmp_path, ist(date(2025, 3, 3), 8), sessions=1)
    outcome = result.days[0]
    assert outcome.status == "traded" and outcome.confirmed
    folder = tmp_path / "days" / "2025-03-03"
    broker = json.loads((folder / "broker.json").read_text())
    assert broker["confirmed"] and broker["journal_positions"] == {"NIFTY": 0}
    assert broker["broker_positions"] in ({}, {"NIFTY": 0})
    backtest = json.loads((folder / "backtest" / "ema_cross" / "2025-03-03.json").read_text())
    assert backtest["breaks"] == [] and len(backtest["actual"]) > 0
    day = json.loads((folder / "day.json").read_text())
    assert day["bars"] == 375 and day["backtest_breaks"] == 0 and day["flat_confirmed"]
    messages = [m for _, m in days.journal().read()]
    last_bar = max(i for i, m in enumerate(messages) if isinstance(m, BarClosed))
    assert any(isinstance(m, ReconciliationCompleted) and m.clean
               for m in messages[last_bar + 1:])
    assert days.journal().verify().ok


# --- stopping -----------------------------------------------------------------------------


def test_stop_mid_session_finishes_the_bar_and_journals_service_stopped(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))
    days = ReplayDays(tmp_path, clock, on_bar=lambda i: stop.set("SIGTERM") if i == 40 else None)
    service = LiveService(factory=days, clock=clock, stop=stop, pager=Pages(clock),
                          config=ServeConfig(report_dir=tmp_path / "days"), log=lambda _: None)
    result = service.serve()
    assert [d.status for d in result.days] == ["stopped"] and result.stop_reason == "SIGTERM"
    messages = [m for _, m in days.journal().read()]
    assert sum(isinstance(m, BarClosed) for m in messages) == 40
    assert isinstance(messages[-1], AlertRaised) and messages[-1].code == "service_stopped"
    assert days.journal().verify().ok


def test_stop_while_holding_exits_at_once_with_service_stopped(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))

    class StopsOnThirdAsk:
        asked = 0

        def ready(self) -> tuple[bool, str]:
            self.asked += 1
            if self.asked == 3:
                stop.set("SIGTERM")
            return False, "stale token"

    days = ReplayDays(tmp_path, clock, check=StopsOnThirdAsk())
    service = LiveService(factory=days, clock=clock, stop=stop, pager=Pages(clock),
                          config=ServeConfig(report_dir=tmp_path / "days"), log=lambda _: None)
    result = service.serve()
    assert [d.status for d in result.days] == ["stopped"]
    assert clock.now() < ist(date(2025, 3, 3), 9, 2)
    assert alerts(days, "service_stopped")


def test_stop_while_sleeping_exits_without_opening_a_day(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 2, 28), 16))
    days = ReplayDays(tmp_path, clock)
    sleeps = 0

    def desk() -> list[str]:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 5:
            stop.set("SIGTERM")
        return []

    service = LiveService(factory=days, clock=clock, stop=stop, pager=Pages(clock),
                          config=ServeConfig(report_dir=tmp_path / "days"), log=lambda _: None,
                          desk_poll=desk)
    result = service.serve()
    assert result.days == [] and days.opened == [] and sleeps == 5


# --- pager --------------------------------------------------------------------------------


def test_command_pager_sends_the_page_as_json_and_reports_a_failing_command(
        tmp_path: Path) -> None:
    out = tmp_path / "page.json"
    reported: list[str] = []
    CommandPager(["sh", "-c", f"cat > {out}"], reported.append).page(
        Severity.CRITICAL, "broker_session_not_ready", "log in")
    assert json.loads(out.read_text()) == {"severity": "critical",
                                           "code": "broker_session_not_ready",
                                           "message": "log in"}
    CommandPager(["sh", "-c", "echo down >&2; exit 3"], reported.append).page(
        Severity.CRITICAL, "x", "y")
    assert reported == ["page command sh exited 3: down"]


# --- the cutoff flatten (2025-03-03: ema_cross is long into the cutoff; its exit is decided
# at the 14:59 bar, bar 344, and fills at the 15:00 bar's open) -----------------------------

CUTOFF_BAR = 344


def test_stop_during_the_cutoff_flatten_waits_for_its_fill(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))
    days = ReplayDays(tmp_path, clock,
                      on_bar=lambda i: stop.set("SIGTERM") if i == CUTOFF_BAR + 1 else None)
    service = LiveService(factory=days, clock=clock, stop=stop, pager=Pages(clock),
                          config=ServeConfig(report_dir=tmp_path / "days"), log=lambda _: None)
    service.serve()
    messages = [m for _, m in days.journal().read()]
    assert sum(isinstance(m, BarClosed) for m in messages) == CUTOFF_BAR + 2  # the 15:00 bar
    stopped = alerts(days, "service_stopped")
    assert len(stopped) == 1 and stopped[0].severity is Severity.INFO  # flat when it stopped
    assert "open positions: none" in stopped[0].message


def test_stop_before_the_cutoff_leaves_the_position_and_says_so(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))
    pages = Pages(clock)
    days = ReplayDays(tmp_path, clock,
                      on_bar=lambda i: stop.set("SIGTERM") if i == CUTOFF_BAR - 10 else None)
    LiveService(factory=days, clock=clock, stop=stop, pager=pages,
                config=ServeConfig(report_dir=tmp_path / "days"), log=lambda _: None).serve()
    stopped = alerts(days, "service_stopped")
    assert stopped[0].severity is Severity.CRITICAL and "ema_cross/NIFTY +75" in stopped[0].message
    assert pages.sent[-1][2] == "service_stopped"


def test_an_unfilled_cutoff_exit_is_paged_as_flatten_unconfirmed(tmp_path: Path) -> None:
    result, days, pages, _ = serve(tmp_path, ist(date(2025, 3, 3), 8), sessions=1,
                                   bars=CUTOFF_BAR + 1)  # the feed ends before the exit fills
    assert result.days[0].status == "traded" and not result.days[0].confirmed
    assert [p[2] for p in pages.sent] == ["flatten_unconfirmed"]
    assert "ema_cross/NIFTY +75" in alerts(days, "flatten_unconfirmed")[0].message
    checks = [m for _, m in days.journal().read() if isinstance(m, ReconciliationCompleted)]
    assert len(checks) == 1 + 1 + 10 * 60 // 30  # at start, at the end, each wake for 10 min
    broker = json.loads((tmp_path / "days" / "2025-03-03" / "broker.json").read_text())
    assert not broker["confirmed"] and broker["open_under_cutoff"] == ["ema_cross/NIFTY +75"]
    assert days.journal().verify().ok


def test_a_day_that_cannot_open_is_paged_and_skipped_to_the_next_session(
        tmp_path: Path) -> None:
    from live.service.ports import OpenedDay
    from live.service.sessions import SessionWindow
    from strategies.errors import StratopsError

    clock = SimulatedClock(ist(date(2025, 2, 27), 16))
    replay = ReplayDays(tmp_path, clock, bars=5)

    class FirstDayRefused:
        def open_day(self, window: SessionWindow) -> OpenedDay:
            if window.day == date(2025, 2, 28):
                raise StratopsError("nothing to trade in live mode: no approved deployment")
            return replay.open_day(window)

        def backtest_reports(self, day, window, folder):  # type: ignore[no-untyped-def]
            return replay.backtest_reports(day, window, folder)

    pages = Pages(clock)
    result = LiveService(factory=FirstDayRefused(), clock=clock, stop=StopSignal(), pager=pages,
                         config=ServeConfig(report_dir=tmp_path / "days", max_sessions=2),
                         log=lambda _: None).serve()
    assert [(d.window.day, d.status) for d in result.days] == [
        (date(2025, 2, 28), "refused"), (date(2025, 3, 3), "traded")]
    assert pages.sent[0][1:3] == (Severity.CRITICAL, "day_refused")
    assert "no approved deployment" in pages.sent[0][3]


def test_a_runner_that_halts_at_recovery_is_paged_and_never_trades(tmp_path: Path) -> None:
    from live.broker import BrokerUnavailableError

    class NoPositions:
        """The exchange, except that its position report cannot be fetched."""

        def __init__(self, exchange: object) -> None:
            self.exchange = exchange

        def __getattr__(self, name: str) -> object:
            return getattr(self.exchange, name)

        def positions(self) -> list[object]:
            raise BrokerUnavailableError("positions: HTTP 503")

    result, days, pages, _ = serve(tmp_path, ist(date(2025, 3, 3), 8), sessions=1,
                                   broker=NoPositions)
    assert result.days[0].status == "halted" and "HTTP 503" in result.days[0].detail
    assert pages.sent[0][2] == "runner_halted"
    assert not any(isinstance(m, BarClosed) for _, m in days.journal().read())
    day = json.loads((tmp_path / "days" / "2025-03-03" / "day.json").read_text())
    assert day["status"] == "halted" and day["bars"] == 0


def test_a_stop_after_the_feed_ended_still_closes_and_reports_the_day(tmp_path: Path) -> None:
    stop = StopSignal()
    clock = SimulatedClock(ist(date(2025, 3, 3), 8))
    days = ReplayDays(tmp_path, clock, bars=30, on_end=lambda: stop.set("SIGTERM"))
    result = LiveService(factory=days, clock=clock, stop=stop, pager=Pages(clock),
                         config=ServeConfig(report_dir=tmp_path / "days"),
                         log=lambda _: None).serve()
    assert [d.status for d in result.days] == ["traded"] and result.stop_reason == "SIGTERM"
    assert (tmp_path / "days" / "2025-03-03" / "broker.json").exists()
    assert not alerts(days, "service_stopped") and days.journal().verify().ok


def test_signed_checkpoints_seal_each_day_and_let_the_next_one_open(tmp_path: Path) -> None:
    from live.checkpoint_writer import Checkpointer
    from live.checkpoints import read_checkpoints, verify_against
    from tests.chain_tamper import identities

    people = identities(tmp_path / "people", {"runner": ["runner"]})
    path = tmp_path / "checkpoints" / "journal-live.jsonl"

    def checkpointer(journal: object) -> Checkpointer:
        made = Checkpointer(path, "journal-live", people.signer("runner"), people.directory,
                            role="runner", every=100)
        made.resume(journal)  # type: ignore[arg-type]  # refuses a journal appended after a seal
        return made

    result, days, _, _ = serve(tmp_path / "stores", ist(date(2025, 2, 28), 8), sessions=2,
                               bars=30, checkpoints=checkpointer,
                               check=lambda clock: TokenAt(clock, ist(date(2025, 2, 28), 9, 20)))
    assert [d.status for d in result.days] == ["traded", "traded"]
    journal = days.journal()
    found = read_checkpoints(path)
    verdict = verify_against(journal, found, people.directory, chain="journal-live",
                             role="runner")
    assert verdict.finding == "ok" and found[-1].sealed
    assert found[-1].seq == journal.head()[0]
    assert len(alerts(days, "broker_session_not_ready")) == 4  # 09:00 .. 09:15, journaled
