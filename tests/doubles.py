"""Test doubles that production code must not ship: a risk engine that allows everything
(:class:`PassThroughRisk`) and a count of the paper exchange's raw submit attempts
(:func:`submitted_count`).

They live here, not in ``live/``, because only tests and benchmarks use them: a risk engine
that allows every order has no place in the package that trades (the runner has no default
risk engine, so no code path there trades unchecked by omission), and the attempt count reads
the paper exchange's private store, which the exchange's own interface does not expose.
Benchmarks import them from here too (run with the repo root on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from live.adapters.paper import store
from live.adapters.paper.exchange import PaperExchange
from live.risk.interface import OrderProposal, RiskDecision
from live.state import LiveState


class PassThroughRisk:
    """A :class:`~live.risk.interface.RiskEngine` that allows everything (each check
    journaled as ``pass_through``): a reference for tests and benchmarks that isolate the
    runner from the risk checks. Production code has none: the runner has no default risk
    engine - its caller must pass one (``stratops live run`` passes
    :class:`~live.risk.pretrade.PreTradeRiskEngine`)."""

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        return RiskDecision(True, "pass_through", "no risk engine configured")

    def remember(self, proposal: OrderProposal) -> None:
        return None

    def memory(self) -> dict[str, Any]:
        """Nothing remembered (a runner snapshot's part)."""
        return {}

    def restore_memory(self, memory: dict[str, Any]) -> None:
        """Nothing to take back."""
        return None


_ATTEMPTS_OF = sa.select(sa.func.count()).select_from(store.attempts).where(
    store.attempts.c.client_key == sa.bindparam("a_key"))


def submitted_count(exchange: PaperExchange, client_key: str) -> int:
    """Raw submit attempts with ``client_key`` at ``exchange``, duplicates and unanswered
    ones included (it sees through faults). Reaches into the exchange's internals: its
    private ``_begin()`` transaction and its store's ``attempts`` table (the SQL
    ``_ATTEMPTS_OF`` here)."""
    with exchange._begin() as conn:
        return int(conn.execute(_ATTEMPTS_OF, {"a_key": client_key}).one()[0])


def spy_preloads(monkeypatch: Any) -> list[Any]:
    """The runners :func:`live.runner.preload.preload` is called for from now on (it still
    runs): a session start's warm-up, seen by the tests of the paths that must call it."""
    from live.runner import preload as module

    seen: list[Any] = []
    real = module.preload

    def spy(runner: Any) -> Any:
        seen.append(runner)
        return real(runner)

    monkeypatch.setattr(module, "preload", spy)
    return seen
