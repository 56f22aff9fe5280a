"""The fake Kite's ticker: packets decode exactly with kiteconnect's own parser, a day of ticks
re-aggregates to the dataset's bars exactly, and a real ``KiteTicker`` receives ticks,
heartbeats and order postbacks over loopback."""

from __future__ import annotations

import hashlib
import json
import queue
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kiteconnect import KiteConnect, KiteTicker
from websockets.sync.client import connect as ws_connect

from live.adapters.kite import parse_order
from live.broker import OrderState
from strategies.files import read_dataset
from tests.fake_kite import FakeKite, Tick
from tests.fake_kite.market import FakeMarket
from tests.fake_kite.packets import frame, tick_packet
from tests.fake_kite.reactor import close_ticker, connect_ticker
from tests.fake_kite.replay import kite_frames
from tests.synthetic_datasets import nse_index_1m_path

IST = ZoneInfo("Asia/Kolkata")
DAY = "2025-03-03"
PARSER = KiteTicker("k", "t")


def day_bars(symbols: tuple[str, ...] = ("NIFTY", "BANKNIFTY")) -> pd.DataFrame:
    frame_ = read_dataset(nse_index_1m_path())  # the DVC stage's output, built in process
    day = frame_[(frame_["ts"].dt.strftime("%Y-%m-%d") == DAY) & frame_["symbol"].isin(symbols)]
    return day.reset_index(drop=True)


def aggregate(ticks: list[dict[str, Any]]) -> pd.DataFrame:
    """Parsed full-mode ticks of one day -> 1-minute bars by exchange timestamp."""
    rows = []
    for t in ticks:
        ts = pd.Timestamp(t["exchange_timestamp"].astimezone(IST))  # naive local -> aware
        rows.append({"token": t["instrument_token"], "minute": ts.floor("min"),
                     "price": t["last_price"], "cum": t["volume_traded"]})
    frame_ = pd.DataFrame(rows)
    bars = frame_.groupby(["token", "minute"], sort=True).agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"),
        close=("price", "last"), cum=("cum", "last")).reset_index()
    bars["volume"] = bars.groupby("token")["cum"].diff().fillna(bars["cum"]).astype(int)
    return bars


def expected_bars(bars: pd.DataFrame, tokens: dict[str, int]) -> pd.DataFrame:
    out = bars.assign(token=bars["symbol"].map(tokens), minute=bars["ts"],
                      volume=bars["volume"].astype(int))
    return out[["token", "minute", "open", "high", "low", "close", "volume"]].sort_values(
        ["token", "minute"]).reset_index(drop=True)


