"""The paper twin beside live (live/paper_twin.py, stratops.twin_ops.TwinBeside): a paper
runner of the same version on its own thread, journal and exchange, fed each bar right after
the live runner handled it - current during the session, fail-isolated from live, reconciled
from its own journal at the close and caught up from the live journal after a restart."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from live.events import AlertRaised, BarClosed, OrderFilled, OrderSubmitted
from live.paper_twin import TWIN_FAILED, PaperTwin, beside, reader_of
from live.runner.deployments import build
from live.runner.feed import FeedBar
from live.state import trading_state_hash
from strategies.version_config import VersionConfig
from stratops.live_ops import open_mode_journal
from stratops.settings import Settings
from stratops.twin_ops import TwinBeside, open_twin_journal, open_twin_runner, twin_runner
from tests.unit.test_runner_engine import day_bars, strategy_config

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 3)


def _settings(root: Path) -> Settings:
    for name in ("policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, root / name)
    return Settings(root=root, live={"paper_twin": True, "paper_twin_finish_seconds": 30})


def _deployed() -> list[Any]:
    return [build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)]


def _live(root: Path) -> Any:
    """The live runner (policy, risk engine) on a paper book of its own, recovered."""
    book = Settings(root=root, live={"paper_twin_exchange_url":
                                     "sqlite:///.stratops/live_exchange.db"})
    runner = twin_runner(book, "live", _deployed(), open_mode_journal(book, "live"))
    runner.recover()
    return runner


def _count(journal: Any, kind: type) -> int:
    return sum(1 for _, m in journal.read() if isinstance(m, kind))


class Breaks:
    """The twin's market callable, raising at its ``at``-th bar."""

    def __init__(self, market: Any, at: int) -> None:
        self.market, self.at, self.calls = market, at, 0

    def __call__(self, bar: FeedBar) -> object:
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError(f"twin exchange broke at bar {self.at}")
        return self.market(bar)


def _breaking_twin(settings: Settings, live: Any, at: int) -> PaperTwin:
    def opened() -> Any:
        runner = open_twin_runner(settings, "live", list(live.deployed))
        runner.market = Breaks(runner.market, at)
        return runner

    return PaperTwin(opened, open_live=reader_of(live.journal), live_seq=live.journal.head()[0])


