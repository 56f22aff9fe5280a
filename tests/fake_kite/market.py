"""The fake Kite's market: 1-minute bars turned into a deterministic tick path per minute.

Each bar ``(ts, O, H, L, C, V)`` becomes four ticks with exchange timestamps ``ts + 0 s,
15 s, 30 s, 45 s`` at prices ``O, L, H, C`` when ``C >= O`` else ``O, H, L, C`` (the usual
OHLC path convention). The cumulative ``volume_traded`` of a symbol restarts at 0 each
session date and grows by ``V // 4`` on the first three ticks and the rest on the close tick,
so grouping ticks by exchange minute gives back the bar exactly: first price = O, max = H,
min = L, last = C, last ``volume_traded`` minus the previous minute's last (0 at the start of
the date) = V. Prices are whole paise (ints) everywhere; a bar price that is not a whole
number of paise is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

IST = ZoneInfo("Asia/Kolkata")
BAR_COLUMNS = ("ts", "symbol", "open", "high", "low", "close", "volume")
TICK_OFFSETS_S = (0, 15, 30, 45)
_MINUTE_NS = 60_000_000_000
EMPTY_MARKET_START = datetime(2000, 1, 3, 9, 15, tzinfo=IST)  # a session open, for no bars


class FakeMarketError(ValueError):
    """Bars the fake cannot serve (missing column, bad price, a bar in the past)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade print of a bars symbol. Prices in paise; ``ts`` is the exchange time."""

    symbol: str
    ts: datetime
    price_paise: int
    last_qty: int
    volume_traded: int
    avg_price_paise: int
    day_open_paise: int
    day_high_paise: int
    day_low_paise: int
    prev_close_paise: int
    opens_bar: bool = False


@dataclass(slots=True)
class _DayState:
    date: object
    volume: int = 0
    turnover_paise: int = 0
    open_paise: int = 0
    high_paise: int = 0
    low_paise: int = 0
    prev_close_paise: int = 0
    last_paise: int = 0


def to_paise(value: float, *, where: str) -> int:
    """``value`` rupees as whole paise; a value off the paise grid is refused."""
    paise = round(float(value) * 100)
    if not np.isfinite(value) or value <= 0 or abs(float(value) * 100 - paise) > 1e-6:
        raise FakeMarketError(f"{where}: price {value!r} is not a positive whole number of paise")
    return int(paise)


def _bar_arrays(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise FakeMarketError(f"bars: missing column(s) {missing}; need {list(BAR_COLUMNS)}")
    frame = bars.loc[:, list(BAR_COLUMNS)].copy()
    if not len(frame):
        empty = {k: np.zeros(0, dtype=np.int64) for k in BAR_COLUMNS if k != "symbol"}
        return {"ts_ns": empty.pop("ts"), "symbol": np.zeros(0, dtype=object), **empty}
    if getattr(frame["ts"].dt, "tz", None) is None:
        raise FakeMarketError("bars: column 'ts' must be timezone-aware")
    frame = frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    if frame.duplicated(["ts", "symbol"]).any():
        row = frame[frame.duplicated(["ts", "symbol"])].iloc[0]
        raise FakeMarketError(f"bars: duplicate bar {row['symbol']!r} at {row['ts']}")
    out: dict[str, np.ndarray] = {
        "ts_ns": np.asarray(
            frame["ts"].dt.tz_convert("UTC").dt.as_unit("ns").astype("int64"), dtype=np.int64),
        "symbol": np.asarray(frame["symbol"].astype(str), dtype=object),
    }
    for col in ("open", "high", "low", "close"):
        values = frame[col].to_numpy(dtype=float)
        paise = np.round(values * 100)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0)
                             | (np.abs(values * 100 - paise) > 1e-6))
        if bad.size:
            to_paise(float(values[bad[0]]), where=f"bars row {bad[0]} column {col!r}")
        out[col] = paise.astype(np.int64)
    volume = frame["volume"].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(volume) | (volume < 0) | (volume != np.round(volume)))
    if bad.size:
        raise FakeMarketError(f"bars row {bad[0]}: volume {volume[bad[0]]!r} is not a whole "
                              "number >= 0")
    out["volume"] = volume.astype(np.int64)
    low_ok = out["low"] <= np.minimum(out["open"], out["close"])
    high_ok = out["high"] >= np.maximum(out["open"], out["close"])
    bad = np.flatnonzero(~(low_ok & high_ok))
    if bad.size:
        raise FakeMarketError(f"bars row {bad[0]}: high/low do not contain open/close")
    return out


class FakeMarket:
    """Bars of one or more symbols and a clock: :meth:`ticks_until` yields each finished
    minute's tick path in time order (every symbol's ticks of one step together). The clock
    starts at ``start``, else at the first bar, else at a session open (no bars yet)."""

    def __init__(self, bars: pd.DataFrame, *, start: datetime | None = None) -> None:
        self._bars = _bar_arrays(bars)
        self._next = 0  # index of the first bar not yet started
        self._steps: list[list[Tick]] = []  # the started minute's steps not yet sent
        self._started_ns = -1  # the last minute whose ticks began to be sent
        self._day: dict[str, _DayState] = {}
        first = self._bars["ts_ns"][0] if len(self._bars["ts_ns"]) else None
        if start is not None:
            self.clock = start.astimezone(IST)
        elif first is not None:
            self.clock = _from_ns(int(first))
        else:
            self.clock = EMPTY_MARKET_START
        self.last_ts = self.clock

    @property
    def symbols(self) -> list[str]:
        return sorted(set(self._bars["symbol"].tolist()))

    def pending(self) -> bool:
        """True while ticks remain to be sent."""
        return bool(self._steps) or self._next < len(self._bars["ts_ns"])

    def append_bar(self, symbol: str, ts: datetime, o: float, h: float, low: float, c: float,
                   volume: int = 0) -> None:
        """Add one bar after every bar already held (a bar in the past is refused)."""
        frame = pd.DataFrame({"ts": [pd.Timestamp(ts)], "symbol": [symbol], "open": [o],
                              "high": [h], "low": [low], "close": [c], "volume": [volume]})
        new = _bar_arrays(frame)
        ts_ns = int(new["ts_ns"][0])
        if ts_ns < _to_ns(self.clock) or ts_ns <= self._started_ns:
            raise FakeMarketError(f"bar {symbol!r} at {ts}: the fake's clock is already "
                                  f"{self.clock}")
        held = self._bars["ts_ns"]
        if len(held) and ts_ns < int(held[-1]):
            raise FakeMarketError(f"bar {symbol!r} at {ts}: older than the last bar held")
        for key, value in new.items():
            self._bars[key] = np.concatenate([self._bars[key], value])

    def ticks_until(self, to_ts: datetime) -> Iterator[list[Tick]]:
        """Each step (all symbols' ticks at one exchange second) with an exchange time before
        ``to_ts``, in order: ``to_ts`` on a minute boundary sends whole bars, a time inside a
        minute sends that minute's ticks so far. The clock moves to ``to_ts`` (never back)."""
        to_ns = _to_ns(to_ts)
        while True:
            if not self._steps and not self._load_minute(to_ns):
                break
            ticks = self._steps[0]
            if _to_ns(ticks[0].ts) >= to_ns:
                break
            self._steps.pop(0)
            self.last_ts = ticks[0].ts
            self.clock = max(self.clock, self.last_ts)
            yield ticks
        self.clock = max(self.clock, _from_ns(to_ns))

    def _load_minute(self, to_ns: int) -> bool:
        """Queue the next minute's steps when it starts before ``to_ns``."""
        bars = self._bars
        if self._next >= len(bars["ts_ns"]) or int(bars["ts_ns"][self._next]) >= to_ns:
            return False
        start = stop = self._next
        minute_ns = int(bars["ts_ns"][start])
        while stop < len(bars["ts_ns"]) and int(bars["ts_ns"][stop]) == minute_ns:
            stop += 1
        self._next = stop
        self._started_ns = minute_ns
        paths = [self._path(i) for i in range(start, stop)]
        self._steps = [[path[step] for path in paths] for step in range(len(TICK_OFFSETS_S))]
        return True

    def candles(self, symbol: str, start: datetime, end: datetime) -> list[list[object]]:
        """Kite historical candles ``[ts, o, h, l, c, v]`` of ``symbol``'s bars with
        ``start <= ts <= end`` that have finished by the clock."""
        bars = self._bars
        start_ns, end_ns = _to_ns(start), _to_ns(end)
        done_ns = _to_ns(self.clock) - _MINUTE_NS
        mask = ((bars["symbol"] == symbol) & (bars["ts_ns"] >= start_ns)
                & (bars["ts_ns"] <= min(end_ns, done_ns)))
        return [[_from_ns(int(bars["ts_ns"][i])).strftime("%Y-%m-%dT%H:%M:%S%z"),
                 bars["open"][i] / 100.0, bars["high"][i] / 100.0, bars["low"][i] / 100.0,
                 bars["close"][i] / 100.0, int(bars["volume"][i])]
                for i in np.flatnonzero(mask)]

    def _path(self, i: int) -> list[Tick]:
        bars = self._bars
        symbol = str(bars["symbol"][i])
        bar_ts = _from_ns(int(bars["ts_ns"][i]))
        o, h, lo, c = (int(bars[k][i]) for k in ("open", "high", "low", "close"))
        prices = (o, lo, h, c) if c >= o else (o, h, lo, c)
        volume = int(bars["volume"][i])
        quarter = volume // 4
        deltas = (quarter, quarter, quarter, volume - 3 * quarter)
        day = self._day_state(symbol, bar_ts, o)
        ticks = []
        for offset, price, delta in zip(TICK_OFFSETS_S, prices, deltas, strict=True):
            day.volume += delta
            day.turnover_paise += price * delta
            day.high_paise = max(day.high_paise, price)
            day.low_paise = min(day.low_paise, price)
            day.last_paise = price
            avg = day.turnover_paise // day.volume if day.volume else price
            ticks.append(Tick(symbol=symbol, ts=bar_ts + timedelta(seconds=offset),
                              price_paise=price, last_qty=delta, volume_traded=day.volume,
                              avg_price_paise=avg, day_open_paise=day.open_paise,
                              day_high_paise=day.high_paise, day_low_paise=day.low_paise,
                              prev_close_paise=day.prev_close_paise,
                              opens_bar=offset == TICK_OFFSETS_S[0]))
        return ticks

    def _day_state(self, symbol: str, bar_ts: datetime, open_paise: int) -> _DayState:
        day = self._day.get(symbol)
        if day is None or day.date != bar_ts.date():
            prev_close = day.last_paise if day is not None else open_paise
            day = _DayState(date=bar_ts.date(), open_paise=open_paise, high_paise=open_paise,
                            low_paise=open_paise, prev_close_paise=prev_close)
            self._day[symbol] = day
        return day


def _to_ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise FakeMarketError(f"timestamp {ts!r} must be timezone-aware")
    return int(pd.Timestamp(ts).value)


def _from_ns(ts_ns: int) -> datetime:
    stamp: datetime = pd.Timestamp(ts_ns, tz="UTC").tz_convert(IST).to_pydatetime()
    return stamp
