"""Marking the close: our fills concentrated in the last minutes of the session, trading in
the direction of the desk's position at the close while the price moves that way - the
close (the mark our position is valued at) pushed in our favour."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from live.broker import Side
from live.compliance.findings import Finding
from live.compliance.flow import SymbolFlow
from live.compliance.thresholds import MarkingCloseThresholds
from live.events import Severity

BPS = 10_000.0


def close_window(day: date, cfg: MarkingCloseThresholds, tz: str) -> tuple[datetime, datetime]:
    """``(start, close)`` of the day's closing window, exchange time."""
    close = datetime.combine(day, cfg.close, tzinfo=ZoneInfo(tz))
    return close - timedelta(minutes=cfg.window_minutes), close


def detect_marking_close(day: date, symbol: str, flow: SymbolFlow,
                         cfg: MarkingCloseThresholds, tz: str) -> list[Finding]:
    """At most one finding per symbol and day (evaluated on the bars up to the close)."""
    start, close = close_window(day, cfg, tz)
    position = sum(flow.net.values())
    if not position or not flow.fills:
        return []
    direction = Side.BUY if position > 0 else Side.SELL
    late = [f for f in flow.fills if start <= f.ts <= close]
    pushing = [f for f in late if f.side is direction]
    total = sum(f.qty for f in flow.fills)
    pushed = sum(f.qty for f in pushing)
    bars = [b for b in flow.bars if start < b.ts_event <= close]
    before = [b for b in flow.bars if b.ts_event <= start]
    if not pushing or not bars or not before:
        return []
    volume = sum(b.volume for b in bars)
    first, last = before[-1].close, bars[-1].close
    move_bps = (last - first) / first * BPS * (1 if position > 0 else -1)
    share = pushed / total
    participation = pushed / volume if volume > 0 else 1.0
    if share < cfg.min_share or participation < cfg.min_participation or \
            move_bps < cfg.min_move_bps:
        return []
    severity = Severity.CRITICAL if move_bps >= 2 * cfg.min_move_bps and share >= 0.8 \
        else Severity.WARNING
    return [Finding(
        detector="marking_close", severity=severity, day=day,
        ts=max(pushing[-1].ts, bars[-1].ts_event), symbol=symbol,
        summary=(f"{symbol}: {pushed} of the day's {total} filled units ({share:.0%}) "
                 f"{direction.value} in the last {cfg.window_minutes} min, "
                 f"{participation:.1%} of the volume, price moved {move_bps:.1f} bps toward "
                 f"the desk's position {position:+d} at the close"),
        evidence={"window_start": start.isoformat(), "close": close.isoformat(),
                  "position_at_close": position, "share_of_day_qty": round(share, 4),
                  "participation": round(participation, 4), "move_bps": round(move_bps, 3),
                  "price_before": first, "price_last": last, "window_volume": volume,
                  "fills": [{"trade_id": f.trade_id, "client_key": f.key,
                             "strategy": f.strategy, "side": f.side.value, "qty": f.qty,
                             "price": f.price, "ts": f.ts.isoformat()} for f in pushing]},
        keys=("marking_close", symbol))]
