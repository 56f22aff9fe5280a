"""Which strategy versions the runner may trade in a mode, proven before it loads them.

For mode shadow, canary or live, each strategy's alias of that name must carry an approved,
signed, unaltered deployment (:meth:`GovernanceService.verify_deployment`); the version's
config is read **as data** (``registry.load_config``: the ``MLmodel`` YAML, never the
artifact's code) with its artifacts checked against the approved SHA-256; the installed signal
code must be the code the version was researched with (``strategies_source_hash``, from the
signed snapshot); and its execution rules must be ones the runner honours exactly. The
runner then runs the installed ``strategies`` code. Anything else is refused, with the
reason, and not traded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from live.orders.products import mis_refusal
from live.orders.rules import OrderRules
from live.runner.decisions import LEVEL_KEYS, Rules, UnsupportedVersionError, check_supported
from strategies.algo_spec import MARKET, AlgoSpec
from strategies.confidence import ConfidenceModel
from strategies.costs import CostRates, load_cost_rates, load_cost_rates_version
from strategies.ensemble import EnsemblePolicy
from strategies.ensemble_version import is_ensemble_name
from strategies.health import HealthExpectation
from strategies.regime_model import SignalGovernance
from strategies.roster import STRATEGIES
from strategies.spec import StrategySpec
from strategies.venues import get_venue, resolve_cutoff
from strategies.version_config import SymbolSize, VersionConfig

STAGE_OF_MODE = {"shadow": "shadow", "canary": "canary", "live": "live"}


@dataclass(frozen=True, slots=True)
class EnsembleBinding:
    """The approved ensemble version a member trades under (:mod:`live.runner.ensembles`):
    its name and version, and its resolver and priority order from the signed manifest."""

    name: str
    version: int
    policy: EnsemblePolicy
    members: tuple[str, ...] = ()  # every member's strategy: it trades whole or not at all

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True, slots=True)
class Deployed:
    """One version the runner trades."""

    strategy: str
    version: int
    spec: StrategySpec
    params: Any
    symbols: tuple[str, ...]
    venue: str
    rules: Rules
    capital_fraction: float
    snapshot_digest: str
    slippage_ticks: float = 0.0
    tick_size: float = 0.05
    lot_size: int = 1
    cost_schedule: str | None = None  # the cost schedule version research charged
    product: str = "NRML"  # the broker product its orders carry (the version's)
    execution: AlgoSpec = MARKET  # how its entries are worked (market: one order each)
    # the exchange-issued algo id of this approved version (compliance.yaml algo.approvals;
    # SEBI's algo framework): on every order it sends; None: an unregistered algo
    algo_id: str | None = None
    # the version's regime classifier and drift reference (None: registered without them)
    governance: SignalGovernance | None = None
    # research's expectation of its trades (the strategy health monitor's; None: none)
    health: HealthExpectation | None = None
    # the version's confidence calibrator (None: registered without one; full size)
    confidence: ConfidenceModel | None = None
    # a several-symbol version's own contract sizes and rules per symbol (its registered
    # ``symbol_sizes``); empty: every symbol trades ``lot_size``/``tick_size``/``rules``
    per_symbol: tuple[tuple[SymbolSize, Rules], ...] = ()
    # the approved ensemble version this member trades under (None: its own approval)
    ensemble: EnsembleBinding | None = None

    def _entry(self, symbol: str) -> tuple[SymbolSize, Rules]:
        for size, rules in self.per_symbol:
            if size.symbol == symbol:
                return size, rules
        if self.per_symbol:  # fail closed: never size a symbol with another one's lot
            raise KeyError(f"{self.strategy} v{self.version} has no contract sizes for "
                           f"{symbol!r}; it trades {list(self.symbols)}")
        return SymbolSize(symbol, self.lot_size, self.tick_size), self.rules

    def lot_for(self, symbol: str) -> int:
        """``symbol``'s lot size (the version's, per symbol when it has several)."""
        return self._entry(symbol)[0].lot_size

    def tick_for(self, symbol: str) -> float:
        """``symbol``'s tick size (the version's, per symbol when it has several)."""
        return self._entry(symbol)[0].tick_size

    def rules_for(self, symbol: str) -> Rules:
        """The rules an order on ``symbol`` follows: its quantity is the version's lots in
        ``symbol``'s lot size, its levels rounded to ``symbol``'s tick."""
        return self._entry(symbol)[1]


def symbol_rules(config: VersionConfig, rules: Rules, lots: int
                 ) -> tuple[tuple[SymbolSize, Rules], ...]:
    """Each symbol's sizes and rules of a several-symbol version (``()`` for one with
    ``sim``'s sizes for every symbol): the same lots per trade, each in its own lot size."""
    return tuple((size, replace(rules, qty=lots * size.lot_size,
                                level_tick=size.tick_size if rules.level_tick > 0 else 0.0))
                 for size in config.symbol_sizes)


