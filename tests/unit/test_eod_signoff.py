"""End-of-day sign-off: the journal's fills against the broker's trade book by trade id;
each kind of break is named, a clean day is signed off in the audit trail, and the command
exits 1 on a break."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from live.broker import Side
from live.db import make_engine
from live.events import OrderFilled
from live.governance.audit import AuditLog
from live.tradebook import BookTrade, TradebookError, read_tradebook, sign_off
from stratops.cli import main
from stratops.live_ops import open_mode_journal
from stratops.settings import load_settings

DAY = date(2025, 3, 3)
TS = datetime(2025, 3, 3, 4, 10, tzinfo=UTC)  # 09:40 IST
HEADER = "symbol,isin,trade_date,exchange,segment,series,trade_type,auction,quantity,price," \
         "trade_id,order_id,order_execution_time\n"


def _fill(trade_id: str, side: Side = Side.SELL, qty: int = 75,
          price: float = 22_100.5) -> OrderFilled:
    return OrderFilled(trace_id="t1", ts_event=TS, client_key="K1", broker_order_id="B1",
                       trade_id=trade_id, symbol="NIFTY", side=side, qty=qty, price=price)


def _trade(trade_id: str, side: str = "SELL", qty: int = 75,
           price: float = 22_100.5) -> BookTrade:
    return BookTrade(trade_id, "NIFTY25MARFUT", side, qty, price, DAY)


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_signoff_matching_trades_is_clean_with_totals() -> None:
    result = sign_off(DAY, [_fill("T1"), _fill("T2", Side.BUY, price=22_000.0)],
                      [_trade("T1"), _trade("T2", "BUY", price=22_000.0)])
    assert result.clean and result.trades == 2
    assert (result.sold_units, result.bought_value) == (75, 75 * 22_000.0)


def test_signoff_broker_trade_missing_from_journal_is_a_break() -> None:
    result = sign_off(DAY, [], [_trade("T9")])
    assert result.breaks == ["trade T9 (SELL 75 NIFTY25MARFUT @ 22100.5) is in the broker's "
                             "trade book but not in the journal"]


def test_signoff_journal_fill_missing_at_broker_is_a_break() -> None:
    assert "not in the broker's trade book" in sign_off(DAY, [_fill("T1")], []).breaks[0]


def test_signoff_price_difference_is_a_break() -> None:
    result = sign_off(DAY, [_fill("T1")], [_trade("T1", price=22_101.0)])
    assert result.breaks == ["trade T1: journal SELL 75 @ 22100.5 != broker SELL 75 @ 22101"]


def test_signoff_other_days_are_ignored() -> None:
    other = BookTrade("T5", "NIFTY25MARFUT", "BUY", 75, 1.0, date(2025, 3, 4))
    assert sign_off(DAY, [], [other]).clean


def test_tradebook_bad_trade_type_names_row_and_value(tmp_path: Path) -> None:
    path = _csv(tmp_path / "tb.csv", ["NIFTY25MARFUT,,2025-03-03,NFO,FO,,short,false,75,"
                                      "22100.5,T1,B1,2025-03-03T09:40:00"])
    with pytest.raises(TradebookError, match=r"row 2: trade_type 'short'"):
        read_tradebook(path)


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATOPS_ROOT", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    journal = open_mode_journal(load_settings(tmp_path), "live")
    journal.append(_fill("T1"))
    return tmp_path


def test_eod_signoff_cli_clean_day_is_audited(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, monkeypatch)
    book = _csv(tmp_path / "tb.csv", ["NIFTY25MARFUT,,2025-03-03,NFO,FO,,sell,false,75,"
                                      "22100.5,T1,B1,2025-03-03T09:40:00"])
    assert main(["eod", "signoff", str(book), "--day", "2025-03-03"]) == 0
    engine = make_engine(f"sqlite:///{root / '.stratops' / 'governance.db'}")
    (record,) = AuditLog(engine).records(kind="eod_signoff")
    assert record.subject == "live 2025-03-03" and record.detail["sold_units"] == 75


def test_eod_signoff_cli_break_exits_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _project(tmp_path, monkeypatch)
    book = _csv(tmp_path / "tb.csv", [])
    assert main(["eod", "signoff", str(book), "--day", "2025-03-03"]) == 1
    assert "BREAK journal fill T1" in capsys.readouterr().out
