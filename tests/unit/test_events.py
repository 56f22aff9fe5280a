"""Live messages: exact record round trips, validation, deterministic ids."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.broker import TAG_MAX_CHARS, OrderRequest, OrderType, Outcome, Side
from live.canonical import canonical_json
from live.events import (
    COMMAND_TYPES,
    EVENT_TYPES,
    MESSAGE_TYPES,
    BarClosed,
    EventDecodeError,
    EventEncodeError,
    EventValueError,
    GovernanceDecided,
    Message,
    ModeChanged,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    ReconciliationCompleted,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
    from_record,
    new_trace_id,
    submit_order_for,
    to_record,
)

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 1, 6, 9, 16, tzinfo=IST)

_TIMES = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
                      timezones=st.timezones())
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def _field_strategy(cls: type[Message], name: str, hint: typing.Any) -> st.SearchStrategy:
    if name == "trace_id":
        return st.text(min_size=1 if cls.TRACE_REQUIRED else 0)
    if name == "client_key":
        return st.text(min_size=1, max_size=TAG_MAX_CHARS)
    if name == "qty":
        return st.integers(min_value=1, max_value=2**63 - 1)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return st.none() | _field_strategy(cls, name, inner)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    simple: dict[typing.Any, st.SearchStrategy] = {
        str: st.text(), int: st.integers(min_value=-(2**63), max_value=2**63 - 1),
        float: _FLOATS, bool: st.booleans(), datetime: _TIMES, date: st.dates(),
        tuple[str, ...]: st.lists(st.text(), max_size=4).map(tuple),
        tuple[float | None, ...]: st.lists(st.none() | _FLOATS, max_size=4).map(tuple),
    }
    return simple[hint]


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _field_strategy(cls, f.name, hints[f.name])
              for f in dataclasses.fields(cls)}
    if cls is GovernanceDecided:  # one value per feature named (the event checks it)
        return st.integers(0, 4).flatmap(lambda n: st.builds(cls, **{
            **fields, "features": st.lists(st.text(), min_size=n, max_size=n).map(tuple),
            "feature_values": st.lists(st.none() | _FLOATS, min_size=n, max_size=n).map(
                tuple)}))
    return st.builds(cls, **fields)


ANY_MESSAGE = st.sampled_from(list(MESSAGE_TYPES.values())).flatmap(message_strategy)


def _through_json(message: Message) -> Message:
    return from_record(json.loads(canonical_json(to_record(message))))


@given(ANY_MESSAGE)
def test_every_message_kind_round_trips_exactly_through_canonical_json(message: Message) -> None:
    back = _through_json(message)
    assert back == message
    assert type(back) is type(message)
    assert canonical_json(to_record(back)) == canonical_json(to_record(message))


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda c: c.KIND)
@given(data=st.data())
def test_each_kind_round_trips(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls))
    assert _through_json(message) == message


def test_every_kind_is_registered_once_with_schema_version_one() -> None:
    kinds = [c.KIND for c in EVENT_TYPES + COMMAND_TYPES]
    assert len(kinds) == len(set(kinds)) == len(MESSAGE_TYPES) == 29
    assert all(c.SCHEMA_VERSION == 1 for c in MESSAGE_TYPES.values())


@pytest.mark.parametrize("value", [5e-324, -0.0, 1.7976931348623157e308, 0.1 + 0.2, 23_456.05])
def test_extreme_floats_survive_the_record_bit_for_bit(value: float) -> None:
    bar = BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=value, high=value,
                    low=value, close=value, volume=value)
    back = _through_json(bar)
    assert isinstance(back, BarClosed)
    assert math.copysign(1.0, back.close) == math.copysign(1.0, value)
    assert back.close.hex() == value.hex()


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_float_is_refused_at_construction(value: float) -> None:
    with pytest.raises(EventValueError, match=r"BarClosed\.high"):
        BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=1.0, high=value, low=1.0,
                  close=1.0, volume=1.0)


def test_nan_smuggled_past_validation_is_refused_by_to_record() -> None:
    bar = BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=1.0, high=1.0, low=1.0,
                    close=1.0, volume=1.0)
    object.__setattr__(bar, "close", math.nan)
    with pytest.raises(EventEncodeError, match=r"BarClosed\.close=nan"):
        to_record(bar)


def test_integer_price_is_stored_as_float_so_hashes_do_not_depend_on_it() -> None:
    bar = BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=100, high=100, low=100,
                    close=100, volume=7)
    assert isinstance(bar.close, float)
    assert canonical_json(to_record(bar)) == canonical_json(to_record(_through_json(bar)))


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(EventValueError, match="naive"):
        ModeChanged(trace_id="", ts_event=datetime(2025, 1, 6, 9, 16), strategy="ema",
                    mode=TradingMode.SHADOW, reason="start")


def test_trade_event_without_trace_id_is_refused() -> None:
    with pytest.raises(EventValueError, match=r"SignalRaised\.trace_id"):
        SignalRaised(trace_id="", ts_event=T0, strategy="ema", version="3", symbol="NIFTY",
                     side=SignalSide.LONG, reason="entry")


def test_ts_init_defaults_to_ts_event() -> None:
    mode = ModeChanged(trace_id="", ts_event=T0, strategy="ema", mode="canary", reason="up")
    assert mode.ts_init == T0
    assert mode.mode is TradingMode.CANARY


def test_enum_value_outside_the_set_names_the_allowed_values() -> None:
    with pytest.raises(EventValueError, match="'long', 'short', 'flat'"):
        SignalRaised(trace_id="t", ts_event=T0, strategy="ema", version="3", symbol="NIFTY",
                     side="sideways", reason="entry")


@pytest.mark.parametrize("qty", [0, -75])
def test_non_positive_order_qty_is_refused(qty: int) -> None:
    with pytest.raises(EventValueError, match=f"qty={qty}"):
        OrderFilled(trace_id="t", ts_event=T0, client_key="k", broker_order_id="b",
                    trade_id="x", symbol="NIFTY", side=Side.BUY, qty=qty, price=1.0)


def test_client_key_longer_than_the_broker_tag_is_refused() -> None:
    with pytest.raises(EventValueError, match="client_key"):
        OrderSubmitted(trace_id="t", ts_event=T0, client_key="k" * 21, broker_order_id=None,
                       outcome=Outcome.UNKNOWN)


def test_issues_list_is_stored_as_a_tuple() -> None:
    done = ReconciliationCompleted(trace_id="", ts_event=T0, clean=False, issues=["a", "b"])
    assert done.issues == ("a", "b")


@pytest.mark.parametrize(("record", "named"), [
    ({"kind": "OrderTeleported", "schema_version": 1, "fields": {}}, "OrderTeleported"),
    ({"kind": "BarClosed", "schema_version": 7, "fields": {}}, "schema_version 7"),
    ({"kind": "BarClosed", "fields": {}}, "schema_version None"),
    ({"kind": "BarClosed", "schema_version": 1, "fields": {"colour": 1}}, "colour"),
    ({"kind": "BarClosed", "schema_version": 1, "fields": {"symbol": "X"}}, "BarClosed"),
    (["not", "a", "mapping"], "mapping"),
])
def test_from_record_refuses_what_it_cannot_decode_naming_it(record: object,
                                                             named: str) -> None:
    with pytest.raises(EventDecodeError, match=named):
        from_record(record)  # type: ignore[arg-type]


@given(st.text(min_size=1), st.integers(min_value=0, max_value=1000))
def test_client_key_is_deterministic_and_fits_the_broker_tag(trace_id: str, leg: int) -> None:
    key = client_key(trace_id, leg)
    assert key == client_key(trace_id, leg)
    assert key.startswith("so") and len(key) <= TAG_MAX_CHARS
    assert key.isalnum() and key.isascii()


@given(st.lists(st.tuples(st.text(min_size=1), st.integers(0, 3)), min_size=2, max_size=50,
                unique=True))
def test_client_key_is_distinct_for_distinct_traces_and_legs(
        pairs: list[tuple[str, int]]) -> None:
    assert len({client_key(t, leg) for t, leg in pairs}) == len(pairs)


def test_client_key_without_trace_is_refused() -> None:
    with pytest.raises(EventValueError, match="trace_id"):
        client_key("")


def test_new_trace_id_is_deterministic_and_independent_of_the_clock_zone() -> None:
    utc_same_instant = T0.astimezone(UTC)
    one = new_trace_id("ema_cross", "NIFTY", T0, 0)
    assert one == new_trace_id("ema_cross", "NIFTY", utc_same_instant, 0)
    assert one != new_trace_id("ema_cross", "NIFTY", T0, 1)
    assert one != new_trace_id("ema_cross", "NIFTY", T0 + timedelta(minutes=1), 0)
    assert one != new_trace_id("atr_reversal", "NIFTY", T0, 0)


def test_new_trace_id_refuses_naive_time() -> None:
    with pytest.raises(EventValueError, match="naive"):
        new_trace_id("ema", "NIFTY", datetime(2025, 1, 6), 0)


def test_submit_order_for_an_intent_carries_its_key_and_request() -> None:
    trace = new_trace_id("ema", "NIFTY25JANFUT", T0, 0)
    intent = OrderIntended(trace_id=trace, ts_event=T0, client_key=client_key(trace),
                           strategy="ema", version="3", symbol="NIFTY25JANFUT", exchange="NFO",
                           side=Side.SELL, qty=75, order_type=OrderType.LIMIT,
                           limit_price=23_450.5, mode=TradingMode.LIVE)
    later = T0 + timedelta(milliseconds=3)
    command = submit_order_for(intent, ts_event=later)
    assert command.client_key == intent.client_key and command.trace_id == trace
    assert command.ts_event == later
    assert command.to_request() == intent.to_request()
    assert isinstance(command.to_request(), OrderRequest)


def test_round_trip_keeps_the_offset_of_a_fixed_zone() -> None:
    stamp = datetime(2025, 1, 6, 3, 46, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    bar = BarClosed(trace_id="", ts_event=stamp, symbol="N", open=1, high=1, low=1, close=1,
                    volume=1)
    assert to_record(_through_json(bar))["fields"]["ts_event"] == "2025-01-06T03:46:00+05:30"


def test_trusted_decoder_builds_the_same_message_for_every_kind() -> None:
    from live.events import from_record_trusted
    from tests.unit.test_journal import sample_session

    messages = sample_session(3)
    kinds = {type(m).__name__ for m in messages}
    assert len(kinds) >= 10
    for message in messages:
        record = json.loads(json.dumps(to_record(message)))
        trusted = from_record_trusted(record)
        assert trusted == from_record(record)
        assert type(trusted) is type(message)