@dataclass(frozen=True, slots=True)
class Refusal:
    strategy: str
    reason: str


def lots_for(qty_lots: int, mode: str, fraction: float) -> int:
    """Lots per trade: full size live, the stage's fraction (at least one lot) in canary,
    the research size in shadow (virtual). A 1-lot version's canary is therefore at live
    size; its promotion evidence says so (:func:`live.canary.size_note`)."""
    if mode == "canary":
        return max(1, math.floor(qty_lots * fraction))
    return qty_lots


class CapitalPolicy(Protocol):
    """What :func:`stage_capital` asks of the policy (:class:`~live.governance.policy.Policy`)."""

    def capital_for(self, strategy: str, stage: str) -> float: ...


def stage_capital(policy: CapitalPolicy, deployed: list[Deployed], mode: str
                  ) -> dict[str, float]:
    """The capital each strategy's guardrails measure (drawdown % and losses against): the
    policy's capital at the run's stage (canary: its ``capital_fraction``); shadow deploys
    none, so a shadow run watches the live capital its virtual size stands for."""
    stage = STAGE_OF_MODE[mode]
    return {d.strategy: policy.capital_for(d.strategy, stage) or
            policy.capital_for(d.strategy, "live") for d in deployed}


def cost_rates(deployed: list[Deployed]) -> dict[str, CostRates]:
    """Each strategy's cost rates: its version's cost schedule (the one research charged),
    else the latest schedule - live P&L is never counted gross."""
    return {d.strategy: load_cost_rates() if d.cost_schedule is None
            else load_cost_rates_version(d.cost_schedule) for d in deployed}


def build(config: VersionConfig, version: int, mode: str, fraction: float,
          snapshot_digest: str, governance: SignalGovernance | None = None,
          confidence: ConfidenceModel | None = None) -> Deployed:
    """A :class:`Deployed` from the registered version's config (and its signal
    governance artifacts and confidence calibrator, when it carries them)."""
    sim = config.sim
    check_supported(sim.to_json())
    venue = config.venue
    lots = lots_for(sim.qty_lots, mode, fraction)
    rules = Rules(qty=lots * sim.lot_size, max_trades_per_day=sim.max_trades_per_day,
                  cutoff=resolve_cutoff(config.cutoff, venue),
                  bar=timedelta(minutes=1), tz=get_venue(venue).tz,
                  level_tick=sim.tick_size if sim.round_levels else 0.0,
                  **{key: getattr(sim, key) for key in LEVEL_KEYS})
    return Deployed(config.strategy, version, config.spec, config.params, config.symbols,
                    venue, rules, fraction, snapshot_digest, sim.slippage_ticks,
                    sim.tick_size, sim.lot_size, sim.cost_schedule, config.product,
                    config.execution, governance=governance, health=config.health,
                    confidence=confidence, per_symbol=symbol_rules(config, rules, lots))


def order_rule_problem(d: Deployed, rules: OrderRules, broker: str, exchange: str
                       ) -> str | None:
    """Why ``d`` may not trade on ``broker``/``exchange`` under the NSE/Kite order rules
    (None: it may): a MIS version whose cutoff is not safely before the broker's MIS
    square-off; protective orders (one stop or target for the whole position) above a
    symbol's freeze quantity, which cannot be sliced."""
    problem = mis_refusal(product=d.product, cutoff=d.rules.cutoff,
                          square_off=rules.square_off_for(broker, exchange),
                          margin_minutes=rules.mis_cutoff_margin_minutes, broker=broker,
                          exchange=exchange)
    if problem is not None:
        return problem
    if d.rules.has_stop or d.rules.has_target:
        for symbol in d.symbols:
            freeze, qty = rules.freeze_for(symbol), d.rules_for(symbol).qty
            if qty > freeze:
                return (f"{qty} units per trade in {symbol} with protective exits: "
                        f"a stop or target above the freeze quantity {freeze} would need "
                        "slicing, which one-cancels-other orders cannot do; trade fewer lots")
    return None


