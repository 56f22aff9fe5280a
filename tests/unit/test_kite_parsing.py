"""Specification of the pure Kite payload parsing, on recorded Kite v3 payloads."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteConnect

from live.adapters.kite.parsing import (
    KITE_STATES,
    KiteParseError,
    kite_state,
    modify_order_kwargs,
    parse_fill,
    parse_kite_ts,
    parse_order,
    parse_positions,
    place_order_kwargs,
)
from live.broker import (
    BrokerInputError,
    OrderRequest,
    OrderState,
    OrderType,
    PositionReport,
    Side,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kite"
IST = ZoneInfo("Asia/Kolkata")


def _data(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["data"]


def _order(order_id: str) -> dict[str, Any]:
    return next(o for o in _data("orders") if o["order_id"] == order_id)


COMPLETE, OPEN_SELL, RMS_REJECTED, SL_M, CANCELLED, PARTIAL, MANUAL = (
    f"25010640000010{n}" for n in range(1, 8))


# --- statuses --------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "state"), [
    ("COMPLETE", OrderState.FILLED), ("REJECTED", OrderState.REJECTED),
    ("CANCELLED", OrderState.CANCELLED), ("OPEN", OrderState.OPEN),
    ("TRIGGER PENDING", OrderState.OPEN), ("AMO REQ RECEIVED", OrderState.OPEN),
    ("VALIDATION PENDING", OrderState.OPEN), ("PUT ORDER REQ RECEIVED", OrderState.OPEN),
    ("MODIFY PENDING", OrderState.OPEN), ("MODIFY VALIDATION PENDING", OrderState.OPEN),
    ("OPEN PENDING", OrderState.OPEN), ("CANCEL PENDING", OrderState.OPEN),
])
def test_kite_state_maps_kite_status(status: str, state: OrderState) -> None:
    assert kite_state(status) is state


@given(st.text(max_size=30).filter(lambda s: s.strip().upper() not in KITE_STATES))
def test_kite_state_unknown_status_is_open_never_terminal(status: str) -> None:
    assert kite_state(status) is OrderState.OPEN


# --- orders ----------------------------------------------------------------------------------

def test_parse_order_complete_market_order() -> None:
    report = parse_order(_order(COMPLETE))
    assert (report.broker_order_id, report.client_key, report.symbol, report.side) == (
        COMPLETE, "emax-0106-0001", "NIFTY25JANFUT", Side.BUY)
    assert (report.qty, report.filled_qty, report.avg_fill_price) == (75, 75, 23652.35)
    assert (report.state, report.order_type, report.limit_price) == (
        OrderState.FILLED, OrderType.MARKET, None)


def test_parse_order_rms_rejection_keeps_status_message() -> None:
    report = parse_order(_order(RMS_REJECTED))
    assert report.state is OrderState.REJECTED
    assert report.reason == _order(RMS_REJECTED)["status_message"]


def test_parse_order_rejection_without_exchange_times_stamped_at_order_time() -> None:
    assert parse_order(_order(RMS_REJECTED)).ts == datetime(2025, 1, 6, 9, 35, 12, tzinfo=IST)


def test_parse_order_stamped_at_latest_exchange_update() -> None:
    assert parse_order(_order(CANCELLED)).ts == datetime(2025, 1, 6, 10, 14, 51, tzinfo=IST)


def test_parse_order_partially_filled_limit_is_open() -> None:
    report = parse_order(_order(PARTIAL))
    assert (report.state, report.qty, report.filled_qty, report.limit_price) == (
        OrderState.OPEN, 60, 30, 50100.0)


def test_parse_order_stop_market_has_no_limit_price() -> None:
    report = parse_order(_order(SL_M))
    assert (report.order_type, report.limit_price) == (OrderType.SL_M, None)


def test_parse_order_untagged_manual_order_has_no_client_key() -> None:
    assert parse_order(_order(MANUAL)).client_key is None


def test_parse_order_unknown_status_open_with_status_in_reason() -> None:
    report = parse_order(_order(OPEN_SELL) | {"status": "EXCHANGE HALT PENDING"})
    assert report.state is OrderState.OPEN
    assert "EXCHANGE HALT PENDING" in report.reason


def test_parse_order_accepts_naive_datetimes_from_the_python_client() -> None:
    payload = _order(COMPLETE) | {"order_timestamp": datetime(2025, 1, 6, 9, 20, 3),
                                  "exchange_timestamp": datetime(2025, 1, 6, 9, 20, 3)}
    assert parse_order(payload).ts == datetime(2025, 1, 6, 9, 20, 3, tzinfo=IST)


def test_parse_order_missing_order_timestamp_names_field_and_order() -> None:
    payload = _order(COMPLETE) | {"order_timestamp": None}
    with pytest.raises(KiteParseError) as caught:
        parse_order(payload)
    assert "order_timestamp" in str(caught.value) and COMPLETE in str(caught.value)


def test_parse_order_unparsable_update_time_names_field_and_order() -> None:
    payload = _order(CANCELLED) | {"exchange_update_timestamp": "06/01/2025 10:14"}
    with pytest.raises(KiteParseError) as caught:
        parse_order(payload)
    assert "exchange_update_timestamp" in str(caught.value) and CANCELLED in str(caught.value)


@pytest.mark.parametrize(("field", "value"), [
    ("order_type", "ICEBERG"), ("transaction_type", "SHORT"), ("quantity", None),
    ("quantity", 7.5), ("average_price", "23652.35"), ("order_id", None),
    ("tradingsymbol", ""), ("status", None),
])
def test_parse_order_bad_field_raises_naming_it(field: str, value: object) -> None:
    with pytest.raises(KiteParseError, match=field):
        parse_order(_order(COMPLETE) | {field: value})


# --- timestamps ------------------------------------------------------------------------------

@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_parse_kite_ts_naive_string_is_same_wall_clock_in_ist(naive: datetime) -> None:
    naive = naive.replace(microsecond=0)
    text = naive.strftime("%Y-%m-%d %H:%M:%S")
    assert parse_kite_ts(text, field="f", where="w") == naive.replace(tzinfo=IST)


def test_parse_kite_ts_aware_datetime_converted_to_ist() -> None:
    utc = datetime(2025, 1, 6, 3, 50, 3, tzinfo=UTC)
    parsed = parse_kite_ts(utc, field="f", where="w")
    assert parsed.utcoffset() == timedelta(hours=5, minutes=30)
    assert parsed == datetime(2025, 1, 6, 9, 20, 3, tzinfo=IST)


@pytest.mark.parametrize("value", ["2025-01-06", "2025-01-06T09:20:03+05:30", "", 1736135403])
def test_parse_kite_ts_other_shapes_refused(value: object) -> None:
    with pytest.raises(KiteParseError, match="fill_timestamp"):
        parse_kite_ts(value, field="fill_timestamp", where="Kite trade '1'")


# --- trades ----------------------------------------------------------------------------------

def test_parse_fill_trade() -> None:
    fill = parse_fill(_data("trades")[1], client_key="emax-0106-0001")
    assert (fill.trade_id, fill.broker_order_id, fill.client_key, fill.symbol) == (
        "30061522", COMPLETE, "emax-0106-0001", "NIFTY25JANFUT")
    assert (fill.side, fill.qty, fill.price) == (Side.BUY, 25, 23653.05)
    assert fill.ts == datetime(2025, 1, 6, 9, 20, 3, tzinfo=IST)


def test_parse_fill_missing_fill_timestamp_names_field_and_order() -> None:
    trade = {k: v for k, v in _data("trades")[0].items() if k != "fill_timestamp"}
    with pytest.raises(KiteParseError) as caught:
        parse_fill(trade)
    assert "fill_timestamp" in str(caught.value) and COMPLETE in str(caught.value)


def test_parse_fills_of_one_order_sum_to_its_average_price() -> None:
    fills = [parse_fill(t) for t in _data("trades") if t["order_id"] == COMPLETE]
    qty = sum(f.qty for f in fills)
    assert sum(f.qty * f.price for f in fills) / qty == pytest.approx(
        _order(COMPLETE)["average_price"])


# --- positions -------------------------------------------------------------------------------

def test_parse_positions_sums_products_and_skips_flat_symbols() -> None:
    assert parse_positions(_data("positions")) == [
        PositionReport(symbol="NIFTY25JANFUT", net_qty=75, avg_price=23652.35),
        PositionReport(symbol="BANKNIFTY25JANFUT", net_qty=60, avg_price=50130.0),
        PositionReport(symbol="NIFTY25JAN23000PE", net_qty=-75, avg_price=98.4),
    ]


def test_parse_positions_opposite_products_average_the_net_side() -> None:
    rows = [{"tradingsymbol": "NIFTY25JANFUT", "product": "NRML", "quantity": 150,
             "average_price": 23600.0},
            {"tradingsymbol": "NIFTY25JANFUT", "product": "MIS", "quantity": -75,
             "average_price": 23700.0}]
    assert parse_positions({"net": rows}) == [
        PositionReport(symbol="NIFTY25JANFUT", net_qty=75, avg_price=23600.0)]


def test_parse_positions_without_net_section_raises() -> None:
    with pytest.raises(KiteParseError, match="net"):
        parse_positions({"day": _data("positions")["day"]})


# --- requests --------------------------------------------------------------------------------

def _request(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {"client_key": "rbrk-0106-0007", "symbol": "BANKNIFTY25JANFUT",
                              "exchange": "NFO", "side": Side.SELL, "qty": 30}
    return OrderRequest(**(fields | overrides))


def test_place_order_kwargs_market_order() -> None:
    assert place_order_kwargs(_request()) == {
        "variety": "regular", "exchange": "NFO", "tradingsymbol": "BANKNIFTY25JANFUT",
        "transaction_type": "SELL", "quantity": 30, "product": "NRML", "order_type": "MARKET",
        "price": None, "trigger_price": None, "validity": "DAY", "tag": "rbrk-0106-0007",
        "market_protection": -1}


def test_place_order_kwargs_market_order_carries_its_market_protection() -> None:
    kwargs = place_order_kwargs(_request(market_protection_pct=2.0))
    assert kwargs["market_protection"] == 2.0
    inspect.signature(KiteConnect.place_order).bind(None, **kwargs)


def test_place_order_kwargs_stop_market_carries_market_protection() -> None:
    kwargs = place_order_kwargs(_request(order_type=OrderType.SL_M, trigger_price=50060.0,
                                         market_protection_pct=1.5))
    assert (kwargs["order_type"], kwargs["market_protection"]) == ("SL-M", 1.5)


def test_place_order_kwargs_limit_order_has_no_market_protection() -> None:
    kwargs = place_order_kwargs(_request(order_type=OrderType.LIMIT, limit_price=50210.0,
                                         market_protection_pct=2.0))
    assert "market_protection" not in kwargs


def test_place_order_kwargs_stop_limit_carries_price_and_trigger() -> None:
    kwargs = place_order_kwargs(_request(order_type=OrderType.SL, limit_price=50050.0,
                                         trigger_price=50060.0, product="MIS"))
    assert (kwargs["order_type"], kwargs["price"], kwargs["trigger_price"], kwargs["product"]) \
        == ("SL", 50050.0, 50060.0, "MIS")


def test_place_order_kwargs_bind_to_kiteconnect_place_order() -> None:
    kwargs = place_order_kwargs(_request(order_type=OrderType.LIMIT, limit_price=50210.0))
    inspect.signature(KiteConnect.place_order).bind(None, **kwargs)


def test_place_order_kwargs_tag_over_20_chars_refused() -> None:
    request = _request()
    object.__setattr__(request, "client_key", "x" * 21)
    with pytest.raises(BrokerInputError, match="x" * 21):
        place_order_kwargs(request)


def test_modify_order_kwargs_only_given_fields() -> None:
    assert modify_order_kwargs("250106400000102", qty=60) == {
        "variety": "regular", "order_id": "250106400000102", "quantity": 60}


@pytest.mark.parametrize("changes", [{}, {"qty": 0}, {"limit_price": -1.0}])
def test_modify_order_kwargs_nothing_or_non_positive_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(BrokerInputError):
        modify_order_kwargs("250106400000102", **changes)
