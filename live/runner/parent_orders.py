"""Working an entry as a parent order: the version's execution algo (:mod:`live.algos`)
plans its children; each bar the child due is risk-checked (the same ``CheckRisk`` path as
a slice) and intended on the parent's trace with a key derived from it, as a limit at the
close +/- ``limit_offset_ticks`` (never worse than the arrival price by
``slippage_guard_bps``: such a child is held and alerted). An unfilled child is cancelled
when the next one is due and its quantity rolls into it (re-priced). At the deadline the
remainder goes at market or is cancelled (``on_deadline``) and ``ParentOrderFinished``
reports it, with an alert when a remainder was left.

Exits, protective orders and kill-switch flattens never come here (the urgent market path);
an exit or a kill switch stops the parent. All parent state is in the journal
(``ParentOrderStarted``, the children's intents, ``ParentOrderFinished``): a restart folds
it back and a child already intended is never sent again.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from live.algos.profile import VolumeProfile, VolumeProfileError
from live.algos.schedules import AlgoDeadlineError, plan_schedule
from live.broker import OrderType, Side
from live.events import (
    OrderIntended,
    ParentOrderFinished,
    ParentOrderStarted,
    Severity,
    client_key,
)
from live.orders.prices import fit_to_band
from live.risk.interface import RiskDecision
from live.runner.decisions import Decision
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.runner.risk_gate import contract_field
from live.runner.slicing import OrderSlicer
from live.state import OrderStatus, active_parents, crossed_into, unfinished_crosses
from strategies.algo_spec import AlgoParamError, AlgoSpec
from strategies.instruments import Contract

CHILD_LEG_BASE = 2_000_000  # far from the slices' legs (1_000_000 + i) and protective legs
FINAL_CHILD = 999_999  # the deadline's market order: leg CHILD_LEG_BASE + FINAL_CHILD


def child_key(trace_id: str, index: int) -> str:
    """The client key of child ``index`` of the parent traced ``trace_id``."""
    return client_key(trace_id, CHILD_LEG_BASE + index)


def parent_seed(trace_id: str) -> int:
    """The seed of a parent's randomised schedule: derived from its trace (reproducible)."""
    return int.from_bytes(hashlib.sha256(trace_id.encode()).digest()[:8], "big")


def schedule_of(started: ParentOrderStarted) -> list[tuple[int, datetime]]:
    """The journaled plan: (qty, not-before) of each child."""
    out = []
    for item in started.schedule:
        qty, _, when = item.partition("@")
        out.append((int(qty), datetime.fromisoformat(when)))
    return out


