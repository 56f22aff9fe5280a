"""Build the runner's market feed from a ``--feed`` spec and the ``live.market`` settings:
``replay:<dataset>`` (the research Parquet; built by :mod:`stratops.live_ops`), ``kite``
(the live Kite ticker, with the historical catch-up and the tick recorder) or
``ticks:<YYYY-MM-DD>`` (a recorded day replayed tick by tick).

Kite credentials come from :func:`kite_credentials` - the one place the feed reads them: the
environment (``KITE_API_KEY``, ``KITE_ACCESS_TOKEN``) until the broker side's credentials
reader (secret file 0600 or environment) replaces its body; never from a file in the
repository, never logged.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

FEED_KINDS = ("replay:<dataset>", "kite", "ticks:<YYYY-MM-DD>")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_feed_spec(spec: str) -> tuple[str, str]:
    """``(kind, argument)`` of a ``--feed`` value; a bad one is refused naming the forms."""
    from live.runner.feed import parse_feed

    if spec == "kite":
        return "kite", ""
    kind, _, arg = spec.partition(":")
    if kind == "ticks":
        try:
            if _DAY.fullmatch(arg):
                date.fromisoformat(arg)
                return "ticks", arg
        except ValueError:
            pass
        raise LiveSetupError(f"--feed {spec!r}: ticks:<YYYY-MM-DD> names a recorded day")
    if kind != "replay":
        raise LiveSetupError(f"--feed {spec!r}: one of {', '.join(FEED_KINDS)}")
    return "replay", parse_feed(spec)


def kite_credentials() -> tuple[str, str]:
    """(api key, access token) for the ticker and the historical API."""
    key, token = os.environ.get("KITE_API_KEY", ""), os.environ.get("KITE_ACCESS_TOKEN", "")
    missing = [n for n, v in (("KITE_API_KEY", key), ("KITE_ACCESS_TOKEN", token)) if not v]
    if missing:
        raise LiveSetupError(f"--feed kite needs Kite credentials: {', '.join(missing)} not "
                             "set (the access token comes from today's login)")
    return key, token


def instrument_tokens(settings: Settings, symbols: Iterable[str]) -> dict[int, str]:
    """token -> symbol for each traded symbol (``live.market.instrument_tokens``); a symbol
    without a token is refused, as are two symbols on one token."""
    table = settings.live.market.instrument_tokens
    missing = sorted(s for s in symbols if s not in table)
    if missing:
        raise LiveSetupError(f"no Kite instrument token for {missing}: set "
                             "live.market.instrument_tokens (symbol: token) in stratops.yaml")
    chosen = {s: table[s] for s in symbols}
    if len(set(chosen.values())) != len(chosen):
        raise LiveSetupError(f"live.market.instrument_tokens maps two symbols to one token: "
                             f"{chosen}")
    return {token: symbol for symbol, token in chosen.items()}


def kite_feed(settings: Settings, symbols: list[str], venue: str, *,
              ticker: Any = None, history: Any = None) -> Any:
    """The live Kite feed (not yet connected: it connects when the runner iterates it).
    ``ticker`` and ``history`` default to the real ``KiteTicker`` and ``KiteConnect`` at
    the configured root URLs."""
    from live.market.kite_feed import KiteFeed, KiteFeedConfig
    from live.market.kite_ticker import real_ticker
    from live.market.recorder import TickRecorder
    from strategies.venues import get_venue

    market = settings.live.market
    tokens = instrument_tokens(settings, symbols)
    if ticker is None:
        api_key, access_token = kite_credentials()
        ticker = real_ticker(api_key, access_token, root=market.ticker_url,
                             reconnect_max_tries=market.reconnect_max_tries,
                             reconnect_max_delay=market.reconnect_max_delay)
        if market.catchup:
            from kiteconnect import KiteConnect

            history = KiteConnect(api_key, access_token=access_token, root=market.rest_url)
    if not market.catchup:
        history = None
    the_venue = get_venue(venue)
    recorder = TickRecorder(settings.path(market.ticks_dir), tz=the_venue.tz,
                            flush_seconds=market.record_flush_seconds) \
        if market.record_ticks else None
    config = KiteFeedConfig(
        stale_after_seconds=market.stale_after_seconds, grace_seconds=market.bar_grace_seconds,
        catchup_sessions=market.catchup_sessions or settings.live.max_history_sessions,
        catchup_settle_seconds=market.catchup_settle_seconds)
    return KiteFeed(ticker, tokens, the_venue, clock=utc_now, monotonic=time.monotonic,
                    config=config, history=history, recorder=recorder)


def recorded_feed(settings: Settings, day: str, symbols: list[str], venue: str) -> Any:
    """A recorded day's ticks replayed through the live bar builder (its traded symbols)."""
    from live.market.tick_replay import tick_replay
    from strategies.venues import get_venue

    market = settings.live.market
    folder = settings.path(market.ticks_dir) / day
    configured = all(s in market.instrument_tokens for s in symbols)
    tokens = instrument_tokens(settings, symbols) if configured else None  # else as recorded
    return tick_replay(folder, get_venue(venue), symbols=tokens,
                       grace_seconds=market.bar_grace_seconds)
