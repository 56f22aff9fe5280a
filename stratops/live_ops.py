"""Assemble a runner from settings: journal, broker, market, deployments, policy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

from stratops import compliance_setup
from stratops.errors import LiveSetupError as LiveSetupError  # defined there: no cycle
from stratops.governance_ops import registry, utc_now
from stratops.market_ops import parse_feed_spec
from stratops.settings import Settings, load_settings
from stratops.snapshot_follower import FollowerConfig, follower_runner
from stratops.venue_ops import venue_router

if TYPE_CHECKING:  # imported where used
    from live.adapters.paper import FillModel
    from live.journal import Journal

MODES = ("shadow", "canary", "live")
BROKERS = ("paper", "kite")
KITE_PRODUCTION_ROOT = "https://api.kite.trade"


def journal_url(settings: Settings, mode: str) -> str:
    """The journal URL of ``mode``; only a known mode reaches the URL (it names a file)."""
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    return settings.live.journal_url.replace("{mode}", mode)


def open_mode_journal(settings: Settings, mode: str) -> Journal:
    from live.journal import open_journal

    return open_journal(journal_url(settings, mode), settings.root, clock=utc_now,
                        synchronous=settings.live.sqlite_synchronous)


def journal_alert(settings: Settings, mode: str, code: str, message: str) -> None:
    """A critical alert in ``mode``'s journal from outside a runner (a start held before
    the runner exists): on record for the pager and the day's compliance report."""
    from live.events import AlertRaised, Severity

    journal = open_mode_journal(settings, mode)
    try:
        journal.append(AlertRaised(trace_id="", ts_event=utc_now(), severity=Severity.CRITICAL,
                                   code=code, message=message))
    finally:
        journal.engine.dispose()


@dataclass
class LiveRun:
    runner: Any
    exchange: Any
    refused: list[Any]
    frame: Any  # the replayed bars (None for a live or tick-replay feed)
    notes: list[str] = field(default_factory=list)  # e.g. why there are no checkpoints
    feed: Any = None  # a live or tick-replay feed (iterable of feed items), else None
    warmup: Any = None  # a replay from --from: its warm-up from stored data (ReplayWarmup)
    dataset: str | None = None  # the replayed dataset

    def warm(self, items: Iterable[Any]) -> Iterable[Any]:
        """``items`` (the replayed bars) preceded by the replay's warm-up from stored data
        (:mod:`live.runner.warmup`); unchanged when there is none."""
        from live.runner.warmup import warmed

        if self.warmup is None or self.dataset is None:
            return items
        return warmed(self.warmup, self.dataset, items)


def attach_checkpoints(settings: Settings, mode: str, journal: Any, directory: Any
                       ) -> list[str]:
    """Give MODE's journal a checkpointer signing as the runner's service identity.

    Live mode without a usable service key is refused (fail closed); shadow and canary run
    without checkpoints and say so. A journal that contradicts its signed checkpoints
    (truncated, rewritten, appended to after a seal) is refused in every mode.
    """
    from live.checkpoints import CheckpointMismatchError
    from live.governance.identity import IdentityError
    from live.governance.signing import SignatureError
    from live.service_key import ServiceKeyError
    from stratops.checkpoint_ops import (
        journal_checkpoint_file,
        journal_checkpointer,
        service_signer,
    )

    if directory is None:  # no trust lock (a candidates-only shadow run): nothing verifies
        if journal_checkpoint_file(settings, mode).exists():
            raise LiveSetupError(f"{mode} refused: the journal has signed checkpoints but "
                                 "there is no trust lock to check them with")
        return [f"{mode} runs without journal checkpoints: no trust lock"]
    try:
        signer = service_signer(settings, directory)
    except (ServiceKeyError, IdentityError, SignatureError) as exc:
        if mode == "live":
            raise LiveSetupError(f"live refused: no usable service key to sign journal "
                                 f"checkpoints ({exc})") from exc
        _check_existing(settings, mode, journal, directory)
        return [f"{mode} runs without journal checkpoints: {exc}"]
    try:
        checkpointer = journal_checkpointer(settings, mode, journal, signer, directory)
    except CheckpointMismatchError as exc:
        raise LiveSetupError(f"{mode} refused: the journal contradicts its signed "
                             f"checkpoints: {exc}") from exc
    journal.checkpoints = checkpointer
    return [f"journal checkpoints every {checkpointer.every} entries and at session end: "
            f"{checkpointer.path}"]


