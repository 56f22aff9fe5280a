"""The paper twin (settings ``live.paper_twin``): a paper runner of the session's versions -
the same deployments, sizes, policy and risk limits - trading beside live, on a thread of its
own (:mod:`live.paper_twin`): each bar the live runner handled is handed to it at once, so
its journal (``live.journal_url`` with ``{mode}`` as ``<mode>_twin``) is current during the
session. It has its own paper exchange (``live.paper_twin_exchange_url``) and state; it never
reaches the broker, files no rollback and obeys no desk kill command: it is the model as
research would trade it on the live tape, so the daily reconciliation (:mod:`live.twin`)
shows what live's execution and controls changed.

A twin that raises, falls ``live.paper_twin_max_lag_bars`` behind or cannot finish within
``live.paper_twin_finish_seconds`` is disabled for the session (``twin_failed`` in the live
journal); live trades on. At the close the reconciliation reads the twin's journal; the
bars of the day it lacks (a disabled twin, a day traded before the twin was on) are traded
on it then from the live journal (idempotent: the twin's journal resumes after its last
bar).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.events import AlertRaised, Severity
from live.paper_twin import TWIN_FAILED, PaperTwin, beside, reader_of
from live.runner.feed import FeedBar, FeedItem
from live.twin import TWIN_ALERT, TwinLimits, TwinReport, journaled_bars, reconcile_twin
from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

__all__ = ["TWIN_FAILED", "TwinBeside", "TwinDay", "run_twin_day", "twin_close_sink"]


def twin_journal_url(settings: Settings, mode: str) -> str:
    """The twin's journal of ``mode`` (its own store: never the live journal)."""
    url = settings.live.journal_url
    if "{mode}" not in url:
        raise LiveSetupError(f"live.journal_url={url!r} has no {{mode}}: the paper twin "
                             "needs a journal of its own (live.paper_twin)")
    return url.replace("{mode}", f"{mode}_twin")


def open_twin_journal(settings: Settings, mode: str) -> Any:
    from live.journal import open_journal

    return open_journal(twin_journal_url(settings, mode), settings.root, clock=utc_now)


def twin_limits(settings: Settings) -> TwinLimits:
    """policy.yaml ``signal_governance.twin``."""
    from live.governance.policy import load_policy
    from strategies.roster import STRATEGIES

    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    return TwinLimits(**policy.twin_thresholds())


def twin_runner(settings: Settings, mode: str, deployed: list[Any], journal: Any) -> Any:
    """The paper runner: the live session's deployments, policy and risk limits; a paper
    exchange of its own; no kill commands, no rollback proposals."""
    from live.adapters.paper import PaperExchange
    from live.db import make_engine
    from live.governance.policy import load_policy
    from live.risk.guardrails import Guardrails
    from live.risk.limits import load_risk_limits
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.deployments import STAGE_OF_MODE, cost_rates, stage_capital
    from live.runner.runner import Runner
    from strategies.roster import STRATEGIES
    from stratops.live_ops import _fill_model

    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    limits = load_risk_limits(settings.path(settings.governance.risk_file),
                              set(policy.rules.symbols), set(STRATEGIES))
    paper = PaperExchange(make_engine(settings.live.paper_twin_exchange_url, settings.root),
                          seed=settings.live.paper_seed,
                          fill_model=_fill_model(deployed, settings.live.paper_fill_mode))
    return Runner(journal=journal, broker=paper, deployed=deployed, mode=mode, clock=utc_now,
                  market=lambda b: paper.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                b.close, volume=b.volume),
                  policy=policy, max_sessions=settings.live.max_history_sessions,
                  risk=PreTradeRiskEngine(limits, policy),
                  guardrails=Guardrails(limits, stage_capital(policy, deployed, mode),
                                        costs=cost_rates(deployed)),
                  drift_limits=policy.drift_limits(STAGE_OF_MODE[mode]))


