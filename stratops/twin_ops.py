"""The paper twin (settings ``live.paper_twin``): at each session's close, a paper runner of
the session's versions - the same deployments, sizes, policy and risk limits - trades the
bars the live runner journaled that day, in the same order, on its own paper exchange
(``live.paper_twin_exchange_url``) and journal (``live.journal_url`` with ``{mode}`` as
``<mode>_twin``). It never reaches the broker, files no rollback and obeys no desk kill
command: it is the model as research would trade it on the live tape, so the daily
reconciliation (:mod:`live.twin`) shows what live's execution and controls changed.

It runs after the live session, not beside it in time: the twin can never slow, block or
crash the live runner, and the bars are exactly the ones live journaled (a restart's twin
run is idempotent: the twin's journal resumes after its last bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from live.events import AlertRaised, Severity
from live.twin import TWIN_ALERT, TwinLimits, TwinReport, journaled_bars, reconcile_twin
from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

TWIN_FAILED = "twin_failed"


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
    """The twin's session and the day's reconciliation as written."""

    report: TwinReport
    path: Path | None
    bars: int
    fills: int

    def to_json(self) -> dict[str, Any]:
        return {"file": None if self.path is None else str(self.path), "bars": self.bars,
                "fills": self.fills, "breaches": self.report.breaches}


def run_twin_day(settings: Settings, mode: str, live_journal: Any, deployed: list[Any],
                 day: date, folder: Path | None) -> TwinDay | None:
    """Trade ``day``'s journaled bars on the twin, reconcile it with live, write
    ``folder/twin.json`` and journal a ``twin_drift`` alert in the live journal for each
    breach. None when live journaled no bar that day."""
    from live.twin import write_twin_report

    bars = journaled_bars(live_journal, day)
    if not bars:
        return None
    journal = open_twin_journal(settings, mode)
    try:
        runner = twin_runner(settings, mode, deployed, journal)
        runner.recover()
        summary = runner.run(bars)
        report = reconcile_twin(live_journal, journal, day, twin_limits(settings),
                                [d.strategy for d in deployed])
    finally:
        journal.engine.dispose()
    path = None if folder is None else write_twin_report(report, folder)
    if report.breaches:
        live_journal.append(AlertRaised(
            trace_id="", ts_event=bars[-1].ts, severity=Severity.ERROR, code=TWIN_ALERT,
            message=f"{day}: live and its paper twin drifted apart: "
                    f"{'; '.join(report.breaches)}"))
    return TwinDay(report, path, len(bars), summary.fills)


def twin_close_sink(settings: Settings, mode: str, log: Any) -> Any:
    """What the service calls at a traded day's close (``live.paper_twin``; None when off):
    the twin's day, or its failure journaled as a ``twin_failed`` warning - a twin never
    stops the service."""
    if not settings.live.paper_twin:
        return None

    def sink(runner: Any, day: date, folder: Path) -> dict[str, Any] | None:
        try:
            done = run_twin_day(settings, mode, runner.journal, runner.deployed, day, folder)
        except Exception as exc:  # the live day is done and journaled: never stop serving
            why = f"{day}: the paper twin did not run: {type(exc).__name__}: {exc}"
            runner.alert(utc_now(), Severity.WARNING, TWIN_FAILED, why)
            log(why)
            return {"error": why}
        if done is None:
            return None
        log(f"{day}: paper twin {done.bars} bars, {done.fills} fills; "
            f"{len(done.report.breaches)} breach(es); {done.path}")
        return done.to_json()

    return sink


def twin_report(settings: Settings, day: date, mode: str) -> TwinReport:
    """``stratops report twin``: the day's reconciliation from MODE's journal and its
    twin's (as stored; nothing is traded)."""
    from stratops.live_ops import open_mode_journal

    live = open_mode_journal(settings, mode)
    twin = open_twin_journal(settings, mode)
    try:
        if not journaled_bars(twin, day):
            raise LiveSetupError(f"no paper twin session of {mode} on {day} in "
                                 f"{twin_journal_url(settings, mode)} (live.paper_twin is "
                                 "off, or the twin has not run that day)")
        return reconcile_twin(live, twin, day, twin_limits(settings))
    finally:
        live.engine.dispose()
        twin.engine.dispose()