def _check_existing(settings: Settings, mode: str, journal: Any, directory: Any) -> None:
    """Without a key nothing is signed, but checkpoints already written still bind."""
    from live.checkpoints import read_checkpoints, verify_against
    from stratops.checkpoint_ops import RUNNER_ROLE, journal_chain, journal_checkpoint_file

    path = journal_checkpoint_file(settings, mode)
    if not path.exists():
        return
    verdict = verify_against(journal, read_checkpoints(path), directory,
                             chain=journal_chain(mode), role=RUNNER_ROLE)
    if not verdict.ok:
        raise LiveSetupError(f"{mode} refused: the journal contradicts its signed checkpoints "
                             f"in {path}: first bad entry seq {verdict.first_bad_seq}: "
                             f"{verdict.reason}")


def _fill_model(deployed: list[Any], fill_mode: str = "parity") -> FillModel:
    """The paper exchange's fill model: ``parity`` slips like the versions' simulator;
    ``realism`` (``live.paper_fill_mode``) prices market fills by its own impact model."""
    from live.adapters.paper import FillModel

    models = {(d.slippage_ticks, tick) for d in deployed  # each symbol's tick
              for tick in {d.tick_size, *(d.tick_for(s) for s in d.symbols)}}
    if len(models) > 1:
        raise LiveSetupError(f"versions use different slippage/tick rules {sorted(models)}; "
                             "run them in separate sessions")
    slip, tick = models.pop()
    if fill_mode == "realism":  # impact replaces the fixed slippage
        return FillModel(mode="realism", fill="next_open", tick_size=tick)
    return FillModel(fill="next_open", slippage_ticks=slip, tick_size=tick)


def choose_broker(settings: Settings, mode: str, feed: str, broker: str | None) -> str:
    """The broker of this run: ``--broker`` beats ``live.broker``; shadow is always paper
    (a ``--broker kite`` shadow run is refused, never silently paper), and the real Kite is
    never fed replayed bars (orders priced on old prices)."""
    chosen = broker if broker is not None else settings.live.broker
    if chosen not in BROKERS:
        raise LiveSetupError(f"--broker {chosen!r}: one of {BROKERS}")
    if chosen == "kite" and mode == "shadow":
        raise LiveSetupError("--broker kite --mode shadow: shadow runs on the paper exchange "
                             "only (virtual fills); use --mode canary or live for Kite")
    if chosen == "kite" and feed.startswith("replay:") and \
            settings.live.kite.root.rstrip("/") == KITE_PRODUCTION_ROOT:
        raise LiveSetupError(f"--broker kite with --feed {feed}: real Kite orders on replayed "
                             "bars are refused; use a live feed (or a fake Kite's root in "
                             "live.kite.root for tests)")
    return chosen


def _kite_broker(settings: Settings) -> Any:
    """The Kite broker with a fresh, accepted token, or a :class:`LiveSetupError` naming
    what is missing, stale or rejected (never a secret)."""
    from live.adapters.kite.credentials import KiteCredentialsError, KiteTokenStaleError
    from stratops.kite_ops import KiteSessionRejectedError, open_kite_broker

    try:
        return open_kite_broker(settings, clock=utc_now)
    except (KiteCredentialsError, KiteTokenStaleError, KiteSessionRejectedError) as exc:
        raise LiveSetupError(f"--broker kite refused: {exc}") from exc