@dataclass(frozen=True, slots=True)
class TwinDay:
    """The twin's day and its reconciliation as written: the day's bars, the twin's fills
    that day, and how many of the bars were traded on the twin at the close (0: the twin
    traded the whole day beside live)."""

    report: TwinReport
    path: Path | None
    bars: int
    fills: int
    rebuilt_bars: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"file": None if self.path is None else str(self.path), "bars": self.bars,
                "fills": self.fills, "rebuilt_bars": self.rebuilt_bars,
                "breaches": self.report.breaches}


def missing_bars(live: list[FeedBar], twin: list[FeedBar]) -> list[FeedBar]:
    """The bars of ``live`` the twin has not journaled."""
    have = {(b.symbol, b.ts) for b in twin}
    return [b for b in live if (b.symbol, b.ts) not in have]


def open_twin_runner(settings: Settings, mode: str, deployed: list[Any]) -> Any:
    """The twin's runner over its own journal (released if the runner cannot be built)."""
    journal = open_twin_journal(settings, mode)
    try:
        return twin_runner(settings, mode, deployed, journal)
    except BaseException:
        journal.engine.dispose()
        raise


def run_twin_day(settings: Settings, mode: str, live_journal: Any, deployed: list[Any],
                 day: date, folder: Path | None, *, alert: bool = True) -> TwinDay | None:
    """Reconcile ``day`` of live with its twin's journal - first trading on the twin the
    day's journaled bars it lacks - write ``folder/twin.json`` and (``alert``: the live
    process's own close) journal a ``twin_drift`` alert in the live journal for each
    breach. None when live journaled no bar that day."""
    from live.twin import read_sides, write_twin_report

    bars = journaled_bars(live_journal, day)
    if not bars:
        return None
    journal = open_twin_journal(settings, mode)
    try:
        missing = missing_bars(bars, journaled_bars(journal, day))
        if missing:  # a twin disabled during the day, or a day before the twin was on
            runner = twin_runner(settings, mode, deployed, journal)
            runner.recover()
            runner.run(bars)
        report = reconcile_twin(live_journal, journal, day, twin_limits(settings),
                                [d.strategy for d in deployed])
        fills = sum(side.fills for side in read_sides(journal, day).values())
    finally:
        journal.engine.dispose()
    path = None if folder is None else write_twin_report(report, folder)
    if report.breaches and alert:
        live_journal.append(AlertRaised(
            trace_id="", ts_event=bars[-1].ts, severity=Severity.ERROR, code=TWIN_ALERT,
            message=f"{day}: live and its paper twin drifted apart: "
                    f"{'; '.join(report.breaches)}"))
    return TwinDay(report, path, len(bars), fills, len(missing))


class TwinBeside:
    """The paper twin of one mode across a service's sessions: :meth:`beside` starts it
    beside the live runner's feed; calling it at a traded day's close (the service's twin
    sink) reconciles the day - or journals why it could not as a ``twin_failed`` warning: a
    twin never stops the service."""

    def __init__(self, settings: Settings, mode: str, log: Any) -> None:
        self.settings, self.mode, self.log = settings, mode, log
        self.current: PaperTwin | None = None

    def start(self, live: Any) -> PaperTwin:
        """The twin of ``live``'s session (not yet started); ``live`` has recovered."""
        settings, mode, deployed = self.settings, self.mode, list(live.deployed)
        self.current = PaperTwin(
            lambda: open_twin_runner(settings, mode, deployed),
            open_live=reader_of(live.journal),
            live_seq=live.journal.head()[0],
            max_lag_bars=settings.live.paper_twin_max_lag_bars,
            finish_timeout_s=settings.live.paper_twin_finish_seconds)
        return self.current

    def beside(self, live: Any, items: Iterable[FeedItem]) -> Iterator[FeedItem]:
        """``items`` for ``live``, each handed to a new twin once live has handled it."""
        return beside(items, self.start(live), live)

    def __call__(self, runner: Any, day: date, folder: Path) -> dict[str, Any] | None:
        try:
            if self.current is not None and self.current.running:
                raise LiveSetupError("the twin beside live is still running (abandoned: "
                                     f"{self.current.failure}); not rebuilt beside it")
            done = run_twin_day(self.settings, self.mode, runner.journal, runner.deployed,
                                day, folder)
        except Exception as exc:  # the live day is done and journaled: never stop serving
            why = f"{day}: the paper twin did not run: {type(exc).__name__}: {exc}"
            runner.alert(utc_now(), Severity.WARNING, TWIN_FAILED, why)
            self.log(why)
            return {"error": why}
        if done is None:
            return None
        self.log(f"{day}: paper twin {done.bars} bars ({done.rebuilt_bars} traded on it at "
                 f"the close), {done.fills} fills; {len(done.report.breaches)} breach(es); "
                 f"{done.path}")
        return done.to_json()


