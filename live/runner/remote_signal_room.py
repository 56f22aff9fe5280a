"""The runner's signals from the signal service (``svc execution --signals remote``,
:mod:`live.svc.signal`): each bar's ``BarSignals`` checked against this process's own
governance reading before anything is decided on them, and the rule when they are missing.

- **Cross-check.** The ``BarSignals`` of a strategy at a bar must come from the deployed
  version and its classifier: the same ``version``, ``classifier_digest`` and
  ``features_digest`` (a version without a classifier: none carried), the same regime label
  as this process's reading of that bar (:meth:`~live.runner.signal_room.SignalRoom.regime_at`,
  the same closed bars) and its probability within :data:`REGIME_PROBABILITY_TOLERANCE`
  (both unclassifiable: equal). Any disagreement fails closed: the signal service's signals
  are not used at that bar, a critical ``signal_regime_mismatch`` alert names both readings
  (digests, label, probability, feature rows) under the bar's entry trace, and the bar is
  decided as if its signals were missing (below) - the held entry's ``GovernanceDecided``
  says why.
- **Missing.** No signals in time (or a mismatch, or a warming reading while this process's
  kernel reads its history): this process computes the bar's signals itself, from its own
  history by the same kernel (``spec.signals``; it keeps the histories for governance
  anyway), and :func:`~live.runner.decisions.decide` runs on them as ever. Exits - by
  signal, by reversal, at the cutoff - go at this bar, never waiting for the next bar with
  signals; every new entry is held (journaled denied: ``signal_missing``) and a critical
  ``signal_missing`` alert is journaled per strategy and bar. A kernel that cannot read the
  history yet decides on no signal (the cutoff and session-end exits still go).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final, Protocol

from live.events import BarSignals, Severity, new_trace_id
from live.runner.core import RunnerCore
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from live.runner.history import SymbolHistory
from live.runner.pipeline import LEG_ENTER
from strategies.bars import BarsInputError
from strategies.regime_features import regime_features_digest
from strategies.regime_model import RegimeReading

SIGNALS_MISSING: Final = "missing"  # a signal source's answer: none came in time
SIGNALS_WARMING: Final = "warming"  # its kernel cannot read the history yet: nothing decided
SIGNAL_MISSING_ALERT = "signal_missing"
SIGNAL_MISMATCH_ALERT = "signal_regime_mismatch"
#: Largest difference between the signal service's regime probability and this process's
#: that is still the same reading. Both read the same closed bars with the same classifier
#: file, and the regime features are windowed (no running state), so they agree to the last
#: bit in practice; this only absorbs another floating-point summation order (BLAS, OpenMP)
#: and is far below any probability an enable matrix or a confidence acts on.
REGIME_PROBABILITY_TOLERANCE = 1e-9
Signals = tuple[bool, bool, bool, bool]


class SignalSource(Protocol):
    """Where a strategy's signals at a bar come from when not from its kernel in this process
    (``stratops svc execution --signals remote``: :mod:`live.svc.remote_signals`)."""

    def signals(self, d: Deployed, bar: FeedBar) -> BarSignals | str:
        """The ``BarSignals`` of ``d`` at ``bar``, :data:`SIGNALS_WARMING` or
        :data:`SIGNALS_MISSING`."""


def _probability(p: float | None) -> float | None:
    return None if p is None or not math.isfinite(p) else p


def _row(values: tuple[float | None, ...]) -> str:
    return "[" + ", ".join("nan" if v is None or not math.isfinite(v) else f"{v:.6g}"
                           for v in values) + "]"


def remote_reading(got: BarSignals) -> str:
    """The signal service's reading in ``got``, for an alert."""
    p = _probability(got.regime_probability)
    return (f"v{got.version} regime {got.regime} p {p!r} classifier {got.classifier_digest} "
            f"features {got.features_digest} row {_row(got.feature_values)}")


def own_reading(d: Deployed, own: RegimeReading | None) -> str:
    """This process's reading of the same bar, for an alert."""
    if d.governance is None or own is None:
        return f"v{d.version} regime None p None classifier None features None"
    p = _probability(own.probability)
    return (f"v{d.version} regime {own.regime} p {p!r} classifier {d.governance.digest} "
            f"features {regime_features_digest()} row {_row(own.features)}")


