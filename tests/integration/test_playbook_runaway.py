"""A playbook reacts to a runaway strategy end to end on the paper exchange: a minimal
order-rate condition in the test's feed loop raises ``runaway_order_rate`` through the
runner's own alert path; the runner's remediation room pauses or flattens the strategy
through the kill switch, journaled under the alert's trace; the rate limit holds across a
restart; a confirm-first playbook waits for a signed confirmation (a desk head's kill
command through the real governance store). No mocks: journal, paper exchange and
governance store are SQLite files, the keys real Ed25519 keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from live.adapters.paper import FillModel, PaperExchange
from live.anomaly.base import SIGNAL_FLIP_FLOP, AnomalyThresholds
from live.db import make_engine
from live.events import (
    AlertRaised,
    GovernanceDecided,
    KillMode,
    KillSwitchChanged,
    OrderIntended,
    PlaybookActed,
    Severity,
)
from live.governance.configs import ConfigFiles
from live.governance.identity import create_keys, load_actor, load_directory
from live.governance.kill import verified_commands
from live.governance.promotion import GovernanceRefusal, GovernanceService, Signer
from live.journal import Journal, open_journal
from live.playbooks.confirm import Proposals, confirm
from live.playbooks.spec import Playbooks, parse_playbooks
from live.runner.deployments import build
from live.runner.feed import FeedBar, replay_bars, replay_frame
from live.runner.runner import Runner
from strategies.params import get_params
from strategies.roster import STRATEGIES, get_strategy
from strategies.version_config import VersionConfig
from tests.doubles import PassThroughRisk
from tests.synthetic_datasets import nse_index_1m_path

pytestmark = pytest.mark.integration
STRATEGY = "ema_cross"
RUNAWAY = 2  # intents of the strategy within WINDOW_BARS bars: a runaway (the test's rule)
WINDOW_BARS = 30


def clock() -> datetime:
    return datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


@functools.cache
def bars() -> list[FeedBar]:
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 3, 3), date(2025, 3, 3))
    assert isinstance(frame, pd.DataFrame)
    return list(replay_bars(frame))[:120]


def playbooks(mode: str = "auto", action: str = "pause", max_actions: int = 1,
              code: str = "runaway_order_rate") -> Playbooks:
    return parse_playbooks({"version": 1, "playbooks": [{
        "name": "runaway", "when": {"codes": [code]}, "action": action,
        "scope": "alert", "mode": mode,
        "rate_limit": {"max_actions": max_actions, "window_seconds": 3600}}]},
        "playbooks.yaml", known_strategies=set(STRATEGIES))


@dataclass
class Desk:
    """Journal, paper exchange and (for confirmations) a governance store in one folder."""

    folder: Path
    book: Playbooks
    kill_commands: Callable[[int], list[Any]] | None = None
    anomaly: AnomalyThresholds | None = None

    def journal(self) -> Journal:
        return open_journal(f"sqlite:///{self.folder / 'journal.db'}", clock=clock)

    def runner(self) -> Runner:
        exchange = PaperExchange(make_engine(f"sqlite:///{self.folder / 'exchange.db'}"),
                                 seed=3, fill_model=FillModel(fill="next_open",
                                                              slippage_ticks=1.0,
                                                              tick_size=0.05))
        spec = get_strategy(STRATEGY)
        config = {"strategy": STRATEGY, "params": get_params(spec.default_params()),
                  "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
                  "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0,
                          "tick_size": 0.05}}
        deployed = build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)
        runner = Runner(journal=self.journal(), broker=exchange, deployed=[deployed],
                        mode="live", clock=clock, risk=PassThroughRisk(),
                        kill_commands=self.kill_commands, playbooks=self.book,
                        anomaly=self.anomaly,
                        market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high,
                                                         b.low, b.close))
        runner.recover()
        return runner

    def messages(self, kind: type) -> list[Any]:
        return [m for _, m in self.journal().read() if isinstance(m, kind)]


def run_with_detector(runner: Runner, feed: list[FeedBar], *, alerts: int = 1,
                      stop: bool = False) -> int:
    """Feed bars one at a time; when the strategy intended RUNAWAY orders within
    WINDOW_BARS bars, raise ``runaway_order_rate`` through the runner (up to ``alerts``
    times, on separate bars; ``stop``: stop feeding at the first); the index of the first
    alert's bar (-1: none)."""
    seen: list[int] = []
    first, raised = -1, 0
    for i, bar in enumerate(feed):
        runner.run([bar])
        seen.append(runner.summary.intents)
        recent = seen[-1] - (seen[-WINDOW_BARS - 1] if len(seen) > WINDOW_BARS else 0)
        if raised < alerts and recent >= RUNAWAY:
            runner.alert(bar.ts, Severity.CRITICAL, "runaway_order_rate",
                         f"{STRATEGY}: {recent} orders in {WINDOW_BARS} bars")
            raised += 1
            first = i if first < 0 else first
            seen.clear()  # the next alert needs a new burst
            if stop:
                break
    return first


