"""Canary evidence of an ensemble version (``ensemble_<symbol>``), read from the canary journal.

The members' canary trades are reconciled against a simulation of the **ensemble** on the
bars the runner saw: every member's signals at its signed version's params, the bars where
several want an entry resolved by the manifest's resolver and order
(:func:`strategies.ensemble_simulation.simulate_ensemble`, the simulation research studied
the ensemble with), each member simulated at the size and fill model it traded. The break
rules and tolerances are the single-strategy canary's (:mod:`live.backtest_reconciliation`,
:func:`live.canary.evidence_for`): a trade missing, extra, or at another price, quantity or
exit time is a break; a denial by the desk's controls (a lockout, a kill, risk) explains a
missing trade - but the ensemble's own holds (``"<label>: ensemble ..."``) explain nothing,
the simulation already resolves the entries and a disagreement is a break.

The run is counted from the runner start that deployed the members under the ensemble (their
``ModeChanged``: ``runner started with v<member> (...) under ensemble_<symbol> v<n>``). No
such start is no evidence (refused by policy: fail closed). The evidence's ``source`` names
the first breaks, so a refused approval says what broke.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from live.backtest_reconciliation import (
    DayReport,
    Trade,
    closed_trades,
    expectation_config,
    reconcile_expected,
    window_bars,
)
from live.canary_size import size_note
from live.events import BarClosed, GovernanceDecided, ModeChanged, OrderIntended
from live.governance.policy import CanaryEvidence
from live.journal import Journal
from live.state import replay
from live.tca.extract import tca_tables
from live.tca.metrics import slippage_vs_assumed_bps
from strategies.bars import Bars
from strategies.confidence import ConfidenceModel, ConfidenceSizing, SizingError
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_simulation import Confidence, SimMember, simulate_ensemble
from strategies.ensemble_version import EnsembleManifest
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig

SHOWN_BREAKS = 3  # breaks quoted in the evidence's source


@dataclass(frozen=True, slots=True)
class MemberVersion:
    """A member as the canary traded it: its signed version's config (read as data) and
    calibrator (the confidence resolver's vote; None: none, or not needed)."""

    version: int
    config: VersionConfig
    confidence: ConfidenceModel | None = None


def _span(journal: Journal, strategies: Sequence[str], label: str
          ) -> tuple[int, int | None] | None:
    """Journal seqs from the last runner start of the members under ``label`` to the next
    start of a member otherwise (None: to the end); None if the ensemble never ran."""
    under = re.compile(rf" under {re.escape(label)}(;|$)")
    start, end = None, None
    for seq, m in journal.read():
        if isinstance(m, ModeChanged) and m.strategy in strategies:
            if under.search(m.reason):
                if end is not None or start is None:
                    start, end = seq, None
            elif start is not None and end is None:
                end = seq - 1
    return None if start is None else (start, end)


_BY_CONFIDENCE = re.compile(r": \d+ of (\d+) lot\(s\) by confidence$")


def _base_lots(journal: Journal, strategy: str, from_seq: int) -> int | None:
    """The lots a calibrated member's entries were sized from (its allowed entry's
    ``<mode> v<n>: <lots> of <base> lot(s) by confidence``); None: none allowed."""
    for _, m in journal.read(from_seq):
        if isinstance(m, GovernanceDecided) and m.strategy == strategy and m.allowed:
            found = _BY_CONFIDENCE.search(m.reason)
            if found is not None:
                return int(found.group(1))
    return None


def _qty(journal: Journal, strategy: str, from_seq: int) -> int | None:
    for _, m in journal.read(from_seq):
        if isinstance(m, OrderIntended) and m.strategy == strategy:
            return int(m.qty)
    return None


class _Simulation:
    """The ensemble simulated once per window of bars; each member's expected trades."""

    def __init__(self, manifest: EnsembleManifest, members: Mapping[str, MemberVersion],
                 qty: Mapping[str, int], base_lots: Mapping[str, int],
                 sizing: ConfidenceSizing) -> None:
        self.names = manifest.strategies
        self.members = members
        self.policy = EnsemblePolicy(make_resolver(manifest.resolver), manifest.priority)
        self.qty = qty
        self.base_lots = base_lots  # the stage's lots of an entry before its confidence
        self.sizing = sizing
        self.symbol = manifest.symbol
        self._cache: dict[tuple[str, str, int], dict[str, list[Trade]]] = {}

    def expected(self, strategy: str, bars: list[BarClosed]) -> list[Trade]:
        if not bars:
            return []
        key = (str(bars[0].ts_event), str(bars[-1].ts_event), len(bars))
        if key not in self._cache:
            self._cache[key] = self._simulate(bars)
        return self._cache[key][strategy]

    def _simulate(self, bars: list[BarClosed]) -> dict[str, list[Trade]]:
        first = self.members[self.names[0]].config
        window = window_bars(bars, first.venue)
        try:
            sims = []
            for name in self.names:
                config = self.members[name].config
                spec = get_strategy(name)
                sim = expectation_config(config.sim, self.qty[name],
                                         config.size_of(self.symbol))
                sims.append(SimMember(spec, spec.signals(window, spec.params_cls(
                    **config.params_dict)), sim))
            read = self._confidence(window)
            traded = simulate_ensemble(
                window, sims, self.policy, read,
                lambda i, t, side: self._lots(self.names[i], read(i, t, side)) > 0)
        except ValueError:
            return {name: [] for name in self.names}  # fewer bars than a warm-up
        return {name: closed_trades(self._sized(i, t, read))
                for i, (name, t) in enumerate(zip(self.names, traded, strict=True))}

    def _lots(self, name: str, probability: float | None) -> int:
        """The lots the runner gives an entry of ``name`` of confidence ``probability``:
        the stage's lots without a calibrator; else scaled by the confidence (0: held - no
        usable reading, or sized to nothing)."""
        model = self.members[name].confidence
        if model is None:
            return self.base_lots[name]
        if probability is None:
            return 0
        try:
            return self.sizing.lots(self.base_lots[name], probability, model.hit_rate)
        except SizingError:
            return 0

    def _sized(self, i: int, trades: pd.DataFrame, read: Confidence) -> pd.DataFrame:
        """A calibrated member's trades at the quantity its confidence sized each entry to
        (decided at the bar before its fill)."""
        name = self.names[i]
        if self.members[name].confidence is None or trades.empty:
            return trades
        lot = self.members[name].config.size_of(self.symbol).lot_size
        qty = [self._lots(name, read(i, int(e) - 1, 1 if s == "long" else -1)) * lot
               for e, s in zip(trades["entry_idx"], trades["side"], strict=True)]
        return trades.assign(qty=qty)

    def _confidence(self, window: Bars) -> Confidence:
        """A member's calibrated confidence at a bar of ``window``, read as the runner reads
        it (:meth:`ConfidenceModel.read_last` on the bars up to it); None: no calibrator or
        no usable reading (no vote)."""
        def read(i: int, t: int, side: int) -> float | None:
            model = self.members[self.names[i]].confidence
            if model is None:
                return None
            upto = slice(0, t + 1)
            reading = model.read_last(window.open[upto], window.high[upto], window.low[upto],
                                      window.close[upto], window.session[upto], side)
            return None if reading.problem is not None else reading.probability

        return read


def members_of(registry: Any, name: str, version: int
               ) -> tuple[EnsembleManifest, dict[str, MemberVersion]]:
    """The version's manifest (digest-checked) and each member's config and, for the
    confidence resolver, calibrator - read as data from files hashing to the member digest
    the manifest records."""
    manifest = registry.load_ensemble(name, version)
    members = {}
    for m in manifest.members:
        config = registry.load_config(m.strategy, m.version, expected_digest=m.model_digest)
        confidence = registry.load_confidence(m.strategy, m.version,
                                              expected_digest=m.model_digest) \
            if manifest.resolver == "confidence" else None
        if confidence is None and manifest.resolver == "confidence":
            raise ValueError(f"member {m.strategy} v{m.version} carries no confidence "
                             "calibrator, and the ensemble's confidence resolver weighs "
                             "every entry by one")
        members[m.strategy] = MemberVersion(m.version, config, confidence)
    return manifest, members


def registry_evidence(journal: Journal, registry: Any, name: str, version: int, *,
                      source: str, max_sessions: int = 5,
                      sizing: ConfidenceSizing | None = None) -> CanaryEvidence | None:
    """:func:`ensemble_evidence_for` of the registered ensemble version; a manifest or member
    that cannot be read is one open break naming why (fail closed)."""
    try:
        manifest, members = members_of(registry, name, version)
        return ensemble_evidence_for(journal, name, version, manifest, members,
                                     source=source, max_sessions=max_sessions, sizing=sizing)
    except (LookupError, ValueError) as exc:  # KeyError is a LookupError
        return CanaryEvidence(sessions=0, trades=0, open_breaks=1,
                              source=f"{source}: {name} v{version}'s members cannot be "
                                     f"simulated: {exc}")


@dataclass(frozen=True, slots=True)
class MemberReports:
    """An ensemble run's members reconciled against the ensemble's simulation: the daily
    reports (member by member), the journal span of the run, and each member's canary and
    live quantity."""

    reports: list[DayReport]
    span: tuple[int, int | None]
    qty: dict[str, int]
    live_qty: dict[str, int]


def member_reports(journal: Journal, name: str, version: int, manifest: EnsembleManifest,
                   members: Mapping[str, MemberVersion], *, max_sessions: int = 5,
                   sizing: ConfidenceSizing | None = None) -> MemberReports | None:
    """Each member's daily reports of ensemble ``name`` v``version``'s last run in
    ``journal`` against the ensemble's simulation (None: it never ran there)."""
    label = f"{name} v{version}"
    span = _span(journal, manifest.strategies, label)
    if span is None:
        return None
    qty, live_qty = {}, {}
    for m in manifest.members:
        sim = members[m.strategy].config.sim
        size = members[m.strategy].config.size_of(manifest.symbol)
        live_qty[m.strategy] = sim.qty_lots * size.lot_size
        qty[m.strategy] = _qty(journal, m.strategy, span[0]) or live_qty[m.strategy]
    base = {s: _base_lots(journal, s, span[0]) or qty[s] // max(
        1, members[s].config.size_of(manifest.symbol).lot_size) for s in manifest.strategies}
    simulation = _Simulation(manifest, members, qty, base, sizing or ConfidenceSizing())
    reports: list[DayReport] = []
    for strategy in manifest.strategies:
        reports += reconcile_expected(
            journal, strategy=strategy, symbol=manifest.symbol,
            expect=partial(simulation.expected, strategy),
            max_sessions=max_sessions, from_seq=span[0], to_seq=span[1],
            own_holds=f"{label}: ensemble ")
    return MemberReports(reports, span, qty, live_qty)