def _load_versions(settings: Settings, svc: Any, mode: str, candidates: bool,
                   strategies: list[str] | None) -> tuple[list[Any], list[Any]]:
    """The versions to trade and the refusals; every load decision of an approved version is
    audited (refusals are also printed by the caller)."""
    from live.runner.deployments import load_candidates
    from live.runner.ensembles import load_approved

    if candidates:
        return load_candidates(registry(settings), strategies)
    from strategies.ensemble_version import is_ensemble_name

    deployed, refused = load_approved(svc, mode, strategies)
    for refusal in refused:
        svc.audit.append(ts=utc_now(), kind="deployment_refused", actor=f"runner:{mode}",
                         strategy=refusal.strategy, subject=f"{refusal.strategy}@{mode}",
                         detail={"reason": refusal.reason, "by": "live runner load"})
        if is_ensemble_name(refusal.strategy):  # an approved ensemble not traded: page
            journal_alert(settings, mode, "ensemble_refused",
                          f"{refusal.strategy} not loaded: {refusal.reason}")
    for loaded in deployed:
        svc.audit.append(ts=utc_now(), kind="deployment_verified", actor=f"runner:{mode}",
                         strategy=loaded.strategy, subject=f"{loaded.strategy}@{mode}",
                         detail={"version": loaded.version,
                                 "snapshot_digest": loaded.snapshot_digest,
                                 "by": "live runner load",
                                 **({} if loaded.ensemble is None else
                                    {"ensemble": loaded.ensemble.label})})
    return deployed, refused


def _require_pinned_trust(settings: Settings, mode: str) -> None:
    """Real orders only under a pinned trust root (``governance.trust_root``): unpinned, a
    shell user could replace ``roles.yaml`` and ``roles.lock.json`` with a lock of their own
    ceremony (two keys they made) and approve anything under it. Refused and audited."""
    from stratops.governance_ops import audit_refusal

    if settings.governance.trust_root is not None:
        return
    reason = ("the Kite broker sends real orders, and governance.trust_root is not pinned: "
              "a replaced roles.lock.json would be believed; pin the root `stratops trust "
              "show --json` prints (root_sha256) as governance.trust_root on this host")
    audit_refusal(settings, f"runner:{mode}", "live_start", reason)
    raise LiveSetupError(f"{mode} refused: {reason}")


def _refuse_unapproved_configs(svc: Any, mode: str) -> None:
    """A canary or live start refused, and audited, while a reviewed file (gates, policy,
    risk, playbooks, compliance, roles) is not its approved version: an edit without the
    config maker/checker never reaches real orders."""
    assert svc is not None
    problems = svc.config_problems()
    if problems:
        svc.audit.append(ts=utc_now(), kind="refused", actor=f"runner:{mode}",
                         subject=f"live run --mode {mode}",
                         detail={"action": "live_start", "reason": "; ".join(problems)})
        raise LiveSetupError(f"{mode} refused: " + "; ".join(problems))


def _paper_exchange(settings: Settings, mode: str, deployed: list[Any]) -> tuple[Any, Any]:
    """The paper exchange of ``mode`` and the market callback that moves it one bar (a Kite
    run has neither: the real market fills Kite's orders)."""
    from live.adapters.paper import PaperConfigError, PaperExchange
    from live.db import make_engine

    url = settings.live.shadow_exchange_url if mode == "shadow" else \
        settings.live.paper_exchange_url
    try:
        paper = PaperExchange(make_engine(url, settings.root,
                                          synchronous=settings.live.sqlite_synchronous),
                              seed=settings.live.paper_seed,
                              fill_model=_fill_model(deployed, settings.live.paper_fill_mode))
    except PaperConfigError as exc:
        key = "SHADOW_EXCHANGE_URL" if mode == "shadow" else "PAPER_EXCHANGE_URL"
        raise LiveSetupError(f"{exc}. Point this run at a fresh book "
                             f"(STRATOPS_LIVE__{key}=sqlite:///.stratops/<new name>.db) "
                             "or delete that store if its history is not needed") from exc

    def market(bar: Any) -> None:
        paper.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close,
                     volume=bar.volume)

    return paper, market