def test_twin_journal_has_the_bars_and_fills_during_the_session(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = _live(tmp_path)
    twin = TwinBeside(settings, "live", print)
    found: dict[str, int] = {}

    def feed() -> Iterator[FeedBar]:
        for i, bar in enumerate(day_bars(120)):
            if i == 90:  # bars 0..89 handled by live: the twin has them, mid-session
                assert twin.current is not None and twin.current.wait_current(30)
                journal = open_twin_journal(settings, "live")
                found.update(bars=_count(journal, BarClosed), fills=_count(journal, OrderFilled))
                journal.engine.dispose()
            yield bar

    live.run(twin.beside(live, feed()))
    assert found["bars"] == 90 and found["fills"] >= 2
    assert found["fills"] <= _count(live.journal, OrderFilled)  # live went on past bar 90
    assert twin.current is not None and not twin.current.running
    assert open_twin_journal(settings, "live").verify().ok  # one writer: the twin's thread


def test_twin_that_raises_leaves_live_trading_as_without_a_twin(tmp_path: Path) -> None:
    (tmp_path / "alone").mkdir()
    _settings(tmp_path / "alone")
    alone = _live(tmp_path / "alone")  # twin off
    alone.run(day_bars(120))
    settings = _settings(tmp_path)
    live = _live(tmp_path)
    twin = _breaking_twin(settings, live, at=40)
    summary = live.run(beside(day_bars(120), twin, live))
    assert summary.bars == 120 and twin.failure is not None and "broke at bar 40" in twin.failure
    assert trading_state_hash(live.state) == trading_state_hash(alone.state)
    (alert,) = [m for _, m in live.journal.read()
                if isinstance(m, AlertRaised) and m.code == TWIN_FAILED]
    assert "disabled for this session" in alert.message and "broke at bar 40" in alert.message


def test_twin_that_falls_behind_is_disabled_and_live_goes_on(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = _live(tmp_path)

    def slow() -> Any:
        runner = open_twin_runner(settings, "live", list(live.deployed))
        market = runner.market

        def slowly(bar: FeedBar) -> object:
            time.sleep(0.2)
            return market(bar)

        runner.market = slowly
        return runner

    twin = PaperTwin(slow, max_lag_bars=5)
    summary = live.run(beside(day_bars(40), twin, live))
    assert summary.bars == 40 and twin.failure is not None and "bars behind" in twin.failure
    assert not twin.running
    assert any(m.code == TWIN_FAILED for _, m in live.journal.read()
               if isinstance(m, AlertRaised))


def test_day_report_reads_the_twin_journal_built_beside_live(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = _live(tmp_path)
    lines: list[str] = []
    twin = TwinBeside(settings, "live", lines.append)
    live.run(twin.beside(live, day_bars(120)))
    twin_journal = open_twin_journal(settings, "live")
    head = twin_journal.head()[0]
    found = twin(live, DAY, tmp_path / "twin")
    assert found is not None and found["rebuilt_bars"] == 0 and found["bars"] == 120
    assert found["fills"] == _count(twin_journal, OrderFilled) > 0
    assert twin_journal.head()[0] == head  # read, not traded again
    assert (tmp_path / "twin" / "twin.json").exists() and "0 traded on it" in lines[-1]


def test_day_report_rebuilds_the_bars_a_failed_twin_lacks(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    live = _live(tmp_path)
    live.run(beside(day_bars(120), _breaking_twin(settings, live, at=40), live))
    found = TwinBeside(settings, "live", print)(live, DAY, tmp_path / "twin")
    assert found is not None and found["bars"] == 120 and 0 < found["rebuilt_bars"] <= 81
    bars = [m.ts_event for _, m in open_twin_journal(settings, "live").read()
            if isinstance(m, BarClosed)]
    assert len(bars) == len(set(bars)) == 120


def test_restarted_twin_catches_up_from_the_live_journal_without_duplicates(
        tmp_path: Path) -> None:
    """The first process's twin broke at bar 60; live went on to bar 100 and the process
    ended. The restarted process's feed resumes at live's last bar (as a live feed does):
    its twin first trades live's journaled bars 59..99, then the feed's."""
    settings = _settings(tmp_path)
    bars = day_bars(150)
    live = _live(tmp_path)
    live.run(beside(bars[:100], _breaking_twin(settings, live, at=60), live))
    live.journal.engine.dispose()
    again = _live(tmp_path)  # the restart
    twin = TwinBeside(settings, "live", print)
    again.run(twin.beside(again, bars[99:]))
    assert twin.current is not None and twin.current.failure is None
    # bars 58..99: the bar it broke on was never committed (a bar's events ride its end's
    # commit), nor was the one before it re-processed; live's last one is re-processed
    assert twin.current.caught_up == 42
    journal = open_twin_journal(settings, "live")
    closed = [m.ts_event for _, m in journal.read() if isinstance(m, BarClosed)]
    assert closed == [b.ts for b in bars]  # each bar once, in order
    sent = Counter(m.client_key for _, m in journal.read() if isinstance(m, OrderSubmitted))
    assert sent and max(sent.values()) == 1  # no twin order sent twice


def test_live_run_session_trades_the_twin_beside_and_reports_its_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stratops live run``'s glue (stratops/cli_live.py) with ``live.paper_twin`` on."""
    import io

    from rich.console import Console

    from stratops.cli_live import _beside, _paper_twin, _twin_beside

    settings = _settings(tmp_path)
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("STRATOPS_LIVE__PAPER_TWIN", "true")
    out = Console(file=io.StringIO(), width=200)
    twin = _twin_beside("live", out)
    live = _live(tmp_path)
    before = live.journal.head()[0]
    live.run(_beside(twin, live, day_bars(60)))
    _paper_twin("live", live, before, twin, out)
    folder = settings.path(settings.live.serve.report_dir) / "live" / DAY.isoformat() / "twin"
    assert (folder / "twin.json").exists()
    assert "60 bars (0 traded on it at the close)" in out.file.getvalue()  # type: ignore[attr-defined]
    assert live.journal.verify().ok  # sealed again after the day's reconciliation
