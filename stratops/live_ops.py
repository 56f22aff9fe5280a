"""Assemble a runner from settings: journal, broker, market, deployments, policy."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from stratops.errors import LiveSetupError as LiveSetupError  # defined there: no cycle
from stratops.governance_ops import registry, utc_now
from stratops.market_ops import parse_feed_spec
from stratops.settings import Settings, load_settings

if TYPE_CHECKING:  # imported where used
    from live.adapters.paper import FillModel
    from live.journal import Journal

MODES = ("shadow", "canary", "live")


def journal_url(settings: Settings, mode: str) -> str:
    """The journal URL of ``mode``; only a known mode reaches the URL (it names a file)."""
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    return settings.live.journal_url.replace("{mode}", mode)


def open_mode_journal(settings: Settings, mode: str) -> Journal:
    from live.journal import open_journal

    return open_journal(journal_url(settings, mode), settings.root, clock=utc_now)


@dataclass
class LiveRun:
    runner: Any
    exchange: Any
    refused: list[Any]
    frame: Any  # the replayed bars (None for a live or tick-replay feed)
    notes: list[str] = field(default_factory=list)  # e.g. why there are no checkpoints
    feed: Any = None  # a live or tick-replay feed (iterable of feed items), else None


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


def _fill_model(deployed: list[Any]) -> FillModel:
    from live.adapters.paper import FillModel

    models = {(d.slippage_ticks, d.tick_size) for d in deployed}
    if len(models) > 1:
        raise LiveSetupError(f"versions use different slippage/tick rules {sorted(models)}; "
                             "run them in separate sessions")
    slip, tick = models.pop()
    return FillModel(fill="next_open", slippage_ticks=slip, tick_size=tick)


def prepare(mode: str, feed: str, start: date | None, end: date | None,
            strategies: list[str] | None, candidates: bool,
            settings: Settings | None = None) -> LiveRun:
    """Everything a run needs, verified; raises :class:`LiveSetupError` if nothing may trade."""
    from live.adapters.paper import PaperConfigError, PaperExchange
    from live.db import make_engine
    from live.governance.kill import verified_commands
    from live.governance.policy import load_policy
    from live.risk.guardrails import Guardrails
    from live.risk.limits import load_risk_limits
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.deployments import load_candidates, load_deployed
    from live.runner.feed import replay_frame
    from live.runner.runner import Runner
    from pipelines.datasets.catalog import find_dataset
    from strategies.roster import STRATEGIES

    settings = settings or load_settings()
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    if candidates and mode != "shadow":
        raise LiveSetupError("--candidates (unapproved research versions) is shadow-only")
    feed_kind, feed_arg = parse_feed_spec(feed)  # refused before anything is loaded
    svc, directory, engine = _governance(settings, candidates, mode)
    if candidates:
        deployed, refused = load_candidates(registry(settings), strategies)
    else:
        deployed, refused = load_deployed(svc, mode, strategies)
        for refusal in refused:  # every load decision is audited (refusals also printed)
            svc.audit.append(ts=utc_now(), kind="deployment_refused", actor=f"runner:{mode}",
                             strategy=refusal.strategy, subject=f"{refusal.strategy}@{mode}",
                             detail={"reason": refusal.reason, "by": "live runner load"})
        for loaded in deployed:
            svc.audit.append(ts=utc_now(), kind="deployment_verified", actor=f"runner:{mode}",
                             strategy=loaded.strategy, subject=f"{loaded.strategy}@{mode}",
                             detail={"version": loaded.version,
                                     "snapshot_digest": loaded.snapshot_digest,
                                     "by": "live runner load"})
    if not deployed:
        why = "; ".join(f"{r.strategy}: {r.reason}" for r in refused) or \
            f"no approved {mode} deployment (stratops promote status)"
        raise LiveSetupError(f"nothing to trade in {mode} mode: {why}")
    journal = open_mode_journal(settings, mode)
    notes = attach_checkpoints(settings, mode, journal, directory)
    symbols = sorted({s for d in deployed for s in d.symbols})
    frame, live_feed = None, None
    if feed_kind == "replay":
        frame = replay_frame(find_dataset(settings.root, feed_arg).path, symbols, start, end)
    else:
        live_feed = _market_feed(settings, feed_kind, feed_arg, symbols, deployed)
    url = settings.live.shadow_exchange_url if mode == "shadow" else \
        settings.live.paper_exchange_url
    try:
        exchange = PaperExchange(make_engine(url, settings.root),
                                 seed=settings.live.paper_seed, fill_model=_fill_model(deployed))
    except PaperConfigError as exc:
        key = "SHADOW_EXCHANGE_URL" if mode == "shadow" else "PAPER_EXCHANGE_URL"
        raise LiveSetupError(f"{exc}. Point this run at a fresh book "
                             f"(STRATOPS_LIVE__{key}=sqlite:///.stratops/<new name>.db) or "
                             "delete that store if its history is not needed") from exc

    def market(bar: Any) -> None:
        exchange.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)

    if mode != "shadow":  # real orders only under approved gates, policy and risk limits
        assert svc is not None
        problems = svc.config_problems()
        if problems:
            raise LiveSetupError(f"{mode} refused: " + "; ".join(problems))
    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    limits = load_risk_limits(settings.path(settings.governance.risk_file),
                              set(policy.rules.symbols), set(STRATEGIES))
    capital = {d.strategy: policy.capital_for(d.strategy, mode) or
               policy.capital_for(d.strategy, "live") for d in deployed}
    runner = Runner(journal=journal, broker=exchange,
                    deployed=deployed, mode=mode, clock=utc_now, market=market,
                    policy=policy, max_sessions=settings.live.max_history_sessions,
                    risk=PreTradeRiskEngine(limits, policy),
                    guardrails=Guardrails(limits, capital),
                    kill_commands=lambda last: verified_commands(engine, directory, last,
                                                                 clock=utc_now),
                    insane_fill_pct=limits.post_trade.insane_fill_pct)
    return LiveRun(runner, exchange, refused, frame, notes, live_feed)


def _market_feed(settings: Settings, kind: str, arg: str, symbols: list[str],
                 deployed: list[Any]) -> Any:
    """The ``kite`` live feed or a recorded day's tick replay (one venue per session)."""
    from stratops.market_ops import kite_feed, recorded_feed

    venues = sorted({d.venue for d in deployed})
    if len(venues) != 1:
        raise LiveSetupError(f"--feed {kind} serves one venue per session; the versions "
                             f"trade on {venues}")
    if kind == "kite":
        return kite_feed(settings, symbols, venues[0])
    return recorded_feed(settings, arg, symbols, venues[0])


def _governance(settings: Settings, candidates: bool, mode: str) -> tuple[Any, Any, Any]:
    """(service, trusted directory, governance engine). Approved versions need the trust
    lock; a shadow run of unapproved candidates runs without one, and then no desk command
    verifies: kills still apply (fail closed), re-arms are ignored."""
    from live.db import make_engine
    from live.governance.trust import TrustError
    from stratops.governance_ops import service

    try:
        svc = service(settings)
    except TrustError as exc:
        if not candidates:
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
