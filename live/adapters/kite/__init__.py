"""Zerodha Kite Connect: the broker adapter, its pure payload parsing and error mapping, its
credentials (environment or an owner-only secret file; token freshness), the client-side
rate limiter and the order updates pushed over the WebSocket."""

from live.adapters.kite.adapter import KiteAmbiguousTagError, KiteBroker, KiteClient
from live.adapters.kite.credentials import (
    KiteCredentials,
    KiteCredentialsError,
    KiteTokenStaleError,
    load_credentials,
    require_fresh_token,
    token_expiry,
    token_fresh,
)
from live.adapters.kite.errors import (
    KiteFailure,
    KiteQueryError,
    KiteRateLimitedError,
    KiteSessionError,
    classify_kite_error,
)
from live.adapters.kite.order_updates import OrderUpdateQueue, parse_order_update
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
from live.adapters.kite.rate_limit import KiteRateLimits, RateLimitedKite

__all__ = [
    "KITE_STATES",
    "KiteAmbiguousTagError",
    "KiteBroker",
    "KiteClient",
    "KiteCredentials",
    "KiteCredentialsError",
    "KiteFailure",
    "KiteParseError",
    "KiteQueryError",
    "KiteRateLimitedError",
    "KiteRateLimits",
    "KiteSessionError",
    "KiteTokenStaleError",
    "OrderUpdateQueue",
    "RateLimitedKite",
    "classify_kite_error",
    "kite_state",
    "load_credentials",
    "parse_fill",
    "parse_kite_ts",
    "parse_order",
    "parse_order_update",
    "parse_positions",
    "place_order_kwargs",
    "require_fresh_token",
    "token_expiry",
    "token_fresh",
]