def ensemble_evidence_for(journal: Journal, name: str, version: int,
                          manifest: EnsembleManifest, members: Mapping[str, MemberVersion],
                          *, source: str, max_sessions: int = 5,
                          sizing: ConfidenceSizing | None = None) -> CanaryEvidence | None:
    """Sessions, trades and open breaks of ensemble ``name`` v``version`` in ``journal``:
    its members' trades against the ensemble's simulation (None: it never ran there).
    ``sizing``: the runner's confidence sizing (policy.yaml ``signal_governance.confidence``;
    None: its defaults) - a calibrated member's entries are expected at the lots their
    confidence sizes them to, from the base its journaled decisions name."""
    label = f"{name} v{version}"
    found = member_reports(journal, name, version, manifest, members,
                           max_sessions=max_sessions, sizing=sizing)
    if found is None:
        return None
    reports, span, qty, live_qty = found.reports, found.span, found.qty, found.live_qty
    sessions = max((sum(1 for r in reports if r.strategy == s) for s in manifest.strategies),
                   default=0)
    breaks = [f"{r.strategy} {r.day}: {b}" for r in reports for b in r.breaks]
    state = replay(journal)
    breaks += [f"journal discrepancy: {d}" for d in state.discrepancies]
    if state.last_reconciliation is not None and not state.last_reconciliation.clean:
        breaks.append("the last broker reconciliation is not clean")
    shown = "; ".join(breaks[:SHOWN_BREAKS]) + \
        (f"; and {len(breaks) - SHOWN_BREAKS} more" if len(breaks) > SHOWN_BREAKS else "")
    realised, assumed = _slippage(journal, span, manifest, members)
    note = next((n for n in (size_note(qty[s], live_qty[s],
                                       members[s].config.size_of(manifest.symbol).lot_size)
                             for s in manifest.strategies) if n), "")
    return CanaryEvidence(
        sessions=sessions, trades=sum(len(r.actual) for r in reports),
        open_breaks=len(breaks),
        source=f"{source}: {label}'s members against the ensemble's simulation" +
               (f" (breaks: {shown})" if breaks else ""),
        size_note=note, realised_slippage_bps=realised, assumed_slippage_bps=assumed)


def _slippage(journal: Journal, span: tuple[int, int | None], manifest: EnsembleManifest,
              members: Mapping[str, MemberVersion]) -> tuple[float | None, float | None]:
    """The realised and assumed slippage (bps) of the member whose realised slippage exceeds
    its assumption the most (the worst member decides); None, None: no member's measured."""
    worst: tuple[float, float] | None = None
    for m in manifest.members:
        sim = members[m.strategy].config.sim
        tables = tca_tables(journal, from_seq=span[0], to_seq=span[1], strategy=m.strategy,
                            version=str(m.version))
        realised, assumed = slippage_vs_assumed_bps(tables.children, sim.slippage_ticks,
                                                    sim.tick_size)
        if realised is None or assumed is None:
            continue
        if worst is None or realised - assumed > worst[0] - worst[1]:
            worst = (realised, assumed)
    return (None, None) if worst is None else worst