def prepare(mode: str, feed: str, start: date | None, end: date | None,
            strategies: list[str] | None, candidates: bool,
            settings: Settings | None = None, broker: str | None = None,
            pager: Callable[[Any], None] | None = None, transport: Any = None,
            observability: Any = None, risk_answers: Any = None,
            signal_source: Any = None) -> LiveRun:
    """Everything a run needs, verified; raises :class:`LiveSetupError` if nothing may trade.
    ``broker`` (``paper`` | ``kite``) overrides ``live.broker``; ``pager`` is told of a dead
    broker session (an ``AlertRaised``; a CRITICAL log line by default); ``transport`` carries
    the runner's bus (in process by default; ``stratops svc execution``: JetStream);
    ``observability`` (:class:`~stratops.observability_ops.Observability`) watches the runner:
    metrics, the heartbeat and spans from its journaled events. ``risk_answers`` builds the
    trading runner's ``CheckRisk`` handler (``stratops svc execution --risk remote``; default:
    the engine in process); ``signal_source`` gives the trading runner's signals
    (``stratops svc execution --signals remote``; default: the kernels in process)."""
    from live.governance.kill import verified_commands
    from live.governance.policy import load_policy
    from live.orders.retry import Retrier
    from live.risk.guardrails import Guardrails
    from live.risk.limits import load_risk_limits
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.deployments import STAGE_OF_MODE, cost_rates, stage_capital
    from live.runner.feed import replay_frame
    from live.runner.runner import Runner
    from live.runner.snapshotting import SnapshotCadence
    from pipelines.datasets.catalog import find_dataset
    from strategies.roster import STRATEGIES
    from stratops.playbooks_ops import runner_playbooks

    settings = settings or load_settings()
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    if candidates and mode != "shadow":
        raise LiveSetupError("--candidates (unapproved research versions) is shadow-only")
    feed_kind, feed_arg = parse_feed_spec(feed)  # refused before anything is loaded
    real_broker = choose_broker(settings, mode, feed, broker) == "kite"
    if real_broker:
        _require_pinned_trust(settings, mode)
    kite = _kite_broker(settings) if real_broker else None
    svc, directory, engine = _governance(settings, candidates, mode)
    if mode != "shadow":  # real orders only under approved gates, policy and risk limits
        _refuse_unapproved_configs(svc, mode)
    deployed, refused = _load_versions(settings, svc, mode, candidates, strategies)
    compliance = compliance_setup.load_config(settings) if deployed else None
    if compliance is not None:
        compliance_setup.check_egress(  # SEBI: the broker-whitelisted static IP
            settings, compliance, mode,
            lambda why: journal_alert(settings, mode, "egress_ip", why))
        deployed = compliance_setup.with_algo_ids(compliance, mode, deployed, refused)
    if not deployed:
        why = "; ".join(f"{r.strategy}: {r.reason}" for r in refused) or \
            f"no approved {mode} deployment (stratops promote status)"
        raise LiveSetupError(f"nothing to trade in {mode} mode: {why}")
    journal = open_mode_journal(settings, mode)
    notes = attach_checkpoints(settings, mode, journal, directory)
    symbols = sorted({s for d in deployed for s in d.symbols})
    frame, live_feed = None, None
    if feed_kind == "replay":
        history_path = find_dataset(settings.root, feed_arg).path
        frame = replay_frame(history_path, symbols, start, end)
    else:  # a live feed: the caps' daily closes come from the configured dataset
        history_path = find_dataset(settings.root,
                                    settings.live.market.risk_history_dataset).path
    deployed, contracts = _contracts(settings, mode, svc, deployed, refused, frame)
    deployed = _whole_ensembles(journal, mode, svc, deployed, refused)
    if feed_kind != "replay":
        live_feed = _market_feed(settings, feed_kind, feed_arg, symbols, deployed, kite,
                                 contracts)
    routed = venue_router(settings, mode, _fill_model(deployed), kite)
    exchange, market = routed if routed is not None else (kite, None) if kite is not None \
        else _paper_exchange(settings, mode, deployed)
    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    limits = load_risk_limits(settings.path(settings.governance.risk_file),
                              set(policy.rules.symbols), set(STRATEGIES))
    capital = stage_capital(policy, deployed, mode)  # canary: the policy's fraction
    history = replay_frame(history_path, symbols, None, None)
    warmup = _replay_warmup(settings, history, frame, start, feed_arg, notes)
    caps = portfolio_caps(settings, limits, policy, exchange, contracts, history)
    impact = impact_budget(settings, limits, history)
    try:
        costs = cost_rates(deployed)
    except ValueError as exc:
        raise LiveSetupError(f"{mode} refused: no cost rates to net P&L with: {exc}") from exc

    proposer = rollback_proposer(settings, mode, svc, directory)
    notes += [f"{s}: strategy health not monitored: {why}"
              for s, why in health_gaps(policy, deployed).items()]

    follower = FollowerConfig(  # data only: the writer process builds the follower from it
        mode=mode, broker_name=str(getattr(exchange, "name", "")),
        broker_oco=bool(getattr(exchange, "supports_oco", False)), deployed=tuple(deployed),
        policy=policy, limits=limits, compliance=compliance, capital=capital, costs=costs,
        contracts=contracts, max_sessions=settings.live.max_history_sessions,
        retry=settings.live.execution.retry, anomaly=settings.anomaly.thresholds(),
        playbooks=runner_playbooks(settings), surveillance=_surveillance(settings),
        drift_limits=policy.drift_limits(STAGE_OF_MODE[mode]),
        health_limits=policy.health_limits(), ensemble=policy.ensemble(),
        sizing=policy.confidence_sizing())
    snapshots = SnapshotCadence(
        journal, every_events=settings.live.snapshots.every_events,
        keep=settings.live.snapshots.keep, follower=partial(follower_runner, follower),
        writer=settings.live.snapshots.writer)
    runner = Runner(journal=journal, broker=exchange,
                    deployed=deployed, mode=mode, clock=utc_now, market=market,
                    policy=policy, max_sessions=settings.live.max_history_sessions,
                    risk=PreTradeRiskEngine(limits, policy, caps=caps, impact=impact,
                                            compliance=compliance_setup.controls(compliance,
                                                                                mode)),
                    guardrails=Guardrails(limits, capital, costs=costs),
                    kill_commands=lambda last: verified_commands(engine, directory, last,
                                                                 clock=utc_now),
                    insane_fill_pct=limits.post_trade.insane_fill_pct, pager=pager,
                    order_rules=limits.orders,  # NSE/Kite order rules (live/orders/)
                    price_band_pct=limits.pre_trade.price_band_pct, contracts=contracts,
                    retrier=Retrier(settings.live.execution.retry, sleep=time.sleep,
                                    monotonic_s=time.monotonic),
                    snapshots=snapshots,  # the folded state and runner memory every N entries
                    transport=transport,
                    anomaly=settings.anomaly.thresholds(),  # the detectors (live.anomaly)
                    playbooks=runner_playbooks(settings),  # playbooks.yaml (README, Playbooks)
                    surveillance=_surveillance(settings),
                    drift_limits=policy.drift_limits(STAGE_OF_MODE[mode]),
                    risk_answers=risk_answers,
                    signal_source=signal_source,
                    health_limits=policy.health_limits(),  # signal_governance.health
                    propose_rollback=proposer,
                    ensemble=policy.ensemble(),  # signal_governance.ensemble
                    sizing=policy.confidence_sizing())  # signal_governance.confidence

    if observability is not None:  # after the journal and the fold: what was made durable
        from stratops.observability_ops import risk_rows

        observability.attach(runner, risk_rows(settings, limits, history, deployed,
                                               runner.state))
    return LiveRun(runner, exchange, refused, frame, notes, live_feed, warmup,
                   feed_arg if feed_kind == "replay" else None)


