"""The replay feed's warm-up from stored data: the replayed dataset's bars of the sessions
before the first traded bar, handed to the runner as :class:`~live.runner.feed.WarmBar`s
(journaled like any bar, so a restart folds them back; never decided or traded on) - the
same path as the Kite feed's catch-up (:mod:`live.market.catchup`).

The window holds ``sessions`` sessions with the first traded one included (as the Kite
catch-up's and as the runner's history keeps them: ``live.max_history_sessions``), so the
``sessions - 1`` stored sessions before it warm the history. Only bars strictly before the
first traded bar are taken: no look-ahead. Sessions are the dataset's exchange-local dates
(the dates ``--from``/``--to`` select).

A symbol with no stored session before the first traded bar cannot be warmed: its entries
are held (a :class:`~live.runner.feed.FeedHold`, with a journaled note) until its history
holds one whole traded session, i.e. from its second traded session on; fewer stored
sessions than wanted is a warning only (the features' longest window is one session).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from live.events import Severity
from live.runner.feed import FeedAlert, FeedBar, FeedHold, FeedItem, WarmBar, replay_bars

WARMUP_SHORT = "warmup_short"  # fewer stored sessions than wanted (warning)
WARMUP_MISSING = "warmup_missing"  # none at all: the symbol's entries are held


@dataclass(frozen=True)
class ReplayWarmup:
    """The warm-up bars of a replay (rows of the dataset, time order) and what was short."""

    bars: pd.DataFrame
    wanted: int  # stored sessions wanted before the first traded bar
    found: dict[str, int] = field(default_factory=dict)  # symbol -> stored sessions taken
    first_ts: datetime | None = None  # the first traded bar (None: nothing is traded)

    @property
    def missing(self) -> tuple[str, ...]:
        """Symbols with no stored session to warm from (their entries are held)."""
        if self.wanted <= 0:
            return ()
        return tuple(sorted(s for s, n in self.found.items() if n == 0))

    def notes(self, dataset: str) -> list[str]:
        """One line per symbol warmed short, for the operator (also journaled)."""
        if self.first_ts is None:
            return []
        first = self.first_ts.isoformat()
        out = []
        for symbol, n in sorted(self.found.items()):
            if n == 0 and self.wanted > 0:
                out.append(f"{symbol}: no stored bars of {dataset} before the first traded "
                           f"bar {first}: history cannot be warmed; new entries held until "
                           "a whole session is in the history (exits flow)")
            elif n < self.wanted:
                out.append(f"{symbol}: warmed from {n} stored session(s) of {dataset} "
                           f"before {first}, {self.wanted} wanted (the dataset starts later)")
        return out


def replay_warmup(history: pd.DataFrame, traded: pd.DataFrame, sessions: int
                  ) -> ReplayWarmup:
    """The warm-up of a replay of ``traded`` (the rows to trade, sorted by time) from
    ``history`` (all the dataset's rows of the traded symbols, sorted): per symbol, its rows
    of the last ``sessions - 1`` exchange-local dates before the first traded bar's, and
    those of that date before it (a replay starting mid-session)."""
    wanted = max(0, sessions - 1)
    if traded.empty:
        return ReplayWarmup(history.iloc[:0], wanted)
    first = traded["ts"].iloc[0]
    symbols = sorted(set(traded["symbol"]))
    before = history[(history["ts"] < first) & history["symbol"].isin(symbols)]
    day = before["ts"].dt.tz_localize(None).dt.normalize()
    first_day = pd.Timestamp(first.tz_localize(None).normalize())
    keep = pd.Series(False, index=before.index)
    found: dict[str, int] = {}
    for symbol in symbols:
        mine = before["symbol"] == symbol
        days = sorted(d for d in set(day[mine]) if d < first_day)
        chosen = days[-wanted:] if wanted else []
        found[symbol] = len(chosen)
        keep |= mine & (day >= (chosen[0] if chosen else first_day))
    rows = before[keep].sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    return ReplayWarmup(rows, wanted, found, first.to_pydatetime())


def warmed(warmup: ReplayWarmup, dataset: str, bars: Iterable[FeedItem]
           ) -> Iterator[FeedItem]:
    """``bars`` preceded by the warm-up: its bars as :class:`WarmBar`, then a journaled note
    per symbol warmed short, and a hold of the entries of each symbol with no stored
    session, lifted at that symbol's second traded session."""
    last: datetime | None = None
    for bar in replay_bars(warmup.bars):
        last = bar.ts
        yield WarmBar(bar)
    if warmup.first_ts is None:
        yield from bars
        return
    at = last or warmup.first_ts
    for note in warmup.notes(dataset):
        missing = note.split(":", 1)[0] in warmup.missing
        yield FeedAlert(at, Severity.WARNING, WARMUP_MISSING if missing else WARMUP_SHORT,
                        f"replay warm-up: {note}")
    held = {s: "" for s in warmup.missing}  # symbol -> the local date of its first session
    for symbol in held:
        yield FeedHold(at, symbol, True, f"no stored history of {dataset} to warm from")
    for item in bars:
        if held and isinstance(item, FeedBar) and item.symbol in held:
            day = item.ts.date().isoformat()  # the replay's times are exchange-local
            first = held[item.symbol]
            if not first:
                held[item.symbol] = day
            elif day != first:
                del held[item.symbol]
                yield FeedHold(item.ts, item.symbol, False,
                               f"a whole session ({first}) is in the history")
        yield item
