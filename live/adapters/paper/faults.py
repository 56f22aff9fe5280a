"""Fault injection for the paper exchange, stored in its database so that a test can switch a
fault on from another process than the one trading. All faults are off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from live.adapters.paper import store
from live.adapters.paper.sqlite_tx import RawTx, prebuilt
from live.broker import BrokerUnavailableError as BrokerUnavailableError  # re-exported
from strategies.errors import StratopsError

DEFAULT_REJECT_REASON = "RMS: margin exceeds (paper fault)"


@dataclass(frozen=True, kw_only=True, slots=True)
class Faults:
    """Active faults.

    ``drop_ack_next``: the next N submits are applied at the exchange but answer UNKNOWN (a
    lost response). ``duplicate_fill_next``: the next fill is listed twice, with one trade id,
    by ``fills()``. ``unavailable``: every command answers UNKNOWN without reaching the
    exchange and every report raises :class:`BrokerUnavailableError`. ``reject_next``: the
    next N submits are rejected with ``reject_reason`` (a broker risk-check - RMS - refusal).
    """

    drop_ack_next: int = 0
    duplicate_fill_next: bool = False
    unavailable: bool = False
    reject_next: int = 0
    reject_reason: str = DEFAULT_REJECT_REASON


class FaultSettingError(StratopsError, ValueError):
    """A fault setting outside its domain."""


# built once: read per call
_READ = prebuilt(sa.select(store.faults).where(store.faults.c.id == 1))


_WRITE = prebuilt(store.faults.update().where(store.faults.c.id == 1).values(
    {name: sa.bindparam(name) for name in (
        "drop_ack_next", "duplicate_fill_next", "unavailable", "reject_next", "reject_reason")}))


def read_faults(conn: store.Conn) -> Faults:
    """The faults in effect; read once per raw SQLite transaction (its own writes kept)."""
    memo = conn.memo if isinstance(conn, RawTx) else None
    if memo is not None and "faults" in memo:
        cached: Faults = memo["faults"]
        return cached
    row = conn.execute(_READ).one()
    value = Faults(drop_ack_next=row.drop_ack_next,
                   duplicate_fill_next=bool(row.duplicate_fill_next),
                   unavailable=bool(row.unavailable), reject_next=row.reject_next or 0,
                   reject_reason=row.reject_reason or DEFAULT_REJECT_REASON)
    if memo is not None:
        memo["faults"] = value
    return value


def write_faults(conn: store.Conn, value: Faults) -> None:
    for name in ("drop_ack_next", "reject_next"):
        if getattr(value, name) < 0:
            raise FaultSettingError(f"{name} {getattr(value, name)!r}: must be >= 0")
    if not value.reject_reason:
        raise FaultSettingError("reject_reason: must not be empty")
    conn.execute(_WRITE, {
        "drop_ack_next": value.drop_ack_next, "duplicate_fill_next": value.duplicate_fill_next,
        "unavailable": value.unavailable, "reject_next": value.reject_next,
        "reject_reason": value.reject_reason})
    if isinstance(conn, RawTx):
        conn.memo["faults"] = value


def set_faults(engine: sa.Engine, *, drop_ack_next: int | None = None,
               duplicate_fill_next: bool | None = None,
               unavailable: bool | None = None, reject_next: int | None = None,
               reject_reason: str | None = None) -> Faults:
    """Change the given fault settings (None keeps one) in the store behind ``engine``;
    usable from any process without building an exchange. Returns the new settings."""
    store.create(engine)
    with engine.begin() as conn:
        old = read_faults(conn)
        new = Faults(
            drop_ack_next=old.drop_ack_next if drop_ack_next is None else drop_ack_next,
            duplicate_fill_next=(old.duplicate_fill_next if duplicate_fill_next is None
                                 else duplicate_fill_next),
            unavailable=old.unavailable if unavailable is None else unavailable,
            reject_next=old.reject_next if reject_next is None else reject_next,
            reject_reason=old.reject_reason if reject_reason is None else reject_reason)
        write_faults(conn, new)
    return new
