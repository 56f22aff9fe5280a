"""The contract each order trades: the session's front future of the bar's underlying.

The feed's symbol is the underlying (``NIFTY``); the order goes to a futures contract. A
:class:`ContractBook` answers, from the instrument master and the roll rule
(:mod:`strategies.contracts`), which contract a bar's session trades, and which contract an
open position is held in (an exit trades the position's contract, not today's front one). It
also checks a version's simulated lot and tick sizes against the master: the master is the
exchange's word, so a version that contradicts it is refused rather than resized. Every
failure is an exception naming the instrument; the runner turns it into a denial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from strategies.contracts import RollRule, check_not_expired, front_contract
from strategies.instruments import Contract, InstrumentMaster

TICK_TOLERANCE = 1e-9
IST = ZoneInfo("Asia/Kolkata")


class ContractBook:
    """Front contracts per (underlying, session) from one master and roll rule (cached)."""

    def __init__(self, master: InstrumentMaster, rule: RollRule, *,
                 exchange: str = "NFO") -> None:
        self.master = master
        self.rule = rule
        self.exchange = exchange
        self._front: dict[tuple[str, date], Contract] = {}

    @staticmethod
    def session_of(ts: datetime) -> date:
        """The NSE session date of a bar stamped ``ts`` (exchange time)."""
        return ts.astimezone(IST).date()

    def front(self, underlying: str, day: date) -> Contract:
        """The front future of ``underlying`` on ``day`` (raises if none may trade)."""
        key = (underlying, day)
        found = self._front.get(key)
        if found is None:
            found = front_contract(self.master, underlying, day, self.rule)
            check_not_expired(found, day)
            self._front[key] = found
        return found

    def held(self, tradingsymbol: str, day: date) -> Contract:
        """The contract a position is held in, if it is in the master and not expired."""
        contract = self.master.by_symbol(tradingsymbol, self.exchange)
        check_not_expired(contract, day)
        return contract

    def for_order(self, underlying: str, ts: datetime, held_in: str | None) -> Contract:
        """The contract an order on ``underlying`` at ``ts`` trades: the position's own
        contract when it holds one (``held_in``), else the session's front contract."""
        day = self.session_of(ts)
        return self.held(held_in, day) if held_in is not None else self.front(underlying, day)

    def session_tokens(self, underlyings: Iterable[str], day: date) -> dict[int, Contract]:
        """``instrument_token -> contract`` of each underlying's front contract on ``day``:
        what a live feed subscribes to, and how it maps a tick's token back to a contract
        (``contract.name`` is the underlying, the bar's symbol)."""
        fronts = (self.front(u, day) for u in underlyings)
        return {c.instrument_token: c for c in fronts}


def version_contract_problems(book: ContractBook, symbols: tuple[str, ...], day: date, *,
                              lot_size: int, tick_size: float,
                              symbol_sizes: Mapping[str, tuple[int, float]] | None = None
                              ) -> list[str]:
    """Why a version trading ``symbols`` cannot trade on ``day``: an underlying missing from
    the master, no current contract, or a simulated lot/tick size the master contradicts
    (``symbol_sizes``: symbol -> (lot, tick) of a several-symbol version, else ``lot_size``
    and ``tick_size`` for every symbol)."""
    problems = []
    for symbol in symbols:
        lot, tick = (symbol_sizes or {}).get(symbol, (lot_size, tick_size))
        try:
            contract = book.front(symbol, day)
        except (KeyError, ValueError) as exc:
            problems.append(str(exc))
            continue
        problems += [f"{symbol}: {p}" for p in contract_size_problems(
            contract, lot_size=lot, tick_size=tick)]
    return problems


def contract_size_problems(contract: Contract, *, lot_size: int, tick_size: float
                           ) -> list[str]:
    """Where a version's simulated lot and tick sizes disagree with ``contract``'s."""
    problems = []
    if contract.lot_size != lot_size:
        problems.append(f"the version simulates lot size {lot_size}, the master says "
                        f"{contract.lot_size} for {contract.tradingsymbol}")
    if abs(contract.tick_size - tick_size) > TICK_TOLERANCE:
        problems.append(f"the version simulates tick size {tick_size}, the master says "
                        f"{contract.tick_size} for {contract.tradingsymbol}")
    return problems