def _replay_warmup(settings: Settings, history: Any, frame: Any, start: date | None,
                   dataset: str, notes: list[str]) -> Any:
    """A replay from ``--from``: the stored bars that warm the history before its first
    traded bar (``live.market.catchup``; ``catchup_sessions``, default
    ``live.max_history_sessions``, sessions with the first traded one), what it lacks added
    to ``notes``; else None."""
    from live.runner.warmup import replay_warmup

    market = settings.live.market
    if frame is None or start is None or not market.catchup:
        return None
    warmup = replay_warmup(history, frame,
                           market.catchup_sessions or settings.live.max_history_sessions)
    notes.extend(f"warm-up: {n}" for n in warmup.notes(dataset))
    return warmup


def rollback_proposer(settings: Settings, mode: str, svc: Any, directory: Any
                      ) -> Callable[[str, int, str], str] | None:
    """What the health monitor files its rollback requests with: a request signed by the
    runner's service identity (:mod:`live.governance.rollback`). None outside live mode or
    without a governance store and a usable service key (the breach is then only halted and
    alerted, and the alert says why no request was filed)."""
    if mode != "live" or svc is None or directory is None:
        return None
    from live.governance.identity import IdentityError
    from live.governance.rollback import request_rollback
    from live.governance.signing import SignatureError
    from live.service_key import ServiceKeyError
    from stratops.checkpoint_ops import service_signer

    try:
        signer = service_signer(settings, directory)
    except (ServiceKeyError, IdentityError, SignatureError):
        return None
    return lambda strategy, version, reason: request_rollback(
        svc, strategy, version, reason, signer).ref


