"""Freeze-quantity slicing: an order above the exchange's freeze quantity is sent as slices
of at most that many units (whole lots), each its own intent with a deterministic client key
from the order's trace, so a restart re-derives the same keys and sends nothing twice.

Slice 0 keeps the unsliced key (``client_key(trace)``), so an order under the freeze
quantity is keyed as before; slice ``i >= 1`` uses leg :data:`SLICE_LEG_BASE` + ``i``,
far from the legs protective orders take on an entry's trace.
"""

from __future__ import annotations

from live.events import client_key
from strategies.errors import StratopsError

SLICE_LEG_BASE = 1_000_000  # protective legs stay below 10 x MAX_GENERATIONS (10_000)
MAX_SLICES = 100  # an order needing more is refused (a fat finger, not a trade)


class SliceError(StratopsError, ValueError):
    """An order that cannot be sliced (freeze below one lot, too many slices, bad qty)."""


def slice_key(trace_id: str, index: int) -> str:
    """The client key of slice ``index`` of the order traced ``trace_id``."""
    if index < 0:
        raise SliceError(f"slice index {index!r}: must be >= 0")
    return client_key(trace_id, 0 if index == 0 else SLICE_LEG_BASE + index)


def slice_qty(total: int, freeze_qty: int, lot_size: int) -> list[int]:
    """``total`` units as slices of at most ``freeze_qty`` units, each whole lots: the
    biggest slices first, the rest last. One slice when ``total`` fits."""
    if lot_size < 1 or total < 1 or total % lot_size:
        raise SliceError(f"qty {total!r} is not a positive whole number of lots of "
                         f"{lot_size!r}")
    per_slice = freeze_qty // lot_size * lot_size
    if per_slice < 1:
        raise SliceError(f"freeze quantity {freeze_qty} is below one lot of {lot_size}")
    full, rest = divmod(total, per_slice)
    slices = [per_slice] * full + ([rest] if rest else [])
    if len(slices) > MAX_SLICES:
        raise SliceError(f"qty {total} needs {len(slices)} slices of {per_slice} "
                         f"(freeze quantity {freeze_qty}); more than {MAX_SLICES}")
    return slices


def replan(total: int, first_slice: int) -> list[int]:
    """The slices of a plan whose first slice (journaled) holds ``first_slice`` units of
    ``total``: what a restart re-derives from the journaled first intent."""
    if first_slice < 1 or total < first_slice:
        raise SliceError(f"first slice {first_slice!r} of {total!r}: not a plan")
    full, rest = divmod(total, first_slice)
    return [first_slice] * full + ([rest] if rest else [])
