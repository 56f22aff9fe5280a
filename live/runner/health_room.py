"""The runner's strategy health monitor: each closed trade of a version that carries a
health expectation (research's OOS trade statistics, :mod:`strategies.health`) is folded
into two CUSUMs - P&L per trade and hit ratio - and journaled as ``HealthObserved``; the
version's fills since the last observation (each fill's arrival slippage against its
intent, the TCA definition of :mod:`live.tca.metrics`, less research's slippage per fill)
are folded into a third CUSUM at the same observation (``fills``, ``cusum_slip``).

A breach (either CUSUM over its threshold, policy.yaml ``signal_governance.health``):

1. the strategy's kill switch goes to **halt** through the controls room
   (:meth:`Controls.switch`, actor ``health_monitor``): new entries stop, exits and
   protective orders flow, and only a maker/checker re-arm lifts it, like any kill;
2. in live mode, a **rollback request** is filed through the maker/checker flow (signed by
   the runner's service identity; a desk head approves it with ``stratops promote approve
   R<n>``; the monitor never moves an alias itself). A canary or shadow run proposes none:
   its version is not the live one;
3. an ``ERROR`` alert ``health_breach`` names the statistics and the request;
4. ``HealthObserved`` records the trade with the breach and the request (the CUSUMs restart
   at zero).

Restart-safe: the statistics are folded back from the journal's ``HealthObserved`` events
(and the snapshot's fold memory); fills journaled after a strategy's last
``HealthObserved`` are folded back as pending (every fill journaled before it was in it); a
``TradeExited`` journaled without its ``HealthObserved``
(a crash in between) is observed again at the next bar - the halt is idempotent, the
rollback request is not filed twice (the governance returns the pending one) and the alert
is deduplicated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from live.broker import Side
from live.events import HealthObserved, OrderFilled, Severity, TradeExited, TradingMode
from live.runner.core import RunnerCore
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from strategies.errors import StratopsError
from strategies.health import HealthLimits, HealthState, observe, slippage_excess_bps

HEALTH_ACTOR = "health_monitor"
HEALTH_ALERT = "health_breach"

#: ``(strategy, version, reason) -> request ref`` (``R12``): files a rollback request.
RollbackProposer = Callable[[str, int, str], str]


def _exit_key(event: TradeExited | HealthObserved) -> tuple[str, str, str, str]:
    return (event.trace_id, event.ts_event.isoformat(), event.strategy, event.symbol)


class HealthRoom(RunnerCore):
    """CUSUM health of each monitored strategy, holds and rollback proposals on a breach."""

    health_limits: HealthLimits | None  # None: the monitor is off
    propose_rollback: RollbackProposer | None  # None: no governance store to file in
    health: dict[str, HealthState]
    health_pending: list[TradeExited]
    health_fills: dict[str, list[float]]  # strategy -> excess slippage (bps) not yet observed

    def listen_for_exits(self) -> None:
        """Subscribe to the bus (once, at construction)."""
        self.bus.subscribe(TradeExited.KIND, self.note_exit)  # type: ignore[arg-type]

    def monitored(self, strategy: str) -> Deployed | None:
        """The deployment whose trades are watched (None: not monitored)."""
        if self.health_limits is None:
            return None
        for d in self.deployed:
            if d.strategy == strategy:
                return d if self.health_limits.problem(d.health) is None else None
        return None

    def note_exit(self, event: TradeExited) -> None:
        """A closed trade (live, or folded back from the journal) waiting to be observed."""
        if self.monitored(event.strategy) is not None:
            self.health_pending.append(event)

    def note_fill_slippage(self, fill: OrderFilled) -> None:
        """A journaled fill (live, or folded back) of a monitored strategy: its arrival
        slippage (against the close known at its intent, a protective order's trigger or
        limit; :mod:`live.tca.metrics`) less research's, waiting to be observed. A fill
        whose intent or arrival is unknown is skipped (nothing to measure it against)."""
        intent = self.executor.intents.get(fill.client_key)
        if intent is None:
            return
        d = self.monitored(intent.strategy)
        if d is None or d.health is None:
            return
        arrival = (intent.trigger_price if intent.trigger_price is not None
                   else intent.limit_price) if intent.protective else \
            self.symbol_history(intent.symbol).close_at(intent.ts_event)
        if arrival is None or not arrival > 0.0:
            return
        side = 1 if fill.side is Side.BUY else -1
        self.health_fills.setdefault(d.strategy, []).append(
            slippage_excess_bps(side, fill.price, arrival, d.health))

    def note_health(self, event: HealthObserved) -> None:
        """A journaled observation folded back: the statistics after it (every fill of the
        strategy journaled before it was folded into it)."""
        self.health[event.strategy] = HealthState(event.trades, event.cusum_pnl,
                                                  event.cusum_hit, event.cusum_slip,
                                                  event.fills)
        self.health_fills.pop(event.strategy, None)
        key = _exit_key(event)
        self.health_pending = [e for e in self.health_pending if _exit_key(e) != key]

    def health_check(self, bar: FeedBar) -> None:
        """Observe every closed trade not yet observed; halt and propose on a breach."""
        if self.health_limits is None:
            self.health_pending.clear()
            return
        pending, self.health_pending = self.health_pending, []
        for exited in pending:
            d = self.monitored(exited.strategy)
            if d is None or d.health is None:
                continue
            before = self.health.get(d.strategy, HealthState())
            fills = self.health_fills.pop(d.strategy, [])
            step = observe(before, exited.pnl_inr, d.health, d.rules_for(exited.symbol).qty,
                           self.health_limits, fills)
            breach, proposal = "; ".join(step.breaches), ""
            if breach:
                proposal = self._breach(d, bar, exited, breach)
            event = HealthObserved(
                trace_id=exited.trace_id, ts_event=exited.ts_event, strategy=d.strategy,
                symbol=exited.symbol, version=d.version, trades=step.state.trades,
                pnl_inr=exited.pnl_inr, z=step.z, cusum_pnl=step.state.cusum_pnl,
                cusum_hit=step.state.cusum_hit, cusum_slip=step.state.cusum_slip,
                fills=step.state.fills, fills_observed=len(fills), breach=breach,
                proposal=proposal)
            self.executor.record(event)
            self.health[d.strategy] = step.state

    def _breach(self, d: Deployed, bar: FeedBar, exited: TradeExited, breach: str) -> str:
        what = f"{d.strategy} v{d.version}: edge decay against research's expectation: {breach}"
        self.switch(bar, d.strategy, "halt", HEALTH_ACTOR, f"health: {what}",
                    trace=exited.trace_id)
        proposal = self._propose(d, what)
        self.alert(bar.ts, Severity.ERROR, HEALTH_ALERT,
                   f"{what}; new entries halted until a maker/checker re-arm; {proposal}",
                   trace_id=exited.trace_id)
        return proposal

    def _propose(self, d: Deployed, what: str) -> str:
        """File the rollback request (live mode only); what became of it, in words."""
        if self.mode is not TradingMode.LIVE:
            return (f"no rollback proposed: a {self.mode.value} run's version is not the "
                    "live one")
        if self.propose_rollback is None:
            return "no rollback proposed: the runner has no governance store to file it in"
        try:
            # a member trades under its ensemble's approval: that is what rolls back
            ref = self.propose_rollback(*((d.strategy, d.version) if d.ensemble is None else
                                          (d.ensemble.name, d.ensemble.version)),
                                        f"health_monitor: {what}")
        except (StratopsError, LookupError, OSError, ValueError) as exc:
            return f"rollback request NOT filed: {exc}"
        return (f"rollback request {ref} filed; a desk head approves it: "
                f"stratops promote approve {ref}")

    def health_memory(self) -> dict[str, Any]:
        """The monitor's fold-derived memory as plain data (the snapshot's part)."""
        return {"state": {s: [h.trades, h.cusum_pnl, h.cusum_hit, h.cusum_slip, h.fills]
                          for s, h in sorted(self.health.items())},
                "fills": {s: list(v) for s, v in sorted(self.health_fills.items()) if v},
                "pending": [[e.trace_id, e.ts_event.isoformat(), e.strategy, e.symbol,
                             e.reason, e.pnl_inr] for e in self.health_pending]}

    def restore_health(self, memory: dict[str, Any] | None) -> None:
        """Put :meth:`health_memory`'s data back (None: a snapshot written before it)."""
        if memory is None:
            return
        from datetime import datetime

        state = {str(s): HealthState(int(v[0]), float(v[1]), float(v[2]),
                                     float(v[3]) if len(v) > 3 else 0.0,
                                     int(v[4]) if len(v) > 4 else 0)
                 for s, v in memory["state"].items()}
        self.health_fills.clear()
        self.health_fills.update({str(s): [float(x) for x in v]
                                  for s, v in memory.get("fills", {}).items()})
        pending = [TradeExited(trace_id=str(t), ts_event=datetime.fromisoformat(ts),
                               strategy=str(s), symbol=str(sym), reason=str(r),
                               pnl_inr=float(pnl))
                   for t, ts, s, sym, r, pnl in memory["pending"]]
        self.health.update(state)
        self.health_pending[:] = pending
