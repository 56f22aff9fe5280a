"""``stratops live serve --feed kite --broker kite``: the Kite day factory holds (journaled,
paged) until the access token is fresh and Kite accepts it, and only then opens the day."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kiteconnect.exceptions import TokenException

from live.events import AlertRaised, Severity
from live.service.clock import SimulatedClock, StopSignal
from live.service.sessions import SessionWindow
from stratops.errors import LiveSetupError
from stratops.live_ops import open_mode_journal
from stratops.serve_ops import KiteDays, KiteSessionCheck, day_factory
from tests.unit.test_kite_selection import FRESH, StubKite, settings_in

IST = ZoneInfo("Asia/Kolkata")
MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=IST)
WINDOW = SessionWindow("NSE", MORNING.date(), MORNING.replace(hour=9, minute=15),
                       MORNING.replace(hour=15, minute=30), MORNING.replace(hour=15))


@pytest.fixture(autouse=True)
def _no_kite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*FRESH, "KITE_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    StubKite.built, StubKite.profile_error, StubKite.book = [], None, []


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in FRESH.items():
        monkeypatch.setenv(var, value)


def test_a_fresh_token_kite_accepts_is_ready(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(monkeypatch)
    ready, why = KiteSessionCheck(settings_in(tmp_path), lambda: MORNING,
                                  connect=StubKite).ready()
    assert ready and "AB1234" in why and "tok-fresh-value" not in why


def test_a_stale_token_is_not_ready_and_kite_is_not_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(monkeypatch)
    ready, why = KiteSessionCheck(settings_in(tmp_path), lambda: MORNING + timedelta(days=1),
                                  connect=StubKite).ready()
    assert not ready and "expired" in why
    assert StubKite.built == []


def test_a_token_kite_rejects_is_not_ready(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(monkeypatch)
    StubKite.profile_error = TokenException("Incorrect `api_key` or `access_token`.")
    ready, why = KiteSessionCheck(settings_in(tmp_path), lambda: MORNING,
                                  connect=StubKite).ready()
    assert not ready and "rejected the access token" in why


class Check:
    """Not ready ``stale`` times, then ready."""

    def __init__(self, stale: int) -> None:
        self.stale, self.asked = stale, 0

    def ready(self) -> tuple[bool, str]:
        self.asked += 1
        return (True, "fresh") if self.asked > self.stale else (False, "token expired")


class Pages:
    def __init__(self) -> None:
        self.sent: list[tuple[Severity, str, str]] = []

    def page(self, severity: Severity, code: str, message: str) -> None:
        self.sent.append((severity, code, message))


def _days(tmp_path: Path, check: Check, prepared: list[Any], stop: StopSignal | None = None
          ) -> tuple[KiteDays, Pages]:
    def prepare(*args: Any, **kwargs: Any) -> Any:
        prepared.append((args, kwargs))
        runner = SimpleNamespace(journal=SimpleNamespace(engine=SimpleNamespace(
            dispose=lambda: None)))
        return SimpleNamespace(runner=runner, feed=["bar"], notes=["n"], refused=[])

    pages = Pages()
    days = KiteDays(settings_in(tmp_path), mode="canary", strategies=None, candidates=False,
                    clock=SimulatedClock(MORNING), stop=stop or StopSignal(), pager=pages,
                    page_every=timedelta(minutes=5), poll=timedelta(minutes=1), check=check,
                    prepare=prepare)
    return days, pages


def test_the_day_opens_only_once_the_session_is_ready_paging_while_it_holds(
        tmp_path: Path) -> None:
    prepared: list[Any] = []
    days, pages = _days(tmp_path, Check(stale=12), prepared)
    day = days.open_day(WINDOW)
    assert len(prepared) == 1 and prepared[0][1] == {"broker": "kite", "observability": None}
    assert prepared[0][0][:2] == ("canary", "kite")
    assert list(day.feed()) == ["bar"]
    assert [code for _, code, _ in pages.sent] == ["broker_session_not_ready"] * 3  # 0, 5, 10'
    assert all(s is Severity.CRITICAL and "stratops kite login" in m for s, _, m in pages.sent)
    journal = open_mode_journal(days.settings, "canary")
    alerts = [m for _, m in journal.read() if isinstance(m, AlertRaised)]
    journal.engine.dispose()
    assert [a.code for a in alerts] == ["broker_session_not_ready"] * 3


def test_a_session_that_never_becomes_ready_is_not_traded(tmp_path: Path) -> None:
    prepared: list[Any] = []
    days, pages = _days(tmp_path, Check(stale=10_000), prepared)
    with pytest.raises(LiveSetupError, match="never became ready: token expired"):
        days.open_day(WINDOW)
    assert prepared == [] and len(pages.sent) > 1


def test_a_stop_while_holding_opens_nothing(tmp_path: Path) -> None:
    prepared: list[Any] = []
    stop = StopSignal()
    stop.set("SIGTERM received")
    days, _ = _days(tmp_path, Check(stale=1), prepared, stop)
    with pytest.raises(LiveSetupError, match="stop requested"):
        days.open_day(WINDOW)
    assert prepared == []


def test_one_kite_session_per_process(tmp_path: Path) -> None:
    prepared: list[Any] = []
    days, _ = _days(tmp_path, Check(stale=0), prepared)
    days.open_day(WINDOW)
    with pytest.raises(LiveSetupError, match="one Kite session per process"):
        days.open_day(WINDOW)
    assert len(prepared) == 1


def test_the_kite_factory_runs_on_the_wall_clock_only(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="wall clock"):
        day_factory(settings_in(tmp_path), mode="canary", feed="kite", broker="kite",
                    strategies=None, candidates=False, speed=0, clock=SimulatedClock(MORNING),
                    stop=StopSignal(), pager=Pages())


def test_kite_feed_with_the_paper_broker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="kite with the kite broker"):
        day_factory(settings_in(tmp_path), mode="canary", feed="kite", broker="paper",
                    strategies=None, candidates=False, speed=0, clock=SimulatedClock(MORNING),
                    stop=StopSignal(), pager=Pages())
