"""The runner's confidence and ensemble: each entry's calibrated confidence, its size, and
which of several strategies' entries on one symbol at one bar is taken.

- **Confidence.** A version that carries a calibrator (:mod:`strategies.confidence`) gets,
  at each entry, the probability that the entry is profitable, computed from the symbol's
  closed bars up to the decided bar by the research code (:meth:`ConfidenceModel.read_last`).
  It is journaled in the entry's ``GovernanceDecided`` (``confidence``). A NaN feature or a
  probability that is NaN or outside [0, 1] holds that entry with the reason - never a
  silent trade.
- **Size.** The entry's lots follow the confidence (:class:`ConfidenceSizing`, policy.yaml
  ``signal_governance.confidence``): between 0 and the version's lots, then the soft
  drawdown scale, then the pre-trade risk engine, as for any entry. Zero lots hold it.
- **Ensemble.** With ``signal_governance.ensemble.resolver`` ``priority`` or ``confidence``
  (:mod:`strategies.ensemble`), the entries that several strategies want on one symbol at
  one bar are resolved before any is sent: the losers' entries are denied with the
  winner named (journaled like every denial). Exits are never resolved away. The members
  of an approved ensemble version (:mod:`live.runner.ensembles`) are resolved among
  themselves by that version's signed resolver and order instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from live.runner.core import RunnerCore
from live.runner.deployments import Deployed
from live.runner.feed import FeedBar
from strategies.confidence import ConfidenceReading, ConfidenceSizing, SizingError
from strategies.ensemble import Candidate, EnsemblePolicy


class EnsembleRoom(RunnerCore):
    """Confidence per entry, its size, and the per-symbol ensemble."""

    ensemble: EnsemblePolicy | None  # None: each strategy trades alone
    sizing: ConfidenceSizing
    _confidences: dict[tuple[str, str, datetime, int], ConfidenceReading]
    _ensemble_holds: dict[tuple[str, str, datetime], str]

    def confidence_at(self, d: Deployed, bar: FeedBar, side: int) -> ConfidenceReading | None:
        """The confidence of ``d``'s entry of ``side`` at ``bar`` (None: no calibrator)."""
        if d.confidence is None:
            return None
        key = (d.strategy, bar.symbol, bar.ts, side)
        found = self._confidences.get(key)
        if found is None:
            history = self.symbol_history(bar.symbol)
            if not len(history) or history.last_ts != bar.ts:
                return ConfidenceReading(float("nan"),
                                         f"no closed bar of {bar.symbol} at {bar.ts}")
            bars = history.bars()
            found = d.confidence.read_last(bars.open, bars.high, bars.low, bars.close,
                                           bars.session, side)
            if len(self._confidences) > 4096:
                self._confidences.clear()
            self._confidences[key] = found
        return found

    def confidence_lots(self, d: Deployed, bar: FeedBar, side: int) -> tuple[int, str | None]:
        """(lots, why none) of ``d``'s entry of ``side`` at ``bar``: the version's lots
        without a calibrator; else scaled by the confidence - 0 with the reason when the
        confidence cannot be read or sizes it to nothing."""
        base = d.rules.qty // d.lot_size
        reading = self.confidence_at(d, bar, side)
        if reading is None or d.confidence is None:
            return base, None
        if reading.problem is not None:
            return 0, f"confidence: {reading.problem}"
        try:
            lots = self.sizing.lots(base, reading.probability, d.confidence.hit_rate)
            p0, p1 = self.sizing.bounds(d.confidence.hit_rate)
        except SizingError as exc:
            return 0, f"confidence: {exc}"
        if lots <= 0:
            return 0, (f"confidence: p {reading.probability:.4f} sizes {base} lot(s) to 0 "
                       f"(zero at p {p0:.4f}, full at {p1:.4f})")
        return lots, None

    def resolves(self, deployed: Sequence[Deployed]) -> bool:
        """Do entries of ``deployed`` on one symbol need resolving before any is acted on?"""
        return self.ensemble is not None or any(d.ensemble is not None for d in deployed)

    def resolve_entries(self, bar: FeedBar, wants: Sequence[tuple[Deployed, int]]) -> None:
        """Resolve the entries ``wants`` ((deployment, side)) on ``bar.symbol`` at ``bar``:
        each loser's entry is held with the reason (:meth:`ensemble_hold`). An approved
        ensemble version's members are resolved among themselves by its signed resolver
        and order; other deployments by policy.yaml ``signal_governance.ensemble``."""
        groups: dict[str | None, list[tuple[Deployed, int]]] = {}
        for d, side in wants:
            groups.setdefault(None if d.ensemble is None else d.ensemble.label, []).append(
                (d, side))
        for label, group in groups.items():
            binding = group[0][0].ensemble
            policy = self.ensemble if binding is None else binding.policy
            if policy is not None and len(group) > 1:
                self._resolve(bar, group, policy, label)

    def _resolve(self, bar: FeedBar, wants: Sequence[tuple[Deployed, int]],
                 policy: EnsemblePolicy, label: str | None) -> None:
        candidates = []
        for d, side in wants:
            reading = self.confidence_at(d, bar, side)
            candidates.append(Candidate(
                d.strategy, side, policy.priority_of(d.strategy, d.spec.priority),
                None if reading is None or reading.problem is not None
                else reading.probability))
        resolution = policy.resolver.resolve(candidates)
        if len(self._ensemble_holds) > 4096:
            self._ensemble_holds.clear()
        for i, why in resolution.losers.items():
            self._ensemble_holds[(wants[i][0].strategy, bar.symbol, bar.ts)] = \
                why if label is None else f"{label}: {why}"

    def ensemble_hold(self, d: Deployed, bar: FeedBar) -> str | None:
        """Why ``d``'s entry at ``bar`` lost the symbol's ensemble (None: it did not)."""
        return self._ensemble_holds.get((d.strategy, bar.symbol, bar.ts))