def health_gaps(policy: Any, deployed: list[Any]) -> dict[str, str]:
    """Each deployed strategy the health monitor cannot watch, and why."""
    limits = policy.health_limits()
    return {d.strategy: why for d in deployed
            if (why := limits.problem(d.health)) is not None}


def _surveillance(settings: Settings) -> Any:
    """The online abuse detectors (``compliance.online``; None when off)."""
    from live.compliance.monitor import SurveillanceMonitor

    knobs = settings.compliance
    return SurveillanceMonitor(knobs.thresholds()) if knobs.online else None


def _market_feed(settings: Settings, kind: str, arg: str, symbols: list[str],
                 deployed: list[Any], kite: Any, contracts: Any) -> Any:
    """The ``kite`` live feed or a recorded day's tick replay (one venue per session). With
    the Kite broker, the feed's catch-up goes through the broker's rate-limited client and
    the order updates the socket pushes are forwarded to the broker."""
    from stratops.market_ops import kite_feed, recorded_feed

    venues = sorted({d.venue for d in deployed})
    if len(venues) != 1:
        raise LiveSetupError(f"--feed {kind} serves one venue per session; the versions "
                             f"trade on {venues}")
    if kind != "kite":
        return recorded_feed(settings, arg, symbols, venues[0])
    feed = kite_feed(settings, symbols, venues[0], contracts=contracts,
                     history=None if kite is None else kite.client)
    if kite is not None:
        feed.on_order_update(kite.on_order_update)
    return feed


def portfolio_caps(settings: Settings, limits: Any, policy: Any, broker: Any,
                   contracts: Any, bars: Any) -> Any:
    """The pre-trade engine's portfolio caps: daily closes of the traded underlyings from
    ``bars`` (the feed's dataset, every day it holds: the VaR history and the realised
    volatility), and the margin source - Kite's margin endpoints when ``broker`` is the Kite
    adapter, else the SPAN-like model against risk.yaml's paper capital."""
    from live.adapters.kite.adapter import KiteBroker
    from live.adapters.kite.margins import KiteMargins
    from live.risk.daily_history import DailyCloses
    from live.risk.margin import MarginParamsError, load_margin_params
    from live.risk.margin_source import MarginSource, PaperMargins
    from live.risk.portfolio_caps import PortfolioCaps
    from live.risk.var import RiskDataError

    try:
        params = load_margin_params(settings.path(limits.margin.params_file))
        history = DailyCloses.from_bars(bars)
    except (MarginParamsError, RiskDataError) as exc:
        raise LiveSetupError(f"risk caps cannot be built: {exc}") from exc
    margins: MarginSource = PaperMargins(params, limits.margin.available_capital_inr)
    if isinstance(broker, KiteBroker):
        client: Any = broker.client  # the logged-in KiteConnect: it has the margin endpoints
        margins = KiteMargins(client, None if contracts is None else (
            lambda p: contracts.for_order(p.symbol, p.ts, None).tradingsymbol))
    return PortfolioCaps(limits, policy, history=history, margins=margins,
                         rate=params.discount_rate)


def impact_budget(settings: Settings, limits: Any, bars: Any) -> Any:
    """The pre-trade impact budget: risk.yaml ``execution`` with the calibration file's
    parameters (literature values, said so, when it is missing) and the minute statistics
    of ``bars`` (the feed's dataset)."""
    from live.impact.budget import ImpactBudget, minute_stats
    from live.impact.calibration import CalibrationFileError, load_impact_params

    try:
        params = load_impact_params(settings.path(limits.execution.calibration_file))
    except CalibrationFileError as exc:
        raise LiveSetupError(f"impact budget cannot be built: {exc}") from exc
    return ImpactBudget(params, limits.execution.max_impact_bps, minute_stats(bars))


