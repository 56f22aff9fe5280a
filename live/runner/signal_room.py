"""The runner's signal governance: each closed bar's regime (the version's classifier,
:mod:`strategies.regime_model`) and, at each session's end, feature drift against the
version's training reference.

The regime is read from the symbol's history up to and including the bar being decided -
closed bars only, the same row the research matrix holds at that bar (the truncation
test). It is journaled with every ``GovernanceDecided``. A bar whose features are NaN
(warm-up, or a bad input) cannot be classified: new entries are denied for that bar with
the feature named, exits flow. A version carrying an enable matrix
(:mod:`strategies.enable_matrix`) has its new entries denied in every regime the matrix
disables, the regime and its probability in the reason and the journaled decision; exits
flow. With policy.yaml ``signal_governance.require_enable_matrix``, a version whose
classifier comes without an enable matrix has its entries held too (fail closed).

Each decision's provenance (:meth:`SignalRoom.provenance`, journaled on its
``GovernanceDecided``): the regime features at the bar as the classifier read them, and the
strategy's drift state (the last measured session's worst PSI and KS against the limits, or
why none was measured) with its kill switch.

At that moment the completed session's regime (the classifier at its last closed bar)
and its worst drift statistics are journaled as an INFO alert ``session_regime``.

Drift is measured when a symbol's new session opens (its first bar, before anything is
decided on it) over the last ``window_sessions`` completed sessions held in the history
(policy.yaml ``signal_governance``). A breach is a ``drift_breach`` alert and a kill-switch
HALT of the strategy through the controls room (:meth:`Controls.switch`, actor
``drift_monitor``): new entries stop, exits and protective orders flow, and only a
maker/checker re-arm (``stratops kill rearm``) lifts it, like any kill.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from live.events import Severity
from live.runner.core import RunnerCore
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from strategies.bars import Bars
from strategies.drift import DriftLimits
from strategies.regime_model import RegimeReading

DRIFT_ACTOR = "drift_monitor"
DRIFT_ALERT = "drift_breach"
SESSION_NOTE = "session_regime"


class SignalRoom(RunnerCore):
    """Regime per closed bar and the drift monitor at session ends."""

    drift_limits: DriftLimits | None  # None: the drift monitor is off (no policy)
    _regimes: dict[tuple[str, str, datetime], RegimeReading]
    _drift_checked: dict[tuple[str, str], int]  # (strategy, symbol) -> session measured to
    _drift_state: dict[tuple[str, str], str]  # (strategy, symbol) -> the last measurement

    def regime_at(self, d: Deployed, bar: FeedBar) -> RegimeReading | None:
        """``d``'s classifier at ``bar`` (the last closed bar of its symbol); None when the
        version carries no classifier."""
        if d.governance is None:
            return None
        key = (d.strategy, bar.symbol, bar.ts)
        found = self._regimes.get(key)
        if found is None:
            history = self.symbol_history(bar.symbol)
            if not len(history) or history.last_ts != bar.ts:
                return RegimeReading("unknown", float("nan"), {},
                                     f"no closed bar of {bar.symbol} at {bar.ts}")
            bars = history.bars()
            found = d.governance.model.read_last(bars.open, bars.high, bars.low, bars.close,
                                                 bars.session)
            if len(self._regimes) > 4096:
                self._regimes.clear()
            self._regimes[key] = found
        return found

    def regime_hold(self, d: Deployed, bar: FeedBar) -> str | None:
        """Why a new entry of ``d`` must wait at ``bar`` (None: it need not): a bar that
        cannot be classified, a regime the classifier never saw in training, or a regime
        the version's enable matrix disables."""
        reading = self.regime_at(d, bar)
        if reading is None or d.governance is None:
            return None
        hold = d.governance.model.entry_hold(reading)
        if hold is not None:
            return hold
        matrix = d.governance.matrix
        if matrix is None and self.drift_limits is not None and \
                self.drift_limits.require_enable_matrix:
            return (f"regime: {d.strategy} v{d.version} carries a regime classifier but no "
                    "enable matrix (policy signal_governance.require_enable_matrix)")
        if matrix is not None and not matrix.enabled(reading.regime):
            return (f"regime: {d.strategy} v{d.version} is disabled in {reading.regime} "
                    f"(p {reading.probability:.3f}) by its enable matrix (enabled in "
                    f"{list(matrix.enabled_regimes()) or 'no regime'})")
        return None

    def provenance(self, d: Deployed, bar: FeedBar, reading: RegimeReading | None
                   ) -> tuple[tuple[str, ...], tuple[float | None, ...], str | None]:
        """What a decision of ``d`` at ``bar`` used (``GovernanceDecided``'s ``features``,
        ``feature_values`` and ``drift``): the regime features of ``reading`` (NaN as None)
        and the drift and kill-switch state; nothing for a version without a classifier."""
        if d.governance is None or reading is None:
            return (), (), None
        values = tuple(None if v != v else v for v in reading.features)  # NaN -> None
        names = d.governance.model.features if values else ()
        drift = self._drift_state.get((d.strategy, bar.symbol))
        if drift is None:
            drift = ("off (no policy)" if self.drift_limits is None else
                     "not measured yet (measured at a session's first bar, over the "
                     "completed sessions in the history)")
        return names, values, f"{drift}; kill switch {self.kill_mode(d)}"

    def drift_check(self, bar: FeedBar, history: SymbolHistory) -> None:
        """At a symbol's first bar of a new session: measure each governed strategy's drift
        over the completed sessions and halt its entries on a breach."""
        if self.drift_limits is None:
            return
        bars = history.bars()
        session = np.asarray(bars.session)
        current = int(session[-1])
        if len(session) < 2 or int(session[-2]) == current:
            return  # not the first bar of a session
        for d in self.deployed:
            if d.governance is None or bar.symbol not in d.symbols or \
                    self._drift_checked.get((d.strategy, bar.symbol), -1) >= current:
                continue
            self._drift_checked[(d.strategy, bar.symbol)] = current
            first = current - self.drift_limits.window_sessions
            window = (session >= first) & (session < current)
            reading = d.governance.drift(bars.open, bars.high, bars.low, bars.close,
                                         session, window)
            if not reading.compared:
                continue  # not enough classified bars yet (warm-up)
            breaches = reading.breaches(self.drift_limits.max_psi, self.drift_limits.max_ks)
            psi, ks = reading.worst()
            self._drift_state[(d.strategy, bar.symbol)] = (
                f"psi {psi:.3f}, ks {ks:.3f} over the last {self.drift_limits.window_sessions} "
                f"session(s) to {bars.ts[-2].date()} (limits {self.drift_limits.max_psi:g}/"
                f"{self.drift_limits.max_ks:g}): {'BREACH' if breaches else 'ok'}")
            self._session_note(d, bar, bars, reading.worst())
            if breaches:
                self._drift_breach(d, bar, breaches, reading.compared)

    def _session_note(self, d: Deployed, bar: FeedBar, bars: Bars,
                      worst: tuple[float, float]) -> None:
        """Journal the completed session's regime (at its last closed bar) and its drift."""
        assert d.governance is not None
        last = d.governance.model.read_last(bars.open[:-1], bars.high[:-1], bars.low[:-1],
                                            bars.close[:-1], bars.session[:-1])
        day = bars.ts[-2].date()
        self.alert(bar.ts, Severity.INFO, SESSION_NOTE,
                   f"{d.strategy}/{bar.symbol} session {day}: regime {last.regime} "
                   f"(p {last.probability:.3f}) at its last bar; drift psi {worst[0]:.3f}, "
                   f"ks {worst[1]:.3f}")

    def _drift_breach(self, d: Deployed, bar: FeedBar, breaches: list[str],
                      compared: dict[str, int]) -> None:
        window = self.drift_limits.window_sessions if self.drift_limits else 0
        what = (f"{d.strategy}/{bar.symbol}: feature drift over the last {window} "
                f"session(s) ({', '.join(f'{k} {v} bars' for k, v in sorted(compared.items()))}"
                f"): {'; '.join(breaches)}")
        self.alert(bar.ts, Severity.ERROR, DRIFT_ALERT,
                   f"{what}; new entries halted until a maker/checker re-arm")
        self.switch(bar, d.strategy, "halt", DRIFT_ACTOR, f"drift: {what}")