def _playbook_switches(desk: Desk) -> list[KillSwitchChanged]:
    return [k for k in desk.messages(KillSwitchChanged) if k.actor.startswith("playbook:")]


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> tuple[Desk, int]:
    desk = Desk(tmp_path_factory.mktemp("paused"), playbooks())
    at = run_with_detector(desk.runner(), bars(), alerts=2)
    return desk, at


def test_runaway_pause_halts_the_strategy_under_the_alerts_trace(
        paused: tuple[Desk, int]) -> None:
    desk, at = paused
    alert = next(a for a in desk.messages(AlertRaised) if a.code == "runaway_order_rate")
    (switch,) = _playbook_switches(desk)
    assert at >= 0
    assert (switch.scope, switch.mode, switch.trace_id) == (STRATEGY, KillMode.HALT,
                                                            alert.trace_id)


def test_runaway_pause_is_journaled_as_applied_under_the_alerts_trace(
        paused: tuple[Desk, int]) -> None:
    desk, _ = paused
    first = next(a for a in desk.messages(AlertRaised) if a.code == "runaway_order_rate")
    acted = [p for p in desk.messages(PlaybookActed) if p.trace_id == first.trace_id]
    assert [(p.outcome, p.action, p.scope) for p in acted] == [("applied", "pause", STRATEGY)]


def test_runaway_pause_denies_entries_and_lets_exits_flow(paused: tuple[Desk, int]) -> None:
    desk, at = paused
    after = bars()[at].ts
    verdicts = [d for d in desk.messages(GovernanceDecided) if d.ts_event > after]
    denied = {d.reason for d in verdicts if not d.allowed}
    allowed = {d.reason for d in verdicts if d.allowed}
    assert denied == {"kill switch: halt"}
    assert allowed <= {"live v1: exits flow under kill switch halt"}


def test_runaway_second_alert_inside_the_window_is_rate_limited(
        paused: tuple[Desk, int]) -> None:
    desk, _ = paused
    outcomes = [p.outcome for p in desk.messages(PlaybookActed)]
    assert outcomes == ["applied", "rate_limited"]


def test_flip_flop_detector_alert_pauses_the_strategy_through_the_real_path(
        tmp_path: Path) -> None:
    """No alert raised by the test: the runner's own flip-flop detector (live.anomaly) finds
    the strategy flipping (short at bar 22, long at 30, short at 32) and the playbook halts
    it under the detector's alert trace."""
    desk = Desk(tmp_path, playbooks(code=SIGNAL_FLIP_FLOP),
                anomaly=AnomalyThresholds(max_direction_changes=1))
    desk.runner().run(bars()[:45])
    (alert,) = [a for a in desk.messages(AlertRaised) if a.code == SIGNAL_FLIP_FLOP]
    (switch,) = _playbook_switches(desk)
    acted = [(p.outcome, p.action, p.scope) for p in desk.messages(PlaybookActed)]
    assert (switch.scope, switch.mode, switch.trace_id) == (STRATEGY, KillMode.HALT,
                                                            alert.trace_id)
    assert acted == [("applied", "pause", STRATEGY)]


def test_runaway_flatten_leaves_the_strategy_flat(tmp_path: Path) -> None:
    desk = Desk(tmp_path, playbooks(action="flatten"))
    runner = desk.runner()
    at = run_with_detector(runner, bars(), stop=True)
    held = runner.net(STRATEGY, "NIFTY")
    runner.run(bars()[at + 1:at + 3])  # acted on at the next bar; its exit fills after it
    (switch,) = _playbook_switches(desk)
    after = [(o.side.value, o.qty) for o in desk.messages(OrderIntended)
             if o.ts_event >= switch.ts_event]
    assert held != 0 and runner.net(STRATEGY, "NIFTY") == 0
    assert len(after) == 1 and after[0][1] == 75  # one exit of the one lot held
    assert runner.state.kill_switches[STRATEGY] is KillMode.FLATTEN


