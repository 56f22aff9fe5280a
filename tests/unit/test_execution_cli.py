"""``stratops execution calibrate``: a recorded tick day in, the calibration file out."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from live.market.recorder import write_part
from live.market.ticks import Tick
from stratops.cli import main

IST = ZoneInfo("Asia/Kolkata")
DAY = "2025-01-06"


def _record_day(root: Path, n: int) -> None:
    """``n`` traded ticks around a 100.0 book, each after a two-sided quote."""
    rng = random.Random(3)
    t0 = datetime(2025, 1, 6, 9, 15, tzinfo=IST)
    rows, volume = [], 0
    for i in range(n):
        ts = t0 + timedelta(seconds=i)
        qty = rng.randint(1, 50)
        volume += qty
        price = 100.0 + rng.choice((-1, 1)) * (0.05 + 0.01 * qty ** 0.5)
        rows.append((int(ts.timestamp() * 1e9), Tick(
            token=1, symbol="NIFTY", ts=ts, price=price, last_qty=qty, volume=volume, oi=None,
            bids=((99.95, 10, 1),), asks=((100.05, 10, 1),))))
    write_part(root / "data" / "ticks" / DAY, DAY, rows)


def test_calibrate_on_ticks_writes_a_fitted_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    _record_day(tmp_path, 400)
    out = tmp_path / "impact.json"
    assert main(["execution", "calibrate", "--ticks", DAY, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert (written["calibration_source"], written["n_prints"]) == ("prints", 399)
    assert written["source"].startswith(f"ticks:{DAY}")


def test_calibrate_with_too_few_prints_writes_literature_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    _record_day(tmp_path, 30)
    out = tmp_path / "impact.json"
    assert main(["execution", "calibrate", "--ticks", DAY, "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["calibration_source"] == "literature" and "29 usable prints" in written["note"]


def test_calibrate_from_a_journal_never_run_exits_two(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    assert main(["execution", "calibrate", "--journal", "canary",
                 "--out", str(tmp_path / "x.json")]) == 2


def test_calibrate_from_a_canary_journal_costs_our_fills(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from live.broker import OrderType, Side
    from live.events import BarClosed, OrderFilled, OrderIntended, TradingMode
    from stratops.live_ops import open_mode_journal
    from stratops.settings import load_settings

    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    t0 = datetime(2025, 1, 6, 10, 0, tzinfo=IST)
    journal = open_mode_journal(load_settings(tmp_path), "canary")
    for minute in range(3):
        journal.append(BarClosed(trace_id="", ts_event=t0 + timedelta(minutes=minute),
                                 symbol="NIFTY", open=100.0, high=100.5, low=99.5,
                                 close=100.0, volume=1000.0))
    journal.append(OrderIntended(trace_id="t1", ts_event=t0, client_key="k1", strategy="s",
                                 version="1", symbol="NIFTY", exchange="NFO", side=Side.SELL,
                                 qty=75, order_type=OrderType.MARKET,
                                 mode=TradingMode.CANARY))
    journal.append(OrderFilled(trace_id="t1", ts_event=t0 + timedelta(minutes=1),
                               client_key="k1", broker_order_id="b1", trade_id="x1",
                               symbol="NIFTY", side=Side.SELL, qty=75, price=99.9))
    out = tmp_path / "impact.json"
    assert main(["execution", "calibrate", "--journal", "canary", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["n_prints"] == 1 and written["calibration_source"] == "literature"
    assert "journal:canary" in written["source"]


def test_paper_fill_mode_setting_outside_its_modes_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratops.settings import SettingsError, load_settings

    monkeypatch.setenv("STRATOPS_LIVE__PAPER_FILL_MODE", "optimistic")
    with pytest.raises(SettingsError, match="paper_fill_mode"):
        load_settings(tmp_path)


def test_live_run_paper_exchange_in_realism_mode_fills_with_impact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from live.broker import OrderRequest, Side
    from stratops.live_ops import _paper_exchange
    from stratops.settings import load_settings

    monkeypatch.setenv("STRATOPS_LIVE__PAPER_FILL_MODE", "realism")
    paper, market = _paper_exchange(load_settings(tmp_path), "canary",
                                    [SimpleNamespace(slippage_ticks=1.0, tick_size=0.05, symbols=(),
                                                     tick_for=lambda s: 0.05)])
    t0 = datetime(2025, 1, 6, 10, 0, tzinfo=IST)
    bar = SimpleNamespace(symbol="NIFTY", ts=t0, open=100.0, high=100.0, low=100.0,
                          close=100.0, volume=100.0)
    market(bar)
    paper.submit(OrderRequest(client_key="k", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                              qty=50))
    market(SimpleNamespace(**{**vars(bar), "ts": t0 + timedelta(minutes=1), "high": 101.0,
                              "low": 99.0}))
    (fill,) = paper.fills()
    assert fill.price != pytest.approx(100.05)  # parity: the open plus one tick of slippage
    assert paper._model.mode == "realism"