class ParentOrders(OrderSlicer):
    """Starts parent orders and works their children each bar."""

    entries: dict[tuple[str, str, object], int]  # entries per (strategy, symbol, day)

    if TYPE_CHECKING:  # the loop's and the pipeline's
        def _must_be_flat(self, d: Deployed, bar: FeedBar, history: SymbolHistory
                          ) -> str | None:
            raise NotImplementedError

        def _governance(self, d: Deployed, bar: FeedBar, decision: Decision
                        ) -> tuple[bool, str]:
            raise NotImplementedError

    def start_parent(self, d: Deployed, bar: FeedBar, trace: str, *, side: int, qty: int,
                     day: object | None) -> bool:
        """Plan ``d``'s entry of ``qty`` as a parent and journal it; False (alerted,
        nothing sent) when the plan is refused (deadline after the cutoff, no volume
        history)."""
        spec = d.execution
        start = bar.ts.astimezone(ZoneInfo(d.rules.tz))  # venue-local: the profile's minutes
        deadline = start + timedelta(minutes=spec.horizon_minutes)
        try:
            profile = self._volume_profile(bar) if spec.name in ("vwap", "pov") else None
            plan = plan_schedule(spec, parent_qty=qty, lot_size=d.lot_for(bar.symbol),
                                 start=start, deadline=deadline, seed=parent_seed(trace),
                                 volume_profile=profile, cutoff=self._cutoff_at(d, bar))
        except (AlgoDeadlineError, VolumeProfileError, AlgoParamError) as exc:
            self.summary.denials += 1
            self.alert(bar.ts, Severity.ERROR, "parent_refused",
                       f"{d.strategy}/{bar.symbol}: {spec.name} entry of {qty} refused: "
                       f"{exc}; nothing sent")
            return False
        self.executor.record(ParentOrderStarted(
            trace_id=trace, ts_event=bar.ts, strategy=d.strategy, version=str(d.version),
            symbol=bar.symbol, side=Side.BUY if side > 0 else Side.SELL, qty=qty,
            lot_size=d.lot_for(bar.symbol), algo=json.dumps(spec.to_json(), sort_keys=True),
            arrival_price=bar.close, deadline=deadline,
            schedule=tuple(f"{c.qty}@{c.not_before.isoformat()}" for c in plan)))
        if day is not None:
            self.entries[(d.strategy, bar.symbol, day)] += 1  # one entry, however many children
        self.work_parent(d, bar, self.state.parents[trace])
        return True

    def _cutoff_at(self, d: Deployed, bar: FeedBar) -> datetime | None:
        if d.rules.cutoff is None:
            return None
        tz = ZoneInfo(d.rules.tz)
        return datetime.combine(bar.ts.astimezone(tz).date(), d.rules.cutoff, tzinfo=tz)

    def _volume_profile(self, bar: FeedBar) -> VolumeProfile:
        """The profile of the symbol's earlier sessions in the runner's history."""
        bars = self.symbol_history(bar.symbol).bars()
        if not len(bars):
            raise VolumeProfileError(f"{bar.symbol}: no bars in history to learn a volume "
                                     "profile from")
        earlier = bars.session < bars.session[-1]
        return VolumeProfile.from_bars(list(bars.ts[earlier].to_pydatetime()),
                                       [float(v) for v in bars.volume[earlier]])

    # -- every bar ----------------------------------------------------------------------------

    def work_parents(self, bar: FeedBar) -> None:
        """Send the children due at ``bar`` of every active parent in its symbol."""
        for started in active_parents(self.state):
            if started.symbol != bar.symbol:
                continue
            d = next((x for x in self.deployed if x.strategy == started.strategy), None)
            if d is None:
                self._finish(bar, started, "stopped", "its version is no longer deployed")
            else:
                self.work_parent(d, bar, started)

    def stop_parents(self, strategy: str, bar: FeedBar, why: str) -> None:
        """Stop ``strategy``'s active parents in ``bar.symbol`` (an exit is decided)."""
        for started in active_parents(self.state):
            if started.strategy == strategy and started.symbol == bar.symbol:
                self._finish(bar, started, "stopped", why)

    def work_parent(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted) -> None:
        """The child due now (if any) of one active parent, or its end at the deadline."""
        children = set(self._children(started))
        if any(c.started.resting_key in children for c in unfinished_crosses(self.state)):
            return  # a child crossed internally, not settled yet: its filled part unknown
        why = self._entry_stop(d, bar, started)
        if why is not None:
            self._finish(bar, started, "stopped", why)
            return
        if bar.ts >= started.deadline:
            self._deadline(d, bar, started)
            return
        plan = schedule_of(started)
        due = [i for i, (_, when) in enumerate(plan) if when <= bar.ts]
        if not due or child_key(started.trace_id, due[-1]) in self.state.orders:
            return
        if not self._cancel_children(started, bar, "re-priced: the next child is due"):
            return  # a child the broker did not confirm cancelled: nothing more until known
        target = sum(qty for qty, _ in plan[: due[-1] + 1])
        self._send_child(d, bar, started, due[-1], target - self._filled(started))

    def _entry_stop(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted
                    ) -> str | None:
        """Why no more of the parent may be sent (None: it may): the position must be flat
        (a flatten, the cutoff, the session's end), a protective exit filled since it
        started, or an entry is refused now (a kill switch, a feed hold, the policy's
        window, a lockout)."""
        flat = self._must_be_flat(d, bar, self.symbol_history(bar.symbol))
        if flat is not None:
            return f"must be flat: {flat}"
        stopped = self.protection.fill_ts.get((d.strategy, bar.symbol))
        if stopped is not None and stopped >= started.ts_event:
            return f"a protective exit filled at {stopped.isoformat()}"
        side = 1 if started.side is Side.BUY else -1
        allowed, why = self._governance(d, bar, Decision("enter", side, "algo child"))
        return None if allowed else why

    def _send_child(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted,
                    index: int, qty: int) -> None:
        spec = AlgoSpec.from_mapping(json.loads(started.algo))
        qty = min(qty, self.order_rules.freeze_for(bar.symbol))
        if spec.participation_pct is not None:  # POV: also the bar's realised volume
            qty = min(qty, int(spec.participation_pct / 100.0 * bar.volume))
        lot = d.lot_for(bar.symbol)
        qty = qty // lot * lot  # whole lots; the rest rolls into later ones
        if qty <= 0:
            return
        price = self._child_price(d, bar, started, spec)
        if price is None:
            return
        contract = self.order_contract(started.trace_id, d, bar, reduces=False)
        if isinstance(contract, RiskDecision):
            self.summary.denials += 1
            return
        self._intend(d, bar, started, child_key(started.trace_id, index), qty, index + 1,
                     contract, price)

    def _child_price(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted,
                     spec: AlgoSpec) -> float | None:
        """The child's limit (inside the band, within the slippage guard); None: held."""
        buy = started.side is Side.BUY
        tick = d.tick_for(bar.symbol)
        offset = spec.limit_offset_ticks * tick
        raw = bar.close - offset if buy else bar.close + offset
        ticks = math.floor(raw / tick + 1e-9) if buy else math.ceil(raw / tick - 1e-9)
        price = round(ticks * tick, 10)
        guard = started.arrival_price * spec.slippage_guard_bps / 10_000.0
        worst = started.arrival_price + guard if buy else started.arrival_price - guard
        if (price > worst) if buy else (price < worst):
            self.alert(bar.ts, Severity.WARNING, "child_held",
                       f"{started.strategy}/{bar.symbol}: child at {price:g} is beyond the "
                       f"slippage guard {worst:g} (arrival {started.arrival_price:g} "
                       f"{'+' if buy else '-'} {spec.slippage_guard_bps:g} bps); held")
            return None
        fit = fit_to_band(price, self.price_band(bar.symbol, tick), reduces_exposure=False,
                          what="child limit")
        if fit.price is None:
            self.alert(bar.ts, Severity.WARNING, "child_held",
                       f"{started.strategy}/{bar.symbol}: {fit.reason}; held")
        return fit.price

    def _intend(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted, key: str,
                qty: int, slice_index: int, contract: Contract | None,
                price: float | None) -> bool:
        """Risk-check and intend one child (a limit at ``price``, or at market); True when
        it was intended."""
        side = 1 if started.side is Side.BUY else -1
        market = price is None
        verdict = self.ask_risk(started.trace_id, key, d, bar, side=side, qty=qty,
                                reduces_exposure=False, slice_index=slice_index,
                                order_type="MARKET" if market else "LIMIT",
                                contract=contract, limit_price=price)
        if verdict.disable_strategy:
            self.switch(bar, d.strategy, "halt", "risk_engine",
                        f"{verdict.check}: {verdict.reason} (re-enable: stratops kill rearm)")
        if not verdict.passed:
            self.summary.denials += 1
            self.alert(bar.ts, Severity.WARNING, "child_denied",
                       f"{d.strategy}/{bar.symbol}: child {key} of {qty} denied by "
                       f"{verdict.check}: {verdict.reason}")
            return False
        self.executor.send(OrderIntended(
            trace_id=started.trace_id, ts_event=bar.ts, client_key=key, strategy=d.strategy,
            version=str(d.version), symbol=bar.symbol, exchange=self.exchange,
            side=started.side, qty=qty,
            order_type=OrderType.MARKET if market else OrderType.LIMIT, limit_price=price,
            mode=self.mode, product=d.product,
            market_protection_pct=self.order_rules.market_protection_pct if market else None,
            slice_index=slice_index, slice_count=slice_index + 1, parent_qty=started.qty,
            tradingsymbol=contract_field(contract, "tradingsymbol"),
            expiry=contract_field(contract, "expiry"), algo_id=d.algo_id))
        self.summary.intents += 1
        return True

    # -- the end ------------------------------------------------------------------------------

    def _children(self, started: ParentOrderStarted) -> list[str]:
        keys = [child_key(started.trace_id, i) for i in range(len(started.schedule))]
        keys.append(child_key(started.trace_id, FINAL_CHILD))
        return [k for k in keys if k in self.state.orders]

    def _filled(self, started: ParentOrderStarted) -> int:
        children = self._children(started)
        return sum(self.state.orders[k].filled_qty for k in children) + \
            crossed_into(self.state, set(children))

    def _cancel_children(self, started: ParentOrderStarted, bar: FeedBar, why: str) -> bool:
        """Cancel the parent's working children; True when none is left working."""
        clear = True
        for key in self._children(started):
            order = self.state.orders[key]
            if order.status in (OrderStatus.FILLED, OrderStatus.CANCELLED,
                                OrderStatus.REJECTED):
                continue
            clear = order.status is OrderStatus.OPEN and \
                self.cancel_order(order, bar, why) and clear
        return clear

    def _deadline(self, d: Deployed, bar: FeedBar, started: ParentOrderStarted) -> None:
        if not self._cancel_children(started, bar, "parent deadline"):
            return  # settled at a later bar: never a second order on a guess
        spec = AlgoSpec.from_mapping(json.loads(started.algo))
        final = child_key(started.trace_id, FINAL_CHILD)
        lot = d.lot_for(started.symbol)
        remainder = (started.qty - self._filled(started)) // lot * lot
        if final in self.state.orders or remainder <= 0:
            self._finish(bar, started, "complete" if remainder <= 0 else "market",
                         "deadline")
            return
        if spec.on_deadline == "market":
            contract = self.order_contract(started.trace_id, d, bar, reduces=False)
            if not isinstance(contract, RiskDecision) and self._intend(
                    d, bar, started, final, remainder, len(started.schedule) + 1, contract,
                    None):
                self._finish(bar, started, "market", "deadline: remainder sent at market")
                return
        self._finish(bar, started, "cancel", f"deadline: on_deadline={spec.on_deadline}")

    def _finish(self, bar: FeedBar, started: ParentOrderStarted, outcome: str,
                why: str) -> None:
        """Journal the parent's end (cancelling any child still working) and alert on a
        remainder: a parent never leaves a silent residual."""
        if outcome != "market":
            self._cancel_children(started, bar, f"parent {outcome}: {why}")
        filled = self._filled(started)
        final = self.state.orders.get(child_key(started.trace_id, FINAL_CHILD))
        remainder = started.qty - filled if final is None else final.qty
        self.executor.record(ParentOrderFinished(
            trace_id=started.trace_id, ts_event=bar.ts, strategy=started.strategy,
            symbol=started.symbol, filled_qty=filled, remainder_qty=max(remainder, 0),
            outcome=outcome))
        if remainder > 0:
            self.alert(bar.ts, Severity.WARNING if outcome == "market" else Severity.ERROR,
                       "parent_remainder",
                       f"{started.strategy}/{started.symbol}: parent {started.trace_id} "
                       f"{outcome} ({why}): {filled} of {started.qty} filled, remainder "
                       f"{remainder} {'sent at market' if outcome == 'market' else 'unfilled'}")