def _contracts(settings: Settings, mode: str, svc: Any, deployed: list[Any],
               refused: list[Any], frame: Any) -> tuple[list[Any], Any]:
    """The contract book when a version trades on a contract venue (NSE): versions whose
    underlying is missing from the master, without a current contract, or whose lot/tick
    size the master contradicts on the session the run starts are refused (and audited)."""
    from live.runner.deployments import Refusal
    from stratops.instruments_ops import contract_book, contract_refusals

    venues = settings.instruments.venues
    if not any(d.venue in venues for d in deployed):
        return deployed, None
    book = contract_book(settings)
    first = frame["ts"].iloc[0] if frame is not None and len(frame) else None
    day = book.session_of(first.to_pydatetime() if first is not None else utc_now())
    kept, dropped = contract_refusals(book, deployed, day, venues)
    for strategy, reason in dropped:
        refused.append(Refusal(strategy, reason))
        if svc is not None:
            svc.audit.append(ts=utc_now(), kind="deployment_refused", actor=f"runner:{mode}",
                             strategy=strategy, subject=f"{strategy}@{mode}",
                             detail={"reason": reason, "by": "instrument master"})
    if not kept:
        raise LiveSetupError(f"nothing to trade in {mode} mode: " + "; ".join(
            f"{strategy}: {reason}" for strategy, reason in dropped))
    return kept, book


def _whole_ensembles(journal: Any, mode: str, svc: Any, deployed: list[Any],
                     refused: list[Any]) -> list[Any]:
    """``deployed`` without an ensemble that lost a member to the checks after loading (the
    broker's algo approvals, the instrument master): audited and alerted, and refused
    whole (:func:`live.runner.ensembles.whole_ensembles`)."""
    from live.events import AlertRaised, Severity
    from live.runner.ensembles import whole_ensembles

    before = len(refused)
    kept = whole_ensembles(deployed, refused)
    for refusal in refused[before:]:
        if svc is not None:
            svc.audit.append(ts=utc_now(), kind="deployment_refused", actor=f"runner:{mode}",
                             strategy=refusal.strategy, subject=f"{refusal.strategy}@{mode}",
                             detail={"reason": refusal.reason, "by": "live runner load"})
        journal.append(AlertRaised(trace_id="", ts_event=utc_now(), severity=Severity.CRITICAL,
                                   code="ensemble_refused", message=refusal.reason))
    if not kept:
        raise LiveSetupError(f"nothing to trade in {mode} mode: " + "; ".join(
            f"{r.strategy}: {r.reason}" for r in refused))
    return kept


def _governance(settings: Settings, candidates: bool, mode: str) -> tuple[Any, Any, Any]:
    """(service, trusted directory, governance engine). Approved versions need the trust
    lock; a shadow run of unapproved candidates runs without one, and then no desk command
    verifies: kills still apply (fail closed), re-arms are ignored."""
    from live.db import make_engine
    from live.governance.trust import TrustError
    from stratops.governance_ops import audit_refusal, service

    try:
        svc = service(settings)
    except TrustError as exc:
        if not candidates:  # a missing, edited or replaced trust lock: refused, audited
            audit_refusal(settings, f"runner:{mode}", "live_start", str(exc))
            raise LiveSetupError(f"{mode} refused: {exc}") from exc
        return None, None, make_engine(settings.governance.db_url, settings.root)
    return svc, svc.directory, svc.engine


def paced_feed(bars: Iterable[Any], speed: float) -> Iterable[Any]:
    """``bars`` replayed at ``speed`` x real time (1-minute bars), waiting in slices of at
    most 200 ms with an ``Idle`` marker after each (the runner polls kill commands on it);
    0 = flat out (the runner polls at each bar)."""
    from live.runner.feed import paced

    if speed <= 0:
        return bars
    return paced(bars, speed=speed, sleep=time.sleep, monotonic=time.monotonic)