def test_runaway_restart_keeps_the_rate_limit(tmp_path: Path) -> None:
    desk = Desk(tmp_path, playbooks())
    run_with_detector(desk.runner(), bars()[:60])
    restarted = desk.runner()  # a new process: the rate limit comes back from the journal
    restarted.alert(bars()[60].ts, Severity.CRITICAL, "runaway_order_rate",
                    f"{STRATEGY}: again")
    restarted.run([bars()[60]])
    assert [p.outcome for p in desk.messages(PlaybookActed)] == ["applied", "rate_limited"]


# --- confirm-first ----------------------------------------------------------------------


@dataclass
class Governance:
    svc: GovernanceService
    engine: Any
    directory: Any
    keys: Path

    def signer(self, user: str) -> Signer:
        actor = load_actor(self.directory, user, self.keys)
        return lambda payload: actor.sign(payload, now=clock(), ttl_seconds=900)


def governance(root: Path) -> Governance:
    keys, users = root / "keys", {}
    for name, roles in (("dana", ["desk_head"]), ("quinn", ["quant"])):
        users[name] = {"roles": roles, "public_key": create_keys(name, keys)[1]}
    (root / "roles.yaml").write_text(yaml.safe_dump({"version": 1, "users": users}))
    directory = load_directory(root / "roles.yaml")
    engine = make_engine(f"sqlite:///{root / 'governance.db'}")
    svc = GovernanceService(engine=engine, directory=directory, registry=None,  # type: ignore[arg-type]
                            configs=ConfigFiles(engine, {}), clock=clock,
                            known_strategies=set(STRATEGIES))
    return Governance(svc, engine, directory, keys)


@pytest.fixture(scope="module")
def proposed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Desk, Governance, Runner, int]:
    root = tmp_path_factory.mktemp("confirm")
    gov = governance(root)
    desk = Desk(root, playbooks(mode="confirm"),
                kill_commands=lambda last: verified_commands(gov.engine, gov.directory, last))
    runner = desk.runner()
    at = run_with_detector(runner, bars()[:80])
    return desk, gov, runner, at


def test_confirm_mode_proposes_and_applies_nothing(
        proposed: tuple[Desk, Governance, Runner, int]) -> None:
    desk, _, runner, _ = proposed
    (proposal,) = [p for p in desk.messages(PlaybookActed)]
    assert (proposal.outcome, proposal.proposal[:2]) == ("proposed", "PB")
    assert _playbook_switches(desk) == [] and STRATEGY not in runner.state.kill_switches


def test_confirm_by_a_quant_is_refused(
        proposed: tuple[Desk, Governance, Runner, int]) -> None:
    desk, gov, _, _ = proposed
    proposals = Proposals.from_journal(desk.journal().read())
    with pytest.raises(GovernanceRefusal, match="quinn"):
        confirm(gov.svc, proposals, proposals.waiting()[0].proposal, gov.signer("quinn"))


def test_confirm_of_an_unknown_proposal_is_refused(
        proposed: tuple[Desk, Governance, Runner, int]) -> None:
    desk, gov, _, _ = proposed
    with pytest.raises(GovernanceRefusal, match="PB0000000000"):
        confirm(gov.svc, Proposals.from_journal(desk.journal().read()), "PB0000000000",
                gov.signer("dana"))


def test_confirm_signed_by_a_desk_head_pauses_under_the_alerts_trace(
        proposed: tuple[Desk, Governance, Runner, int]) -> None:
    desk, gov, runner, _ = proposed
    proposals = Proposals.from_journal(desk.journal().read())
    (waiting,) = proposals.waiting()
    command = confirm(gov.svc, proposals, waiting.proposal, gov.signer("dana"))
    runner.run([bars()[80]])
    confirmed = [p for p in desk.messages(PlaybookActed) if p.outcome == "confirmed"]
    switch = [k for k in desk.messages(KillSwitchChanged) if k.scope == STRATEGY]
    assert [(c.trace_id, c.proposal) for c in confirmed] == [(waiting.trace_id,
                                                              waiting.proposal)]
    assert [(k.mode, k.actor, k.reason.split(":")[0]) for k in switch] == [
        (KillMode.HALT, "dana", f"K{command}")]

