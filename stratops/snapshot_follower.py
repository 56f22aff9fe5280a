"""The snapshot follower of ``stratops live run`` as picklable configuration, so the
``process`` snapshot writer (:mod:`live.runner.snapshot_process`) can build it in its own
interpreter.

The follower is the never-trading runner whose fold is snapshotted with the runner's memory
(:mod:`live.runner.snapshotting`). ``live run`` used to build it as a closure over the live
setup (broker, governance store, kill-command reader), which cannot reach a spawned child,
so the writer thread was used instead. :class:`FollowerConfig` holds only data - the mode,
the verified versions the runner trades (exactly those objects: nothing is re-verified, so
nothing is audited twice and no signature check is skipped), the loaded policy, risk limits,
capital, cost rates, contract book, compliance, anomaly, playbook and signal-governance
settings - and :func:`follower_runner` builds the follower from it over a journal.

What a follower never needs is left out on purpose: the broker (a :class:`FollowerBroker`
that refuses every call stands in: the child never opens the broker and never sends
anything), the market callback, the desk's kill-command reader, the pager, the rollback
proposer (they act on live bars, never in a fold), and the pre-trade engine's portfolio caps
and impact budget (asked only to check an order; a fold only replays the engine's memory).
The trading runner and its follower must fold alike: the existing fingerprint check
(:func:`~live.runner.fold_memory.fold_fingerprint`, compared by
:class:`~live.runner.snapshotting.SnapshotCadence`) alerts and drops a child whose follower
differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from strategies.errors import StratopsError

if TYPE_CHECKING:
    from live.journal import Journal
    from live.runner.runner import Runner


class FollowerBrokerError(StratopsError, RuntimeError):
    """The snapshot follower was asked to reach the broker: it never trades."""


class FollowerBroker:
    """The follower's broker: every call refused (:class:`FollowerBrokerError`), so a
    follower - in the writer process or thread - can never send, modify, cancel or ask."""

    def __init__(self, name: str, supports_oco: bool = False) -> None:
        self.name = name
        self.supports_oco = supports_oco  # the real broker's: the same versions load

    def _refuse(self, what: str) -> NoReturn:
        raise FollowerBrokerError(f"the snapshot follower asked the broker to {what}: a "
                                  "follower only folds the journal, it never trades")

    def submit(self, request: Any) -> NoReturn:
        self._refuse("submit an order")

    def modify(self, broker_order_id: str, **changes: Any) -> NoReturn:
        self._refuse(f"modify order {broker_order_id}")

    def cancel(self, broker_order_id: str) -> NoReturn:
        self._refuse(f"cancel order {broker_order_id}")

    def status(self, **ids: Any) -> NoReturn:
        self._refuse("report an order's status")

    def orders(self) -> NoReturn:
        self._refuse("list its orders")

    def fills(self) -> NoReturn:
        self._refuse("list its fills")

    def positions(self) -> NoReturn:
        self._refuse("list its positions")


@dataclass(frozen=True, slots=True)
class FollowerConfig:
    """Everything the follower is built from, as picklable data (see the module)."""

    mode: str
    broker_name: str
    broker_oco: bool  # the real broker's supports_oco (the runner checks it at load)
    deployed: Sequence[Any]
    policy: Any
    limits: Any
    compliance: Any  # the compliance controls' configuration (None: none)
    capital: Any
    costs: Any
    contracts: Any
    max_sessions: int
    retry: Any  # settings.live.execution.retry
    anomaly: Any
    playbooks: Any
    surveillance: Any
    drift_limits: Any
    health_limits: Any
    ensemble: Any
    sizing: Any


def follower_runner(config: FollowerConfig, journal: Journal) -> Runner:
    """The never-trading follower of ``config`` over ``journal`` (the trading runner's
    journal, or the writer process's own connection to it): a module-level function, so
    ``functools.partial(follower_runner, config)`` is the ``process`` writer's recipe."""
    import time

    from live.orders.retry import Retrier
    from live.risk.guardrails import Guardrails
    from live.risk.pretrade import PreTradeRiskEngine
    from live.runner.runner import Runner
    from stratops import compliance_setup
    from stratops.governance_ops import utc_now

    limits = config.limits
    return Runner(journal=journal, broker=FollowerBroker(config.broker_name, config.broker_oco),
                  deployed=list(config.deployed), mode=config.mode, clock=utc_now,
                  policy=config.policy, max_sessions=config.max_sessions,
                  risk=PreTradeRiskEngine(limits, config.policy,
                                          compliance=compliance_setup.controls(
                                              config.compliance, config.mode)),
                  guardrails=Guardrails(limits, config.capital, costs=config.costs),
                  insane_fill_pct=limits.post_trade.insane_fill_pct,
                  order_rules=limits.orders, price_band_pct=limits.pre_trade.price_band_pct,
                  contracts=config.contracts,
                  retrier=Retrier(config.retry, sleep=time.sleep, monotonic_s=time.monotonic),
                  anomaly=config.anomaly, playbooks=config.playbooks,
                  surveillance=config.surveillance, drift_limits=config.drift_limits,
                  health_limits=config.health_limits, ensemble=config.ensemble,
                  sizing=config.sizing)


__all__ = ["FollowerBroker", "FollowerBrokerError", "FollowerConfig", "follower_runner"]
