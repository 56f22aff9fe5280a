"""Which futures contract to trade on a day: the front month and its roll rule.

From the instrument master's expiry column and the NSE trading calendar: the front contract of
an underlying on a session is the nearest-expiry FUT whose *roll day* is still ahead. The roll
day of a contract is the session ``days_before_expiry`` trading days before its expiry; from
that session on, the next contract is the front one. ``days_before_expiry=0`` rolls on the
expiry day itself (the expiring contract is never traded on its last day). Research (the
continuous futures series) and live (the session's contract) use this one rule.

An underlying without futures in the master, a tradingsymbol missing from it and a contract
past its expiry are refused with errors saying which, never guessed around.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from strategies.errors import BadInputError, RefusedError
from strategies.instruments import Contract, InstrumentMaster, UnknownInstrumentError
from strategies.venues import trading_days

__all__ = ["ContractRefusedError", "ExpiredContractError", "NoFrontContractError",
           "RollRule", "UnknownInstrumentError", "UnknownUnderlyingError", "contract_for",
           "front_contract", "roll_day"]

VENUE = "NSE"
DEFAULT_ROLL_DAYS = 1


class ContractRefusedError(RefusedError, ValueError):
    """A contract that may not be traded on the day asked."""


class ExpiredContractError(ContractRefusedError):
    """A contract whose expiry is before the day it was asked for."""


class NoFrontContractError(ContractRefusedError):
    """Every contract of the underlying in the master has rolled or expired (a stale
    master: load today's dump)."""


class UnknownUnderlyingError(BadInputError, KeyError):
    """An underlying with no futures in the master."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, kw_only=True, slots=True)
class RollRule:
    """Roll ``days_before_expiry`` NSE sessions before a contract's expiry (0: on the expiry
    day). Setting ``instruments.roll_days_before_expiry``."""

    days_before_expiry: int = DEFAULT_ROLL_DAYS

    def __post_init__(self) -> None:
        if isinstance(self.days_before_expiry, bool) or not isinstance(
                self.days_before_expiry, int) or not 0 <= self.days_before_expiry <= 15:
            raise BadInputError(f"roll days_before_expiry={self.days_before_expiry!r}: "
                                "an integer from 0 to 15")


def roll_day(expiry: date, rule: RollRule) -> date:
    """The first session on which the *next* contract is the front one."""
    sessions = trading_days(VENUE, expiry - timedelta(days=45), expiry)
    upto: list[date] = [d.date() for d in sessions if d.date() <= expiry]
    if not upto:
        raise BadInputError(f"no NSE session in the 45 days up to expiry {expiry}")
    if upto[-1] != expiry:  # an expiry set on a holiday: count from the session before
        upto.append(expiry)
    return upto[-1 - rule.days_before_expiry]


def front_contract(master: InstrumentMaster, underlying: str, day: date,
                   rule: RollRule) -> Contract:
    """The front-month future of ``underlying`` on session ``day`` under ``rule``.

    Raises
    ------
    UnknownUnderlyingError
        The master has no futures on ``underlying``.
    NoFrontContractError
        Every future on ``underlying`` in the master has rolled by ``day``.
    """
    futures = master.futures(underlying)
    if not futures:
        raise UnknownUnderlyingError(
            f"underlying {underlying!r} has no futures in {master.source}; its futures "
            f"underlyings: {list(master.underlyings())}")
    for contract in futures:
        assert contract.expiry is not None  # parse_master: a FUT row has an expiry
        if day < roll_day(contract.expiry, rule):
            return contract
    last = futures[-1]
    raise NoFrontContractError(
        f"{underlying}: no contract in {master.source} is front on {day} (the last, "
        f"{last.tradingsymbol}, expires {last.expiry}; roll {rule.days_before_expiry} "
        "session(s) before expiry); load a current instrument master")


def contract_for(master: InstrumentMaster, tradingsymbol: str, day: date, *,
                 exchange: str = "NFO") -> Contract:
    """The contract ``exchange:tradingsymbol`` if it may trade on ``day``.

    Raises
    ------
    UnknownInstrumentError
        Not in the master.
    ExpiredContractError
        Its expiry is before ``day``.
    """
    contract = master.by_symbol(tradingsymbol, exchange)
    check_not_expired(contract, day)
    return contract


def check_not_expired(contract: Contract, day: date) -> None:
    """Refuse (:class:`ExpiredContractError`) a contract whose expiry is before ``day``."""
    if contract.expired_on(day):
        raise ExpiredContractError(
            f"{contract.exchange}:{contract.tradingsymbol} expired on {contract.expiry}; "
            f"refused on {day}")
