"""The service loop: for each session on the venue's calendar, sleep until its pre-open,
open the day (runner, feed, broker session check), hold (journaled and paged) until the
broker session is ready, recover and trade the session through the runner until its close,
confirm the cutoff flatten against the broker, write the day's reconciliation, sleep to the
next session. A stop (SIGTERM, SIGINT) ends it gracefully: the bar in hand is finished, a
flatten under way after the cutoff is given ``flatten_wait`` to complete, ``service_stopped``
is journaled and the journal sealed; while holding or sleeping it exits at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from live.events import AlertRaised, Severity
from live.journal import Journal
from live.runner.core import RunSummary
from live.runner.deployments import cost_rates
from live.runner.feed import FeedItem, WarmBar
from live.runner.preload import preloaded
from live.runner.recovery import RunnerHalted
from live.runner.runner import Runner
from live.service.clock import ServiceClock, StopSignal
from live.service.day_close import broker_report, close_day, open_positions, write_json
from live.service.hold import Held, hold_until_ready
from live.service.ports import DayFactory, OpenedDay, Pager
from live.service.sessions import SessionWindow, next_session
from live.tca.attribution import AttributionSink
from live.tca.report import TcaSink, write_tca_day
from strategies.errors import StratopsError

ONE_BAR = timedelta(minutes=1)
ComplianceSink = Callable[[Journal, date, Path], None]  # journal, day, folder


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """The service's timings (settings ``live.serve.*``) and where day reports go."""

    report_dir: Path
    venue: str = "NSE"
    preopen: timedelta = timedelta(minutes=15)  # the day is opened this long before the open
    page_every: timedelta = timedelta(minutes=5)  # while holding
    wake: timedelta = timedelta(seconds=30)  # longest sleep between polls (stop, desk, token)
    flatten_wait: timedelta = timedelta(minutes=10)  # for the cutoff flatten to be confirmed
    max_sessions: int | None = None  # stop after this many sessions (a demo, a test)

    def __post_init__(self) -> None:
        for name in ("preopen", "page_every", "wake", "flatten_wait"):
            value = getattr(self, name)
            if value < timedelta(0) or (name in ("page_every", "wake") and not value):
                raise ValueError(f"live.serve {name}={value}: must be positive")
        if self.max_sessions is not None and self.max_sessions < 1:
            raise ValueError(f"max_sessions={self.max_sessions}: at least 1 (or none)")


@dataclass
class DayOutcome:
    """What one session came to: ``traded``, ``missed`` (the broker session never became
    ready), ``refused`` (the day could not open), ``halted`` (recovery was not clean) or
    ``stopped``; the report folder when one was written."""

    window: SessionWindow
    status: str
    detail: str = ""
    summary: RunSummary | None = None
    report: Path | None = None
    confirmed: bool = False


@dataclass
class ServeResult:
    days: list[DayOutcome] = field(default_factory=list)
    stop_reason: str = ""


#: The paper twin's day at a traded session's close: ``(live runner, day, folder) ->`` what
#: day.json records of it (None: no twin run); it must not raise.
TwinSink = Callable[[Runner, date, Path], "dict[str, Any] | None"]
#: The paper twin beside a session: ``(live runner, its feed) ->`` the feed the runner trades,
#: each item handed to the twin once live has handled it (:func:`live.paper_twin.beside`).
TwinFeed = Callable[[Runner, Iterable[FeedItem]], Iterable[FeedItem]]