def load_deployed(service: Any, mode: str, strategies: list[str] | None = None
                  ) -> tuple[list[Deployed], list[Refusal]]:
    """Verified, loadable strategy versions for ``mode``; the refusals with reasons.
    Ensemble versions are not among them: :func:`live.runner.ensembles.load_approved` loads
    both."""
    from live.canonical import digest
    from strategies.lineage import strategies_source_hash
    from strategies.params import get_params, params_hash

    stage = STAGE_OF_MODE[mode]
    installed = strategies_source_hash()
    loaded: list[Deployed] = []
    refused: list[Refusal] = []
    for name in [n for n in strategies or list(STRATEGIES) if not is_ensemble_name(n)]:
        check = service.verify_deployment(name, stage)
        if check.version is None and check.snapshot is None:
            continue  # nothing deployed at this stage and no alias: not an error
        if not check.ok:
            refused.append(Refusal(name, "; ".join(check.problems)))
            continue
        body = check.snapshot["body"]
        if body.get("strategies_source_hash") != installed:
            refused.append(Refusal(name, "installed strategies code differs from the code "
                                         "the version was researched with"))
            continue
        try:
            config = service.registry.load_config(
                name, check.version, expected_digest=body["model_digest"],
                expected_source_hash=body["strategies_source_hash"])
            if params_hash(config.params) != body.get("params_hash"):
                refused.append(Refusal(name, (
                    f"v{check.version} trades params {get_params(config.params)} (hash "
                    f"{params_hash(config.params)}), but its signed approval names params "
                    f"hash {body.get('params_hash')!r}: the checker approved other params")))
                continue
            governance = service.registry.load_governance(
                name, check.version, expected_digest=body["model_digest"])
            confidence = service.registry.load_confidence(
                name, check.version, expected_digest=body["model_digest"])
            loaded.append(build(config, check.version, mode, float(body["capital_fraction"]),
                                digest(check.snapshot), governance, confidence))
        except (UnsupportedVersionError, LookupError, ValueError, KeyError) as exc:
            refused.append(Refusal(name, str(exc)))
    return loaded, refused


def load_candidates(registry: Any, strategies: list[str] | None = None
                    ) -> tuple[list[Deployed], list[Refusal]]:
    """The latest registered version of each strategy, for a **shadow-only** evaluation of
    research candidates (no approval, zero capital, never an order): how the main command
    ends with a paper session before anyone has approved anything.

    Only the version's MLflow tags vouch for its artifacts' digest and source hash here (no
    signed snapshot exists yet), which anyone with registry edit rights can set. That is
    acceptable because nothing from the artifacts executes (the config is read as data and
    validated, the installed code must hash to the version's) and candidates are shadow-only.
    """
    loaded, refused = [], []
    for name in strategies or list(STRATEGIES):
        try:
            found = registry.get_version(name, "latest")
            config = registry.load_config(name, found.version)
            loaded.append(build(config, found.version, "shadow", 0.0, "unapproved-candidate",
                                registry.load_governance(name, found.version),
                                registry.load_confidence(name, found.version)))
        except (UnsupportedVersionError, LookupError, ValueError, KeyError) as exc:
            refused.append(Refusal(name, str(exc)))
    return loaded, refused


def qty_text(d: Deployed) -> str:
    """``d``'s units per trade: one number, or per symbol when its lots differ by symbol;
    the ensemble version it trades under, if any."""
    under = "" if d.ensemble is None else f", under {d.ensemble.label}"
    if not d.per_symbol:
        return f"{d.rules.qty} qty{under}"
    return ", ".join(f"{size.symbol} {rules.qty} qty" for size, rules in d.per_symbol) + under


def describe(deployed: list[Deployed]) -> str:
    return json.dumps([{"strategy": d.strategy, "version": d.version, "qty": d.rules.qty,
                        **({"qty_by_symbol": {s.symbol: r.qty for s, r in d.per_symbol}}
                           if d.per_symbol else {})} for d in deployed])
