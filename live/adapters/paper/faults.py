"""Fault injection for the paper exchange, stored in its database so that a test can switch a
fault on from another process than the one trading. All faults are off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from live.adapters.paper import store
from live.broker import BrokerUnavailableError as BrokerUnavailableError  # re-exported
from strategies.errors import StratopsError


@dataclass(frozen=True, kw_only=True, slots=True)
class Faults:
    """Active faults.

    ``drop_ack_next``: the next N submits are applied at the exchange but answer UNKNOWN (a
    lost response). ``duplicate_fill_next``: the next fill is listed twice, with one trade id,
    by ``fills()``. ``unavailable``: every command answers UNKNOWN without reaching the
    exchange and every report raises :class:`BrokerUnavailableError`.
    """

    drop_ack_next: int = 0
    duplicate_fill_next: bool = False
    unavailable: bool = False


class FaultSettingError(StratopsError, ValueError):
    """A fault setting outside its domain."""


def read_faults(conn: sa.Connection) -> Faults:
    row = conn.execute(sa.select(store.faults).where(store.faults.c.id == 1)).one()
    return Faults(drop_ack_next=row.drop_ack_next,
                  duplicate_fill_next=bool(row.duplicate_fill_next),
                  unavailable=bool(row.unavailable))


def write_faults(conn: sa.Connection, value: Faults) -> None:
    if value.drop_ack_next < 0:
        raise FaultSettingError(f"drop_ack_next {value.drop_ack_next!r}: must be >= 0")
    conn.execute(store.faults.update().where(store.faults.c.id == 1).values(
        drop_ack_next=value.drop_ack_next, duplicate_fill_next=value.duplicate_fill_next,
        unavailable=value.unavailable))


def set_faults(engine: sa.Engine, *, drop_ack_next: int | None = None,
               duplicate_fill_next: bool | None = None,
               unavailable: bool | None = None) -> Faults:
    """Change the given fault settings (None keeps one) in the store behind ``engine``;
    usable from any process without building an exchange. Returns the new settings."""
    store.create(engine)
    with engine.begin() as conn:
        old = read_faults(conn)
        new = Faults(
            drop_ack_next=old.drop_ack_next if drop_ack_next is None else drop_ack_next,
            duplicate_fill_next=(old.duplicate_fill_next if duplicate_fill_next is None
                                 else duplicate_fill_next),
            unavailable=old.unavailable if unavailable is None else unavailable)
        write_faults(conn, new)
    return new
