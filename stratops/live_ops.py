"""Assemble a runner from settings: journal, broker, market, deployments, policy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from stratops.governance_ops import utc_now
from stratops.settings import Settings, load_settings

MODES = ("shadow", "canary", "live")


class LiveSetupError(ValueError):
    """A live run that cannot start (bad mode, nothing deployed, mixed fill models)."""


def journal_url(settings: Settings, mode: str) -> str:
    return settings.live.journal_url.replace("{mode}", mode)


def open_mode_journal(settings: Settings, mode: str):
    from live.journal import open_journal

    return open_journal(journal_url(settings, mode), settings.root, clock=utc_now)


@dataclass
class LiveRun:
    runner: Any
    exchange: Any
    refused: list[Any]
    frame: Any


def _fill_model(deployed: list[Any]):
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
    from live.adapters.paper import PaperExchange
    from live.db import make_engine
    from live.governance.kill import commands_after
    from live.governance.policy import load_policy
    from live.risk.guardrails import Guardrails
    from live.risk.limits import load_risk_limits
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.deployments import load_candidates, load_deployed
    from live.runner.engine import Runner
    from live.runner.feed import parse_feed, replay_frame
    from pipelines.datasets.catalog import find_dataset
    from strategies.registry import STRATEGIES
    from stratops.governance_ops import service

    settings = settings or load_settings()
    if mode not in MODES:
        raise LiveSetupError(f"--mode {mode!r}: one of {MODES}")
    if candidates and mode != "shadow":
        raise LiveSetupError("--candidates (unapproved research versions) is shadow-only")
    svc = service(settings)
    if candidates:
        deployed, refused = load_candidates(svc.registry, strategies)
    else:
        deployed, refused = load_deployed(svc, mode, strategies)
    if not deployed:
        why = "; ".join(f"{r.strategy}: {r.reason}" for r in refused) or \
            f"no approved {mode} deployment (stratops promote status)"
        raise LiveSetupError(f"nothing to trade in {mode} mode: {why}")
    dataset = find_dataset(settings.root, parse_feed(feed))
    symbols = sorted({s for d in deployed for s in d.symbols})
    frame = replay_frame(dataset.path, symbols, start, end)
    url = settings.live.shadow_exchange_url if mode == "shadow" else \
        settings.live.paper_exchange_url
    exchange = PaperExchange(make_engine(url, settings.root), seed=settings.live.paper_seed,
                             fill_model=_fill_model(deployed))

    def market(bar: Any) -> None:
        exchange.on_bar(bar.symbol, bar.ts, bar.open, bar.high, bar.low, bar.close)

    if mode != "shadow":  # real orders only under approved gates, policy and risk limits
        problems = svc.configs.unapproved()
        if problems:
            raise LiveSetupError(f"{mode} refused: " + "; ".join(problems))
    policy = load_policy(settings.path(settings.governance.policy_file), set(STRATEGIES))
    limits = load_risk_limits(settings.path("risk.yaml"), set(policy.rules.symbols),
                              set(STRATEGIES))
    capital = {d.strategy: policy.capital_for(d.strategy, mode) or
               policy.capital_for(d.strategy, "live") for d in deployed}
    runner = Runner(journal=open_mode_journal(settings, mode), broker=exchange,
                    deployed=deployed, mode=mode, clock=utc_now, market=market,
                    policy=policy, max_sessions=settings.live.max_history_sessions,
                    risk=PreTradeRiskEngine(limits, policy),
                    guardrails=Guardrails(limits, capital),
                    kill_commands=lambda last: commands_after(svc.engine, last),
                    insane_fill_pct=limits.post_trade.insane_fill_pct)
    return LiveRun(runner, exchange, refused, frame)


def pacing(speed: float) -> Callable[[], None] | None:
    """Sleep between bars to replay at ``speed`` x real time (1-minute bars); 0 = flat out."""
    if speed <= 0:
        return None
    return lambda: time.sleep(60.0 / speed)