class LiveService:
    """The long-lived service over an injected clock, stop signal, pager and day factory."""

    def __init__(self, *, factory: DayFactory, clock: ServiceClock, stop: StopSignal,
                 pager: Pager, config: ServeConfig, log: Callable[[str], None],
                 desk_poll: Callable[[], list[str]] | None = None,
                 tca_sink: TcaSink | None = None,
                 attribution_sink: AttributionSink | None = None,
                 compliance_sink: ComplianceSink | None = None,
                 twin_sink: TwinSink | None = None,
                 twin_feed: TwinFeed | None = None) -> None:
        self.factory, self.clock, self.stop, self.pager = factory, clock, stop, pager
        self.config, self.log, self.desk_poll = config, log, desk_poll
        self.tca_sink = tca_sink  # e.g. the MLflow log of the day's TCA (stratops.tca_ops)
        self.attribution_sink = attribution_sink  # its attribution's (stratops.attribution_ops)
        # the signed daily compliance report (stratops.compliance_ops.day_close_report)
        self.compliance_sink = compliance_sink
        self.twin_sink = twin_sink  # the paper twin's day (stratops.twin_ops; live.paper_twin)
        self.twin_feed = twin_feed  # the paper twin beside each session (live.paper_twin)

    def serve(self) -> ServeResult:
        """Work session after session until stopped (or ``max_sessions`` are done)."""
        result = ServeResult()
        while not self.stop.is_set():
            window = next_session(self.config.venue, self.clock.now())
            if not self.sleep_until(window.open - self.config.preopen, f"next session {window}"):
                break
            result.days.append(self.work(window))
            if self.config.max_sessions is not None and \
                    len(result.days) >= self.config.max_sessions:
                self.stop.set(f"{len(result.days)} session(s) done (max_sessions)")
                break
            if not self.stop.is_set():  # never the same session twice
                self.sleep_until(window.close, f"the close of {window}")
        result.stop_reason = self.stop.reason
        self.log(f"service stopped: {self.stop.reason}")
        return result

    def sleep_until(self, when: datetime, what: str) -> bool:
        """Sleep in slices of at most ``wake`` until ``when``; at each wake poll the desk.
        False when stopped first."""
        if self.clock.now() < when:
            self.log(f"sleeping until {when.isoformat()} ({what})")
        while (left := when - self.clock.now()) > timedelta(0):
            if self.stop.is_set():
                return False
            self.clock.sleep(min(left, self.config.wake).total_seconds())
            if self.desk_poll is not None and not self.stop.is_set():
                for note in self.desk_poll():
                    self.log(note)
        return not self.stop.is_set()

    def work(self, window: SessionWindow) -> DayOutcome:
        """One session, from opening the day to its report."""
        self.log(f"session {window}: opening the day")
        try:
            day = self.factory.open_day(window)
        except StratopsError as exc:
            self.pager.page(Severity.CRITICAL, "day_refused",
                            f"{window.day}: the service cannot open the day: {exc}")
            return DayOutcome(window, "refused", str(exc))
        try:
            return self._hold_and_trade(day, window)
        finally:
            day.close()  # the day's connections (journal, broker store)

    def _hold_and_trade(self, day: OpenedDay, window: SessionWindow) -> DayOutcome:
        for note in day.notes:
            self.log(note)
        held = hold_until_ready(day.check, self.clock, self.stop, until=window.close,
                                page_every=self.config.page_every, poll=self.config.wake,
                                not_ready=lambda why, n: self._not_ready(day, window, why, n))
        if held.held is Held.STOPPED:
            return self._end(day, window, "stopped", "stop requested while holding")
        if held.held is Held.SESSION_OVER:
            message = (f"{window}: the broker session never became ready ({held.why}); the "
                       f"session was not traded ({held.pages} pages)")
            self._journal(day, Severity.CRITICAL, "session_missed", message)
            self.pager.page(Severity.CRITICAL, "session_missed", message)
            return self._report(day, window, self._end(day, window, "missed", message))
        self.log(f"broker session ready: {held.why}")
        return self._trade(day, window)

    def _trade(self, day: OpenedDay, window: SessionWindow) -> DayOutcome:
        runner = day.runner
        try:
            runner.recover()
        except RunnerHalted as exc:
            self.pager.page(Severity.CRITICAL, "runner_halted", f"{window.day}: {exc}")
            outcome = self._end(day, window, "halted", str(exc))
            return self._report(day, window, outcome)
        cut_short: list[bool] = []
        items: Iterable[FeedItem] = self._session_items(day, window, day.feed(), cut_short)
        if self.twin_feed is not None:  # after live has handled each item: on its thread
            items = self.twin_feed(runner, items)
        with preloaded(runner):  # calendars, kernels, codecs: not by the first order
            summary = runner.run(items)
        if cut_short:  # service_stopped journaled before run() sealed
            return DayOutcome(window, "stopped", self.stop.reason, summary)
        outcome = DayOutcome(window, "traded", summary=summary)
        return self._report(day, window, outcome, close=True)

    def _session_items(self, day: OpenedDay, window: SessionWindow,
                       feed: Iterable[FeedItem], cut_short: list[bool]) -> Iterator[FeedItem]:
        """The feed until the session's close, or until a stop: the bar in hand is
        finished (a stop is seen only between items); after the cutoff, a flatten under
        way gets ``flatten_wait`` to fill; then ``service_stopped`` is journaled (the runner
        seals after it) and ``cut_short`` says so (a stop after the feed's end leaves the
        session complete: its day is closed and reported)."""
        stopped_at: datetime | None = None
        for item in feed:
            ts = item.bar.ts if isinstance(item, WarmBar) else item.ts
            if ts >= window.close:
                return
            if self.stop.is_set():
                stopped_at = stopped_at or self.clock.now()
                if not self._flatten_under_way(day, window, ts, stopped_at):
                    self._journal_stopped(day, runner_alert=True)
                    cut_short.append(True)
                    return
            yield item

    def _flatten_under_way(self, day: OpenedDay, window: SessionWindow, market: datetime,
                           stopped_at: datetime) -> bool:
        past_cutoff = market >= window.cutoff - ONE_BAR
        still_open = open_positions(day.runner, cutoff_only=True)
        waited = self.clock.now() - stopped_at
        if past_cutoff and still_open and waited < self.config.flatten_wait:
            if not waited:
                self.log(f"stop requested during the cutoff flatten of {still_open}: "
                         f"waiting up to {self.config.flatten_wait} for it")
            return True
        return False

    def _not_ready(self, day: OpenedDay, window: SessionWindow, why: str, n: int) -> None:
        message = (f"{window.day}: holding, not trading: the broker session is not ready "
                   f"({why}); log in (stratops kite login) - page {n}, again every "
                   f"{self.config.page_every}")
        self._journal(day, Severity.CRITICAL, "broker_session_not_ready", message)
        self.pager.page(Severity.CRITICAL, "broker_session_not_ready", message)
        self.log(message)

    def _journal(self, day: OpenedDay, severity: Severity, code: str, message: str) -> None:
        """An alert straight into the day's journal (the runner has not folded it yet)."""
        day.runner.journal.append(AlertRaised(trace_id="", ts_event=self.clock.now(),
                                              severity=severity, code=code, message=message))

    def _journal_stopped(self, day: OpenedDay, *, runner_alert: bool) -> None:
        still_open = open_positions(day.runner, cutoff_only=False)
        severity = Severity.CRITICAL if still_open else Severity.INFO
        message = (f"service stopped ({self.stop.reason}); open positions: "
                   f"{', '.join(still_open) or 'none'} (protective orders keep resting at the "
                   "broker; a restart resumes from the journal)")
        if runner_alert:  # the runner is running: through its bus, folded like any alert
            day.runner.alert(self.clock.now(), severity, "service_stopped", message)
        else:
            self._journal(day, severity, "service_stopped", message)
        if still_open:
            self.pager.page(severity, "service_stopped", message)
        self.log(message)

    def _end(self, day: OpenedDay, window: SessionWindow, status: str,
             detail: str) -> DayOutcome:
        """A day that did not trade: say why if stopped, seal the journal."""
        if status == "stopped":
            self._journal_stopped(day, runner_alert=False)
        day.runner.journal.seal()
        return DayOutcome(window, status, detail)

    def _confirm_flat(self, day: OpenedDay, window: SessionWindow) -> tuple[bool, dict[
            str, object]]:
        """Reconcile with the broker until the cutoff positions are flat and the books agree,
        or ``flatten_wait`` passes (paged); the last verdict as the report's data."""
        deadline = self.clock.now() + self.config.flatten_wait
        while True:
            close = close_day(day.runner, self.clock.now())
            if close.confirmed or self.clock.now() >= deadline or self.stop.is_set():
                break
            self.clock.sleep(min(self.config.wake, deadline - self.clock.now()).total_seconds())
        if not close.confirmed:
            message = (f"{window.day}: the session end is not confirmed: open under the cutoff "
                       f"{list(close.open_under_cutoff)}, broker issues {list(close.issues)}")
            self._journal(day, Severity.CRITICAL, "flatten_unconfirmed", message)
            self.pager.page(Severity.CRITICAL, "flatten_unconfirmed", message)
        return close.confirmed, broker_report(close)

    def _report(self, day: OpenedDay, window: SessionWindow, outcome: DayOutcome, *,
                close: bool = False) -> DayOutcome:
        """The day's report folder: ``broker.json`` (after a traded day: the broker
        reconciliation and the flatten's confirmation), ``day.json``, the backtest
        reconciliation (``backtest/<strategy>/<day>.json|html``), the paper twin's
        reconciliation (``twin/twin.json``, by ``twin_sink``) and the day's transaction
        cost analysis (``tca/tca.json|html``, then handed to ``tca_sink``), its
        attribution (``attribution/attribution.json|html``, to ``attribution_sink``) and the
        signed compliance report (``compliance/``, by ``compliance_sink``)."""
        folder = self.config.report_dir / window.day.isoformat()
        twin: dict[str, Any] | None = None
        if close:
            outcome.confirmed, broker = self._confirm_flat(day, window)
            if self.twin_sink is not None:  # before the seal: its alerts are covered
                twin = self.twin_sink(day.runner, window.day, folder / "twin")
            day.runner.journal.seal()  # the reconciliation's entries are covered too
            write_json(folder / "broker.json", broker)
        reports = self.factory.backtest_reports(day, window, folder / "backtest")
        tca = write_tca_day(day.runner.journal, window.day, folder / "tca", self.tca_sink,
                            costs=cost_rates(day.runner.deployed),  # + the attribution
                            attribution_sink=self.attribution_sink)
        if self.compliance_sink is not None:  # after the seal: the day's anchor is final
            self.compliance_sink(day.runner.journal, window.day, folder / "compliance")
        summary = outcome.summary
        write_json(folder / "day.json", {
            "day": window.day.isoformat(), "session": str(window), "status": outcome.status,
            "detail": outcome.detail, "flat_confirmed": outcome.confirmed,
            "bars": summary.bars if summary else 0, "intents": summary.intents if summary else 0,
            "fills": summary.fills if summary else 0,
            "denials": summary.denials if summary else 0,
            "alerts": summary.alerts if summary else [],
            "backtest_breaks": reports.breaks, "backtest_files": list(reports.files),
            "backtest": list(reports.lines), "tca": tca, "twin": twin})
        outcome.report = folder
        self.log(f"{window.day}: {outcome.status}; reports in {folder}")
        return outcome