def assert_same_bars(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal values, exactly (the datetime unit may differ: pandas 3 infers microseconds)."""
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got.drop(columns="cum"), expected, check_dtype=False,
                                  check_exact=True)


def _encode_day(bars: pd.DataFrame, token: int, mode: str, *, index: bool) -> list[bytes]:
    market = FakeMarket(bars)
    return [frame([tick_packet(tick, token=token, mode=mode, index=index, tick_paise=5,
                               lot_size=75, seed=0) for tick in step])
            for step in market.ticks_until(datetime(2030, 1, 1, tzinfo=IST))]


# --- packets against kiteconnect's parser ----------------------------------------------------

def test_full_packets_of_a_day_reaggregate_to_the_bars_exactly() -> None:
    bars = day_bars(("NIFTY",))
    ticks = [t for data in _encode_day(bars, 13056258, "full", index=False)
             for t in PARSER._parse_binary(data)]
    assert_same_bars(aggregate(ticks), expected_bars(bars, {"NIFTY": 13056258}))


def test_full_packet_is_184_bytes_with_five_levels_each_side() -> None:
    [step, *_] = FakeMarket(day_bars(("NIFTY",))).ticks_until(datetime(2030, 1, 1, tzinfo=IST))
    packet = tick_packet(step[0], token=13056258, mode="full", index=False, tick_paise=5,
                         lot_size=75, seed=0)
    [tick] = PARSER._parse_binary(frame([packet]))
    assert len(packet) == 184
    assert (len(tick["depth"]["buy"]), len(tick["depth"]["sell"])) == (5, 5)
    assert tick["depth"]["buy"][0]["price"] < tick["last_price"] < tick["depth"]["sell"][0][
        "price"]
    assert tick["total_buy_quantity"] == sum(d["quantity"] for d in tick["depth"]["buy"])


@pytest.mark.parametrize(("mode", "index", "size"), [
    ("ltp", False, 8), ("quote", False, 44), ("full", False, 184),
    ("ltp", True, 8), ("quote", True, 28), ("full", True, 32)])
def test_packet_sizes_and_modes_match_the_parser(mode: str, index: bool, size: int) -> None:
    token = 256265 if index else 13056258  # low byte 9 = indices, 2 = NFO
    [step, *_] = FakeMarket(day_bars(("NIFTY",))).ticks_until(datetime(2030, 1, 1, tzinfo=IST))
    packet = tick_packet(step[0], token=token, mode=mode, index=index, tick_paise=5,
                         lot_size=75, seed=0)
    [tick] = PARSER._parse_binary(frame([packet]))
    assert len(packet) == size
    assert (tick["mode"], tick["tradable"], tick["last_price"]) == (
        mode, not index, step[0].price_paise / 100)


def test_depth_is_deterministic_for_a_seed() -> None:
    bars = day_bars(("NIFTY",)).head(5)
    assert _encode_day(bars, 13056258, "full", index=False) == _encode_day(
        bars, 13056258, "full", index=False)


@given(price=st.integers(1, 2**31), volume=st.integers(0, 2**31), qty=st.integers(0, 2**20),
       second=st.integers(1_600_000_000, 1_900_000_000))
def test_any_full_tick_round_trips_through_the_parser(price: int, volume: int, qty: int,
                                                      second: int) -> None:
    ts = datetime.fromtimestamp(second, tz=IST)
    tick = Tick(symbol="X", ts=ts, price_paise=price, last_qty=qty, volume_traded=volume,
                avg_price_paise=price, day_open_paise=price, day_high_paise=price,
                day_low_paise=price, prev_close_paise=price)
    [parsed] = PARSER._parse_binary(frame([tick_packet(
        tick, token=13056258, mode="full", index=False, tick_paise=5, lot_size=1, seed=1)]))
    assert (parsed["last_price"], parsed["volume_traded"], parsed["last_traded_quantity"]) == (
        price / 100, volume, qty)
    assert parsed["exchange_timestamp"].astimezone(IST) == ts


# --- a real KiteTicker over loopback ---------------------------------------------------------

class TickerProbe:
    """A real KiteTicker whose callbacks feed queues (they run on the reactor thread)."""

    def __init__(self, fake: FakeKite, tokens: list[int], mode: str = "full") -> None:
        self.ticks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.orders: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: queue.Queue[str] = queue.Queue()
        self.heartbeats = 0
        self.ticker = KiteTicker(fake.api_key, fake.access_token, root=fake.ticker_root)
        self.ticker.on_connect = lambda ws, _: self._subscribe(ws, tokens, mode)
        self.ticker.on_ticks = lambda ws, ticks: [self.ticks.put(t) for t in ticks]
        self.ticker.on_order_update = lambda ws, data: self.orders.put(data)
        self.ticker.on_message = self._on_message
        self.ticker.on_close = lambda ws, code, reason: self.events.put("closed")

    def _subscribe(self, ws: KiteTicker, tokens: list[int], mode: str) -> None:
        ws.factory.initialDelay = ws.factory.delay = 0.1  # reconnect fast in tests
        ws.factory.factor = 1.5
        ws.subscribe(tokens)
        ws.set_mode(mode, tokens)
        self.events.put("connected")

    def _on_message(self, ws: KiteTicker, payload: bytes, is_binary: bool) -> None:
        if is_binary and len(payload) == 1:
            self.heartbeats += 1

    def expect(self, event: str, timeout_s: float = 10.0) -> None:
        assert self.events.get(timeout=timeout_s) == event


@pytest.fixture
def probe_factory() -> Iterator[Callable[..., TickerProbe]]:
    made: list[TickerProbe] = []

    def make(fake: FakeKite, tokens: list[int], mode: str = "full") -> TickerProbe:
        probe = TickerProbe(fake, tokens, mode)
        connect_ticker(probe.ticker)
        made.append(probe)
        return probe

    yield make
    for probe in made:
        close_ticker(probe.ticker)


def wait_subscribed(fake: FakeKite, token: int, mode: str = "full") -> None:
    deadline = time.monotonic() + 10
    while not any(s.get(token) == mode for s in fake.ticker.subscriptions()):
        assert time.monotonic() < deadline, fake.ticker.subscriptions()
        time.sleep(0.01)


def drain(ticks: queue.Queue[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [ticks.get(timeout=10) for _ in range(count)]


def test_real_kiteticker_ticks_reaggregate_to_the_bars(
        probe_factory: Callable[..., TickerProbe]) -> None:
    bars = day_bars()
    with FakeKite(bars) as fake:
        tokens = {r["name"]: int(r["instrument_token"]) for r in fake.instruments}
        probe = probe_factory(fake, list(tokens.values()))
        probe.expect("connected")
        for token in tokens.values():
            wait_subscribed(fake, token)
        fake.advance(datetime.fromisoformat(f"{DAY}T15:30:00+05:30"))
        ticks = drain(probe.ticks, 4 * len(bars))
    assert_same_bars(aggregate(ticks), expected_bars(bars, tokens))


def test_only_subscribed_tokens_are_sent_in_their_mode(
        probe_factory: Callable[..., TickerProbe]) -> None:
    with FakeKite(day_bars()) as fake:
        nifty = next(int(r["instrument_token"]) for r in fake.instruments if r["name"] == "NIFTY")
        probe = probe_factory(fake, [nifty], "ltp")
        probe.expect("connected")
        wait_subscribed(fake, nifty, "ltp")
        fake.advance(fake.clock + timedelta(minutes=2))
        ticks = drain(probe.ticks, 8)
    assert {(t["instrument_token"], t["mode"]) for t in ticks} == {(nifty, "ltp")}
    assert probe.ticks.empty()


def test_order_state_changes_arrive_as_postbacks(
        probe_factory: Callable[..., TickerProbe]) -> None:
    with FakeKite(day_bars(("NIFTY",))) as fake:
        [row] = fake.instruments
        probe = probe_factory(fake, [int(row["instrument_token"])])
        probe.expect("connected")
        wait_subscribed(fake, int(row["instrument_token"]))  # the server holds the socket
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        order_id = kite.place_order(variety="regular", exchange="NFO",
                                    tradingsymbol=row["tradingsymbol"], transaction_type="BUY",
                                    quantity=75, product="MIS", order_type="MARKET", tag="pb-1")
        fake.advance(fake.clock + timedelta(minutes=1))
        updates = [probe.orders.get(timeout=10) for _ in range(5)]
    assert [u["status"] for u in updates] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING",
                                              "OPEN PENDING", "OPEN", "COMPLETE"]
    assert {(u["order_id"], u["tag"]) for u in updates} == {(order_id, "pb-1")}
    assert updates[-1]["filled_quantity"] == 75
    last = updates[-1]
    report = parse_order(last)  # the adapter's parser reads a postback as an order report
    assert (report.state, report.client_key, report.filled_qty) == (OrderState.FILLED, "pb-1",
                                                                    75)
    assert last["checksum"] == hashlib.sha256(
        f"{last['order_id']}{last['order_timestamp']}{fake.api_secret}".encode()).hexdigest()


def test_heartbeats_arrive_while_the_market_is_idle(
        probe_factory: Callable[..., TickerProbe]) -> None:
    with FakeKite(day_bars(("NIFTY",)), heartbeat_s=0.05) as fake:
        probe = probe_factory(fake, [int(fake.instruments[0]["instrument_token"])])
        probe.expect("connected")
        deadline = time.monotonic() + 10
        while probe.heartbeats < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert probe.ticks.empty()


def test_an_index_row_gets_index_packets_from_its_mapped_symbol() -> None:
    bars = day_bars(("NIFTY",)).head(3)
    index_row = {"instrument_token": 256265, "exchange_token": 1001, "tradingsymbol": "NIFTY 50",
                 "name": "NIFTY 50", "last_price": 0.0, "expiry": "", "strike": 0.0,
                 "tick_size": 0.05, "lot_size": 1, "instrument_type": "EQ",
                 "segment": "INDICES", "exchange": "NSE"}
    with FakeKite(bars, [index_row], symbol_map={"NIFTY 50": "NIFTY"}) as fake, ws_connect(
            f"{fake.ticker_root}?api_key={fake.api_key}&access_token={fake.access_token}",
            open_timeout=5, close_timeout=0.1) as socket:
        socket.send(json.dumps({"a": "mode", "v": ["full", [256265]]}))
        wait_subscribed(fake, 256265)
        fake.advance(fake.clock + timedelta(minutes=1))
        frames = []
        while len(frames) < 4:
            message = socket.recv(timeout=5)
            if isinstance(message, bytes) and len(message) > 1:
                frames.append(message)
    ticks = [t for f in frames for t in PARSER._parse_binary(f)]
    assert [(t["tradable"], t["mode"]) for t in ticks] == [(False, "full")] * 4
    assert ticks[0]["last_price"] == bars["open"].iloc[0]


def test_offline_frames_equal_what_the_socket_sends() -> None:
    bars = day_bars(("NIFTY",)).head(3)
    offline = [data for _, data in kite_frames(bars)]
    with FakeKite(bars) as fake, ws_connect(
            f"{fake.ticker_root}?api_key={fake.api_key}&access_token={fake.access_token}",
            open_timeout=5, close_timeout=0.1) as socket:
        token = int(fake.instruments[0]["instrument_token"])
        socket.send(json.dumps({"a": "mode", "v": ["full", [token]]}))
        wait_subscribed(fake, token)
        fake.advance(fake.clock + timedelta(minutes=3))
        sent = []
        while len(sent) < len(offline):
            message = socket.recv(timeout=5)
            if isinstance(message, bytes) and len(message) > 1:
                sent.append(message)
    assert sent == offline and len(offline) == 12


@st.composite
def random_bars(draw: st.DrawFn) -> pd.DataFrame:
    """1-2 symbols, 1-3 session dates, a few minutes each, prices on the paise grid."""
    rows = []
    symbols = draw(st.sampled_from([("NIFTY",), ("NIFTY", "BANKNIFTY")]))
    for day in range(draw(st.integers(1, 3))):
        for minute in range(draw(st.integers(1, 4))):
            ts = pd.Timestamp(datetime(2025, 3, 3 + day, 9, 15, tzinfo=IST)) + pd.Timedelta(
                minutes=minute)
            for symbol in symbols:
                o, c = draw(st.integers(1, 10**7)), draw(st.integers(1, 10**7))
                h = max(o, c) + draw(st.integers(0, 10**5))
                low = max(1, min(o, c) - draw(st.integers(0, 10**5)))
                rows.append({"ts": ts, "symbol": symbol, "open": o / 100, "high": h / 100,
                             "low": low / 100, "close": c / 100,
                             "volume": float(draw(st.integers(0, 10**6)))})
    return pd.DataFrame(rows)


@settings(max_examples=50, deadline=None)
@given(bars=random_bars())
def test_any_bars_reaggregate_exactly_through_the_parser(bars: pd.DataFrame) -> None:
    tokens = {"BANKNIFTY": 13056002, "NIFTY": 13056258}
    rows = [{"instrument_token": token, "exchange_token": token >> 8, "tradingsymbol": name,
             "name": name, "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.05,
             "lot_size": 1, "instrument_type": "FUT", "segment": "NFO-FUT", "exchange": "NFO"}
            for name, token in tokens.items()]
    ticks = [t for _, data in kite_frames(bars, rows) for t in PARSER._parse_binary(data)]
    got = aggregate(ticks)
    # volume_traded restarts each date: the first minute of a date is its own cumulative
    first_of_day = got.groupby(["token", got["minute"].dt.date])["minute"].transform("min")
    got.loc[got["minute"] == first_of_day, "volume"] = got["cum"]
    assert_same_bars(got, expected_bars(bars, tokens))
