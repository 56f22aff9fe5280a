"""Zerodha Kite Connect: the broker adapter, its pure payload parsing and error mapping."""

from live.adapters.kite.adapter import KiteAmbiguousTagError, KiteBroker, KiteClient
from live.adapters.kite.errors import (
    KiteFailure,
    KiteQueryError,
    KiteSessionError,
    classify_kite_error,
)
from live.adapters.kite.parsing import (
    KITE_STATES,
    KiteParseError,
    kite_state,
    parse_fill,
    parse_kite_ts,
    parse_order,
    parse_positions,
    place_order_kwargs,
)

__all__ = [
    "KITE_STATES",
    "KiteAmbiguousTagError",
    "KiteBroker",
    "KiteClient",
    "KiteFailure",
    "KiteParseError",
    "KiteQueryError",
    "KiteSessionError",
    "classify_kite_error",
    "kite_state",
    "parse_fill",
    "parse_kite_ts",
    "parse_order",
    "parse_positions",
    "place_order_kwargs",
]
