"""A session recorded as ticks and replayed tick by tick through the live bar builder trades
exactly as the same session replayed as bars: the bar builder, the recorder and the tick
replay add nothing and lose nothing on the runner path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from live.events import BarClosed, OrderFilled, OrderIntended
from live.market.recorder import TickRecorder
from live.market.tick_replay import tick_replay
from live.market.ticks import Tick
from live.runner.feed import FeedBar
from strategies.venues import get_venue
from tests.unit.test_runner_engine import day_bars, stores_in


def as_ticks(bars: list[FeedBar]) -> list[Tick]:
    """Each bar as four ticks inside its minute (open, high, low, close) whose quantities
    add up to the bar's volume, with depth."""
    out, cumulative = [], 0
    for bar in bars:
        total = int(bar.volume)
        qtys = [total // 4] * 3 + [total - 3 * (total // 4)]
        for second, price, qty in zip((1, 15, 30, 50), (bar.open, bar.high, bar.low,
                                                         bar.close), qtys, strict=True):
            cumulative += qty
            out.append(Tick(token=256265, symbol="NIFTY", ts=bar.ts + timedelta(
                seconds=second), price=price, last_qty=qty, volume=cumulative, oi=9,
                bids=((price - 0.05, 75, 1),), asks=((price + 0.05, 75, 1),)))
    return out


def trades(stores: object) -> list[tuple[object, ...]]:
    intents = [(m.ts_event, m.side, m.qty) for m in stores.messages(OrderIntended)]  # type: ignore[attr-defined]
    fills = [(m.ts_event, m.price, m.qty) for m in stores.messages(OrderFilled)]  # type: ignore[attr-defined]
    return [*intents, *fills]


def test_a_recorded_tick_session_trades_exactly_as_its_bars(tmp_path: Path) -> None:
    bars = day_bars()
    assert all(b.volume == int(b.volume) for b in bars)
    recorder = TickRecorder(tmp_path / "ticks", flush_ticks=500)
    for tick in as_ticks(bars):
        assert tick.ts is not None
        recorder.add(tick, int((tick.ts + timedelta(milliseconds=200)).timestamp() * 1e9))
    recorder.close()
    (day,) = (tmp_path / "ticks").iterdir()

    from_bars = stores_in(tmp_path / "bars")
    from_bars.run(bars)
    from_ticks = stores_in(tmp_path / "ticks_run")
    from_ticks.run(tick_replay(day, get_venue("NSE"), symbols={256265: "NIFTY"}))

    rebuilt = [(m.ts_event, m.open, m.high, m.low, m.close, m.volume)  # type: ignore[attr-defined]
               for m in from_ticks.messages(BarClosed)]
    assert rebuilt == [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]
    assert trades(from_ticks) == trades(from_bars) and trades(from_bars)
