"""Specification of Kite's order-update parsing (postbacks over the WebSocket) and the queue
the ticker's thread fills and the runner drains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from live.adapters.kite import KiteBroker
from live.adapters.kite.order_updates import (
    MAX_QUEUED,
    OrderUpdateQueue,
    parse_order_update,
    postback_checksum,
)
from live.adapters.kite.parsing import KiteParseError
from live.broker import OrderState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kite"
SECRET = "app-secret"


def recorded_order(status: str = "COMPLETE") -> dict[str, Any]:
    """A recorded order-book entry as an update carries it (timestamps as strings)."""
    orders = json.loads((FIXTURES / "orders.json").read_text())["data"]
    order = next(o for o in orders if o.get("tag")) | {"status": status}
    return order | {"checksum": postback_checksum(order["order_id"], order["order_timestamp"],
                                                  SECRET),
                    "user_id": "AB1234", "app_id": 1, "unfilled_quantity": 0}


def test_update_carries_the_tag_as_the_client_key_and_the_state() -> None:
    payload = recorded_order("CANCELLED")
    report = parse_order_update(payload, api_secret=SECRET)
    assert report.client_key == payload["tag"]
    assert report.state is OrderState.CANCELLED


def test_update_with_a_wrong_checksum_is_refused() -> None:
    payload = recorded_order() | {"checksum": "0" * 64}
    try:
        parse_order_update(payload, api_secret=SECRET)
    except KiteParseError as exc:
        assert "checksum does not match" in str(exc)
    else:
        raise AssertionError("a forged update was accepted")


def test_update_without_a_checksum_is_read_over_the_authenticated_socket() -> None:
    payload = recorded_order() | {"checksum": ""}
    assert parse_order_update(payload, api_secret=SECRET).state is OrderState.FILLED


def test_queue_hands_over_each_update_once() -> None:
    queue = OrderUpdateQueue(api_secret=SECRET)
    queue.put(recorded_order())
    assert len(queue.drain().orders) == 1
    assert queue.drain().orders == ()


def test_queue_keeps_an_unreadable_update_as_a_problem() -> None:
    queue = OrderUpdateQueue()
    queue.put({"order_id": "9", "status": "OPEN"})
    drained = queue.drain()
    assert drained.orders == () and len(drained.problems) == 1
    assert "Kite order '9'" in drained.problems[0]


def test_queue_beyond_its_bound_drops_the_oldest_and_says_so() -> None:
    queue = OrderUpdateQueue()
    for _ in range(MAX_QUEUED + 2):
        queue.put(recorded_order())
    drained = queue.drain()
    assert len(drained.orders) == MAX_QUEUED
    assert drained.problems == (f"2 Kite order updates dropped (more than {MAX_QUEUED} "
                                "between two drains); the books are read in full",)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)
FIELDS = st.sampled_from(["order_id", "status", "tag", "tradingsymbol", "transaction_type",
                          "quantity", "filled_quantity", "average_price", "order_type",
                          "price", "order_timestamp", "exchange_timestamp",
                          "exchange_update_timestamp", "checksum", "status_message"])


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples each run
@example(payload={"checksum": {"\u00a1": None}}, base=True)  # a non-ASCII, non-str checksum
@example(payload={"checksum": "\u00e9"}, base=True)
@given(payload=st.one_of(st.dictionaries(FIELDS, JSON_VALUES, max_size=15), JSON_VALUES),
       base=st.booleans())
def test_broker_callback_never_raises_into_the_tickers_thread(payload: Any,
                                                              base: bool) -> None:
    if base and isinstance(payload, dict):
        payload = recorded_order() | payload
    broker = KiteBroker(client=None, api_secret=SECRET)  # type: ignore[arg-type]
    broker.on_order_update(payload)
    drained = broker.drain_order_updates()
    assert len(drained.orders) + len(drained.problems) == 1
