"""Build the runner's market feed from a ``--feed`` spec and the ``live.market`` settings:
``replay:<dataset>`` (the research Parquet; built by :mod:`stratops.live_ops`), ``kite``
(the live Kite ticker, with the historical catch-up and the tick recorder) or
``ticks:<YYYY-MM-DD>`` (a recorded day replayed tick by tick).

Kite credentials come from the broker side's reader (:func:`feed_credentials`: the
environment or the 0600 secret file, never a file in the repository, never logged); the
subscribed tokens from the instrument master (each traded underlying's front contract).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from stratops.clock import utc_now
from stratops.errors import LiveSetupError
from stratops.settings import Settings

if TYPE_CHECKING:
    from live.contracts import ContractBook

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


def feed_credentials(settings: Settings, now: datetime | None = None) -> tuple[str, str]:
    """(api key, access token) for the ticker and the historical API: the broker side's
    reader (:func:`stratops.kite_ops.kite_credentials`: the environment, then the 0600
    secret file ``live.kite.secret_file``), the token checked fresh - the feed never
    connects on a stale token. Refusals name the variable or file, never a value."""
    from live.adapters.kite.credentials import (
        KiteCredentialsError,
        KiteTokenStaleError,
        require_fresh_token,
    )
    from stratops.kite_ops import kite_credentials

    try:
        credentials = kite_credentials(settings)
        require_fresh_token(credentials, utc_now() if now is None else now)
    except (KiteCredentialsError, KiteTokenStaleError) as exc:
        raise LiveSetupError(f"--feed kite refused: {exc}") from exc
    assert credentials.access_token is not None  # require_fresh_token checked it
    return credentials.api_key, credentials.access_token


def session_tokens(contracts: ContractBook, symbols: Iterable[str], day: date) -> dict[int, str]:
    """token -> bar symbol (the underlying, as the runner names it) of each traded symbol's
    front contract on ``day`` in the instrument master; an underlying missing from the
    master or without a current contract is refused."""
    wanted = sorted(set(symbols))
    try:
        chosen = contracts.session_tokens(wanted, day)
    except (KeyError, ValueError) as exc:
        raise LiveSetupError(f"--feed kite: no contract to subscribe on {day}: {exc}") \
            from exc
    tokens = {token: contract.name for token, contract in chosen.items()}
    if sorted(tokens.values()) != wanted:
        raise LiveSetupError(f"--feed kite: the master's front contracts on {day} do not "
                             f"cover {wanted} one token each: {tokens}")
    return tokens


def kite_feed(settings: Settings, symbols: list[str], venue: str, *,
              ticker: Any = None, history: Any = None, contracts: ContractBook | None = None,
              day: date | None = None, clock: Callable[[], datetime] | None = None) -> Any:
    """The live Kite feed (not yet connected: it connects when the runner iterates it),
    subscribed to the front contract of each of ``symbols`` on ``day`` (today's session by
    default) from ``contracts`` (the instrument master's book by default). ``ticker``
    defaults to the real ``KiteTicker`` at ``live.market.ticker_url``; ``history`` (the
    catch-up's source: pass the Kite broker's rate-limited client when there is one)
    defaults to a ``KiteConnect`` at ``live.kite.root``. ``clock`` is the aware wall clock
    by default (a test drives a simulated one)."""
    from live.market.clock_offset import system_ntp_offset_ms
    from live.market.kite_feed import KiteFeed, KiteFeedConfig
    from live.market.kite_ticker import real_ticker
    from live.market.recorder import TickRecorder
    from strategies.venues import get_venue
    from stratops.instruments_ops import contract_book

    market = settings.live.market
    clock = clock or utc_now
    book = contracts if contracts is not None else contract_book(settings)
    the_day = day if day is not None else book.session_of(clock())
    tokens = session_tokens(book, symbols, the_day)
    if ticker is None or (market.catchup and history is None):
        api_key, access_token = feed_credentials(settings, clock())
        if ticker is None:
            ticker = real_ticker(api_key, access_token, root=market.ticker_url,
                                 reconnect_max_tries=market.reconnect_max_tries,
                                 reconnect_max_delay=market.reconnect_max_delay)
        if market.catchup and history is None:
            from kiteconnect import KiteConnect

            history = KiteConnect(api_key, access_token=access_token,
                                  root=settings.live.kite.root,
                                  timeout=settings.live.kite.timeout_s)
    if not market.catchup:
        history = None
    the_venue = get_venue(venue)
    recorder = TickRecorder(settings.path(market.ticks_dir), tz=the_venue.tz,
                            flush_seconds=market.record_flush_seconds) \
        if market.record_ticks else None
    config = KiteFeedConfig(
        stale_after_seconds=market.stale_after_seconds, grace_seconds=market.bar_grace_seconds,
        catchup_sessions=market.catchup_sessions or settings.live.max_history_sessions,
        catchup_settle_seconds=market.catchup_settle_seconds,
        clock_max_offset_ms=settings.live.clock.max_offset_ms,
        clock_window_ticks=settings.live.clock.window_ticks,
        ntp_every_seconds=settings.live.clock.ntp_every_seconds)
    return KiteFeed(ticker, tokens, the_venue, clock=clock, monotonic=time.monotonic,
                    config=config, history=history, recorder=recorder,
                    ntp_probe=system_ntp_offset_ms)


def recorded_feed(settings: Settings, day: str, symbols: list[str], venue: str) -> Any:
    """A recorded day's ticks replayed through the live bar builder (its traded symbols)."""
    from live.market.tick_replay import tick_replay
    from strategies.venues import get_venue

    market = settings.live.market
    folder = settings.path(market.ticks_dir) / day
    return tick_replay(folder, get_venue(venue), symbols=None,  # the tokens as recorded
                       grace_seconds=market.bar_grace_seconds)
