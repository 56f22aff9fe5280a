"""The tick recorder (atomic parts, a SHA-256 manifest) and the tick-by-tick replay."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.market.recorder import TickDataError, TickRecorder, day_version, read_ticks
from live.market.tick_replay import tick_replay
from live.market.ticks import Tick
from live.runner.feed import FeedAlert, FeedBar
from strategies.venues import get_venue

IST = ZoneInfo("Asia/Kolkata")
OPEN = datetime(2025, 3, 3, 9, 15, tzinfo=IST)
DAY = "2025-03-03"


def tick(seconds: float, price: float, volume: int, token: int = 7) -> Tick:
    bids = tuple((price - i, 75 * i, i) for i in range(1, 6))
    return Tick(token=token, symbol="NIFTY" if token == 7 else "", price=price,
                ts=OPEN + timedelta(seconds=seconds), last_qty=1, volume=volume, oi=500,
                bids=bids, asks=())


def recv_ns(seconds: float) -> int:
    return int((OPEN + timedelta(seconds=seconds, milliseconds=40)).timestamp() * 1e9)


def record(folder: Path, ticks: list[tuple[float, Tick]], *, flush_ticks: int = 3) -> None:
    recorder = TickRecorder(folder, flush_ticks=flush_ticks)
    for at, t in ticks:
        recorder.add(t, recv_ns(at))
    recorder.close()


SESSION = [(1, tick(1, 100, 10)), (20, tick(20, 102, 12)), (30, tick(30, math.nan, 12)),
           (45, tick(45, 99, 15)), (50, tick(50, 101, 17, token=9)), (61, tick(61, 101, 18)),
           (125, tick(125, 103, 20))]


def test_recorded_ticks_read_back_equal_in_arrival_order(tmp_path: Path) -> None:
    record(tmp_path, SESSION)
    back = list(read_ticks(tmp_path / DAY))
    assert [r for r, _ in back] == [recv_ns(at) for at, _ in SESSION]
    got, sent = back[0][1], SESSION[0][1]
    assert (got.ts, got.price, got.volume, got.oi, got.bids) == (sent.ts, sent.price,
                                                                  sent.volume, sent.oi,
                                                                  sent.bids)
    assert math.isnan(back[2][1].price)  # what the market sent, refused ones included


def test_the_manifest_lists_every_part_with_its_sha256_and_rows(tmp_path: Path) -> None:
    record(tmp_path, SESSION)
    manifest = json.loads((tmp_path / DAY / "manifest.json").read_text())
    assert manifest["schema_version"] == 1 and manifest["day"] == DAY
    assert [p["rows"] for p in manifest["parts"]] == [3, 3, 1]
    assert len(day_version(tmp_path / DAY)) == 64


def test_an_altered_part_is_refused_by_its_hash(tmp_path: Path) -> None:
    record(tmp_path, SESSION)
    part = tmp_path / DAY / "part-00002.parquet"
    part.write_bytes(part.read_bytes()[:-9] + b"tampered!")
    with pytest.raises(TickDataError, match=r"part-00002\.parquet: SHA-256 differs"):
        list(read_ticks(tmp_path / DAY))


def test_a_part_written_but_not_listed_is_ignored_and_never_overwritten(tmp_path: Path) -> None:
    record(tmp_path, SESSION[:3])
    orphan = tmp_path / DAY / "part-00002.parquet"  # a crash between the part and manifest
    orphan.write_bytes(b"half")
    record(tmp_path, SESSION[3:])
    assert orphan.read_bytes() == b"half"
    assert len(list(read_ticks(tmp_path / DAY))) == len(SESSION)


def test_a_recorded_session_replays_tick_by_tick_into_the_live_bars(tmp_path: Path) -> None:
    record(tmp_path, SESSION)
    items = list(tick_replay(tmp_path / DAY, get_venue("NSE"), symbols={7: "NIFTY"}))
    bars = [i for i in items if isinstance(i, FeedBar)]
    assert bars[0] == FeedBar("NIFTY", OPEN, 100, 102, 99, 99, 6.0)  # 15 - (10 - 1)
    assert [b.ts.minute for b in bars] == [15, 16, 17]
    codes = sorted(i.code for i in items if isinstance(i, FeedAlert))
    assert codes == ["bad_tick", "bad_tick"]  # the NaN price and the unsubscribed token


def test_a_day_without_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TickDataError, match="no tick recording for that day"):
        list(read_ticks(tmp_path / DAY))