def twin_close_sink(settings: Settings, mode: str, log: Any) -> TwinBeside | None:
    """The service's paper twin (``live.paper_twin``; None when off): beside each session's
    runner, and reconciled at each traded day's close."""
    if not settings.live.paper_twin:
        return None
    return TwinBeside(settings, mode, log)


def traded_versions(journal: Any, day: date) -> dict[str, str]:
    """strategy -> the version the journal intended orders for on ``day``."""
    from live.events import OrderIntended

    return {m.strategy: m.version for _, m in journal.read()
            if isinstance(m, OrderIntended) and m.ts_event.date() == day}


def rebuild_deployments(deployed: list[Any], traded: dict[str, str], mode: str,
                        day: date) -> list[Any]:
    """The versions to rebuild ``day``'s twin with: ``deployed`` (those live traded that
    day, when it did); refused when live traded another version than the one deployed."""
    have = {d.strategy: str(d.version) for d in deployed}
    differ = sorted(f"{s} v{v} (deployed at {mode} now: "
                    f"{'v' + have[s] if s in have else 'none'})"
                    for s, v in traded.items() if have.get(s) != v)
    if differ:
        raise LiveSetupError(f"cannot rebuild the paper twin of {mode} on {day}: live traded "
                             f"{', '.join(differ)}")
    chosen = [d for d in deployed if not traded or d.strategy in traded]
    if not chosen:
        raise LiveSetupError(f"cannot rebuild the paper twin of {mode} on {day}: no version "
                             f"is deployed at {mode} (stratops promote status)")
    return chosen


def deployed_at(settings: Settings, mode: str) -> list[Any]:
    """The versions deployed at ``mode``, verified as the runner loads them."""
    from live.governance.trust import TrustError
    from live.runner.deployments import load_deployed
    from stratops.governance_ops import service

    try:
        svc = service(settings, create=False)
    except TrustError as exc:
        raise LiveSetupError(f"cannot rebuild the paper twin: {exc}") from exc
    return list(load_deployed(svc, mode)[0])


def twin_report(settings: Settings, day: date, mode: str,
                deployments: Any = None) -> tuple[TwinReport, int]:
    """``stratops report twin``: the day's reconciliation from MODE's journal and its
    twin's, and how many bars were traded on the twin now: when the twin has no bar of the
    day (it was off), the day is rebuilt on it (:func:`run_twin_day`) with
    ``deployments()`` (default: the versions deployed at MODE), which must be the versions
    live traded that day."""
    from stratops.live_ops import open_mode_journal

    live = open_mode_journal(settings, mode)
    twin = open_twin_journal(settings, mode)
    try:
        if not journaled_bars(live, day):
            raise LiveSetupError(f"no paper twin session of {mode} on {day}: the {mode} "
                                 "journal has no bar that day")
        if journaled_bars(twin, day):
            return reconcile_twin(live, twin, day, twin_limits(settings)), 0
        twin.engine.dispose()
        deployed = rebuild_deployments((deployments or (lambda: deployed_at(settings, mode)))(),
                                       traded_versions(live, day), mode, day)
        done = run_twin_day(settings, mode, live, deployed, day, None, alert=False)
        assert done is not None  # live has bars that day
        return done.report, done.rebuilt_bars
    finally:
        live.engine.dispose()
        twin.engine.dispose()