def reading_mismatch(got: BarSignals, d: Deployed, own: RegimeReading | None, *,
                     tolerance: float = REGIME_PROBABILITY_TOLERANCE) -> str | None:
    """How the signal service's reading in ``got`` disagrees with ``own`` (this process's
    classifier at the same bar; None: ``d`` carries none); None when it does not."""
    governed = d.governance is not None and own is not None
    problems = []
    if got.version != str(d.version):
        problems.append(f"version {got.version!r}, deployed {str(d.version)!r}")
    digest = d.governance.digest if d.governance is not None else None
    if got.classifier_digest != digest:
        problems.append(f"classifier {got.classifier_digest}, deployed {digest}")
    features = regime_features_digest() if governed else None
    if got.features_digest != features:
        problems.append(f"feature definitions {got.features_digest}, here {features}")
    mine = own.regime if governed and own is not None else None
    if got.regime != mine:
        problems.append(f"regime {got.regime!r}, here {mine!r}")
    elif own is not None:
        theirs, ours = _probability(got.regime_probability), _probability(own.probability)
        if (theirs is None) != (ours is None) or (
                theirs is not None and ours is not None and abs(theirs - ours) > tolerance):
            problems.append(f"p {theirs!r}, here {ours!r} (tolerance {tolerance:g})")
    return "; ".join(problems) or None


def kernel_signals(d: Deployed, history: SymbolHistory) -> Signals | None:
    """``d``'s signals at the last bar of ``history`` from its kernel in this process (None:
    it cannot read the history yet)."""
    try:
        signals = d.spec.signals(history.bars(), d.params)
    except BarsInputError:
        return None
    le, lx, se, sx = (bool(a[-1]) for a in signals.arrays())  # this bar's signals
    return le, lx, se, sx


class RemoteSignalRoom(RunnerCore):
    """The signal source's signals, cross-checked; this process's kernel when they fail."""

    signal_source: SignalSource | None  # None: each strategy's kernel runs here
    _signal_holds: dict[tuple[str, str, datetime], str]  # entries held at a bar, and why

    def signal_hold(self, d: Deployed, bar: FeedBar) -> str | None:
        """Why ``d``'s new entry at ``bar`` is held by its signals (None: it is not)."""
        return self._signal_holds.get((d.strategy, bar.symbol, bar.ts))

    def remote_signals(self, d: Deployed, bar: FeedBar, history: SymbolHistory
                       ) -> Signals | None:
        """``d``'s signals at ``bar`` from the signal source, as the module says (None:
        nothing is decided on the bar, as while a kernel warms up)."""
        assert self.signal_source is not None
        got = self.signal_source.signals(d, bar)
        if isinstance(got, str) and got == SIGNALS_WARMING:
            return None
        if isinstance(got, str):
            return self._decided_here(d, bar, history, f"no signals from the signal service "
                                      f"for the bar at {bar.ts.isoformat()} ({got})")
        own = self.regime_at(d, bar)
        problem = reading_mismatch(got, d, own)
        if problem is not None:
            self.alert(bar.ts, Severity.CRITICAL, SIGNAL_MISMATCH_ALERT,
                       f"{d.strategy}/{bar.symbol} at {bar.ts.isoformat()}: the signal "
                       f"service's reading disagrees ({problem}): signal service "
                       f"{remote_reading(got)}; execution {own_reading(d, own)}; its signals "
                       "are not used: new entries held, exits decided on this process's "
                       "own kernel", trace_id=new_trace_id(d.strategy, bar.symbol, bar.ts,
                                                           LEG_ENTER))
            return self._decided_here(d, bar, history, f"the signal service's reading "
                                      f"disagrees ({problem})", alert=False)
        if not got.warming:
            return got.le, got.lx, got.se, got.sx
        local = kernel_signals(d, history)
        if local is None:
            return None  # both still warming up: nothing decided, as in process
        return self._decided_here(d, bar, history, "the signal service is still warming up "
                                  "where this process's kernel reads its history", local=local)

    def _decided_here(self, d: Deployed, bar: FeedBar, history: SymbolHistory, why: str, *,
                      alert: bool = True, local: Signals | None = None) -> Signals:
        """The bar's signals from this process's kernel (``local``, when already read), its
        new entries held (why)."""
        if len(self._signal_holds) > 4096:
            self._signal_holds.clear()
        self._signal_holds[(d.strategy, bar.symbol, bar.ts)] = \
            f"{SIGNAL_MISSING_ALERT}: {why}; no new entry on it"
        if alert:
            self.alert(bar.ts, Severity.CRITICAL, SIGNAL_MISSING_ALERT,
                       f"{d.strategy}/{bar.symbol}: {why}; no new entry on it, exits "
                       "decided on this process's own kernel and history (by signal, "
                       "cutoff, stops, protection) still go")
        if local is None:
            local = kernel_signals(d, history)
        return (False, False, False, False) if local is None else local
