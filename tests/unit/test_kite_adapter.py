"""Specification of the Kite Connect adapter, run through the real ``kiteconnect`` client.

The fakes stand in for the client's HTTP session (``requests.Session``), so every test runs
the real ``KiteConnect`` (argument names, envelope unwrapping, error-type mapping, timestamp
conversion) and nothing can reach the network. :class:`FakeKiteTransport` serves a day's
books recorded as Kite v3 JSON in ``tests/fixtures/kite/``, the recorded error envelopes and
scripted transport faults; :class:`PaperKiteTransport` puts Kite's API over a paper exchange
so the broker conformance suite can drive the adapter with bars (:func:`kite_over_paper`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from live.adapters.kite import (
    KiteAmbiguousTagError,
    KiteBroker,
    KiteQueryError,
    KiteSessionError,
    classify_kite_error,
)
from live.adapters.paper import BrokerUnavailableError, FillModel, PaperExchange
from live.broker import (
    Broker,
    BrokerInputError,
    FillReport,
    OrderReport,
    OrderRequest,
    OrderState,
    OrderType,
    Outcome,
    PositionReport,
    Side,
    SubmitResult,
)
from live.db import make_engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kite"
IST = ZoneInfo("Asia/Kolkata")
PLACE = ("POST", "/orders/regular")
_TERMINAL = ("COMPLETE", "CANCELLED", "REJECTED")


def load_kite_fixture(name: str) -> Any:
    """A recorded Kite payload from ``tests/fixtures/kite/<name>.json``."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Fault:
    """One scripted failure: a recorded ``error`` envelope (by name) or a raised ``exc``;
    ``after_processing`` applies the request first and then loses the answer."""

    error: str | None = None
    exc: Exception | None = None
    after_processing: bool = False


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    params: dict[str, Any]


@dataclass
class _Response:
    """The part of ``requests.Response`` that ``KiteConnect._request`` reads."""

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(
        default_factory=lambda: {"content-type": "application/json"})

    @property
    def content(self) -> bytes:
        return json.dumps(self.body).encode()

    def json(self) -> dict[str, Any]:
        return json.loads(self.content)  # a fresh copy: the client mutates what it gets


class _KiteHttpFake:
    """What both fakes share: the HTTP surface ``KiteConnect._request`` calls, the log of
    what was sent, and scripted faults per ``(method, path)``."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = load_kite_fixture("errors")
        self.sent: list[SentRequest] = []
        self._faults: dict[tuple[str, str], list[Fault]] = {}

    def fail_next(self, method: str, path: str, fault: Fault) -> None:
        """Answer the next ``method path`` request with ``fault``."""
        self._faults.setdefault((method, path), []).append(fault)

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.sent if (s.method, s.path) == (method, path))

    def request(self, method: str, url: str, *, params: Any = None, data: Any = None,
                json: Any = None, **_options: Any) -> _Response:
        path = urlsplit(url).path
        sent = dict((data if data is not None else json if json is not None else params) or {})
        self.sent.append(SentRequest(method, path, sent))
        queue = self._faults.get((method, path), [])
        fault = queue.pop(0) if queue else None
        if fault is not None and fault.error is not None:
            return self._recorded_error(fault.error)
        if fault is not None and not fault.after_processing:
            raise fault.exc
        response = self._route(method, path, dict(sent))
        if fault is not None:
            raise fault.exc
        return response

    def _route(self, method: str, path: str, params: dict[str, Any]) -> _Response:
        raise NotImplementedError

    def _recorded_error(self, name: str) -> _Response:
        return _Response(self.errors[name]["http_status"], self.errors[name]["body"])


class FakeKiteTransport(_KiteHttpFake):
    """A recorded Kite session behind a real ``KiteConnect`` (its ``reqsession``): the day's
    books from the fixtures; place / modify / cancel change the order book."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[dict[str, Any]] = load_kite_fixture("orders")["data"]
        self.trades: list[dict[str, Any]] = load_kite_fixture("trades")["data"]
        self.positions: dict[str, Any] = load_kite_fixture("positions")["data"]
        self._ids = itertools.count(250106400000900)

    def order(self, order_id: str) -> dict[str, Any]:
        return next(o for o in self.orders if o["order_id"] == order_id)

    def _route(self, method: str, path: str, params: dict[str, Any]) -> _Response:
        reads = {"/orders": self.orders, "/trades": self.trades,
                 "/portfolio/positions": self.positions}
        if method == "GET" and path in reads:
            return _ok(reads[path])
        if (method, path) == PLACE:
            return self._place(params)
        order_id = path.removeprefix("/orders/regular/")
        if method in ("PUT", "DELETE") and order_id != path:
            return self._change(method, order_id, params)
        raise AssertionError(f"no recorded Kite route for {method} {path}")

    def _place(self, params: dict[str, Any]) -> _Response:
        order_id = str(next(self._ids))
        triggered = params["order_type"] in ("SL", "SL-M")
        self.orders.append(_new_kite_order(params) | {
            "order_id": order_id, "status": "TRIGGER PENDING" if triggered else "OPEN",
            "order_timestamp": "2025-01-06 11:00:00"})
        return _ok({"order_id": order_id})

    def _change(self, method: str, order_id: str, params: dict[str, Any]) -> _Response:
        order = next((o for o in self.orders if o["order_id"] == order_id), None)
        if order is None:
            return self._recorded_error("order_not_found")
        if order["status"] in _TERMINAL:
            return self._recorded_error("cancel_terminal" if method == "DELETE"
                                        else "modify_terminal")
        if method == "DELETE":
            order.update(status="CANCELLED", cancelled_quantity=order["pending_quantity"],
                         pending_quantity=0)
        else:
            order.update({k: params[k] for k in ("quantity", "price", "trigger_price")
                          if k in params}, modified=True)
            order["pending_quantity"] = order["quantity"] - order["filled_quantity"]
        order["exchange_update_timestamp"] = "2025-01-06 11:00:01"
        return _ok({"order_id": order_id})


class PaperKiteTransport(_KiteHttpFake):
    """Kite's HTTP API over a :class:`PaperExchange`: orders match on the bars pushed to
    the exchange, and its reports come back rendered as Kite v3 JSON. An order the exchange
    refuses with an id shows as a REJECTED order (as Kite's RMS does); one refused without
    an id, or a refused modify / cancel, answers Kite's InputException envelope; a lost
    acknowledgement or an unavailable exchange is a timeout / connection error."""

    def __init__(self, exchange: PaperExchange) -> None:
        super().__init__()
        self.exchange = exchange

    def _route(self, method: str, path: str, params: dict[str, Any]) -> _Response:
        if method == "GET":
            return _ok(self._read(path))
        if (method, path) == PLACE:
            return self._placed(self._submit(params))
        order_id = path.removeprefix("/orders/regular/")
        if method == "DELETE" and order_id != path:
            return self._changed(self.exchange.cancel(order_id))
        if method == "PUT" and order_id != path:
            return self._changed(self.exchange.modify(
                order_id, qty=params.get("quantity"), limit_price=params.get("price"),
                trigger_price=params.get("trigger_price")))
        raise AssertionError(f"no Kite route for {method} {path}")

    def _read(self, path: str) -> Any:
        try:
            if path == "/orders":
                return [_kite_order(r) for r in self.exchange.orders()]
            if path == "/trades":
                return [_kite_trade(f) for f in self.exchange.fills()]
            if path == "/portfolio/positions":
                return {"net": [_kite_position(p) for p in self.exchange.positions()],
                        "day": []}
        except BrokerUnavailableError as exc:
            raise requests.ConnectionError(str(exc)) from exc
        raise AssertionError(f"no Kite route for GET {path}")

    def _submit(self, params: dict[str, Any]) -> SubmitResult:
        try:
            request = OrderRequest(
                client_key=params.get("tag", ""), symbol=params["tradingsymbol"],
                exchange=params["exchange"], side=Side(params["transaction_type"]),
                qty=params["quantity"], order_type=OrderType(params["order_type"]),
                limit_price=params.get("price"), trigger_price=params.get("trigger_price"),
                product=params["product"], validity=params["validity"],
                algo_id=params.get("algo_id"))
        except BrokerInputError as exc:
            return SubmitResult(Outcome.REJECTED, reason=str(exc))
        return self.exchange.submit(request)

    @staticmethod
    def _placed(result: SubmitResult) -> _Response:
        if result.outcome is Outcome.CONFIRMED or result.broker_order_id is not None:
            return _ok({"order_id": result.broker_order_id})  # a refusal with an id is booked
        return PaperKiteTransport._changed(result)

    @staticmethod
    def _changed(result: SubmitResult) -> _Response:
        if result.outcome is Outcome.UNKNOWN:
            raise requests.ReadTimeout(f"answer lost: {result.reason}")
        if result.outcome is Outcome.REJECTED:
            return _Response(400, {"status": "error", "message": result.reason, "data": None,
                                   "error_type": "InputException"})
        return _ok({"order_id": result.broker_order_id})


def _kite_ts(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def _new_kite_order(params: dict[str, Any]) -> dict[str, Any]:
    """A Kite order-book entry for a just-placed order (status and times set by the caller)."""
    return {
        "placed_by": "AB1234", "exchange_order_id": None, "parent_order_id": None,
        "status_message": None, "status_message_raw": None,
        "exchange_update_timestamp": None, "exchange_timestamp": None, "variety": "regular",
        "modified": False, "exchange": params["exchange"],
        "tradingsymbol": params["tradingsymbol"], "instrument_token": 13238786,
        "order_type": params["order_type"], "transaction_type": params["transaction_type"],
        "validity": params["validity"], "validity_ttl": 0, "product": params["product"],
        "quantity": params["quantity"], "disclosed_quantity": 0,
        "price": params.get("price", 0), "trigger_price": params.get("trigger_price", 0),
        "average_price": 0, "filled_quantity": 0, "pending_quantity": params["quantity"],
        "cancelled_quantity": 0, "market_protection": 0, "meta": {}, "tag": params.get("tag"),
        "tags": [params["tag"]] if params.get("tag") else None, "guid": "fake",
        "algo_id": params.get("algo_id")}


_KITE_STATUS = {OrderState.OPEN: "OPEN", OrderState.FILLED: "COMPLETE",
                OrderState.CANCELLED: "CANCELLED", OrderState.REJECTED: "REJECTED"}


def _kite_order(report: OrderReport) -> dict[str, Any]:
    params = {"exchange": "NFO", "tradingsymbol": report.symbol,
              "order_type": str(report.order_type), "transaction_type": str(report.side),
              "validity": "DAY", "product": "NRML", "quantity": report.qty,
              "price": report.limit_price or 0, "tag": report.client_key,
              "algo_id": report.algo_id}
    return _new_kite_order(params) | {
        "order_id": report.broker_order_id, "status": _KITE_STATUS[report.state],
        "status_message": report.reason or None, "order_timestamp": _kite_ts(report.ts),
        "average_price": report.avg_fill_price, "filled_quantity": report.filled_qty,
        "pending_quantity": report.qty - report.filled_qty if report.state is OrderState.OPEN
        else 0}


def _kite_trade(fill: FillReport) -> dict[str, Any]:
    return {"trade_id": fill.trade_id, "order_id": fill.broker_order_id, "exchange": "NFO",
            "tradingsymbol": fill.symbol, "instrument_token": 13238786, "product": "NRML",
            "average_price": fill.price, "quantity": fill.qty, "exchange_order_id": None,
            "transaction_type": str(fill.side), "fill_timestamp": _kite_ts(fill.ts),
            "order_timestamp": _kite_ts(fill.ts)[11:], "exchange_timestamp": _kite_ts(fill.ts)}


def _kite_position(position: PositionReport) -> dict[str, Any]:
    return {"tradingsymbol": position.symbol, "exchange": "NFO", "product": "NRML",
            "quantity": position.net_qty, "average_price": position.avg_price,
            "overnight_quantity": 0, "multiplier": 1}


def _ok(data: Any) -> _Response:
    return _Response(200, {"status": "success", "data": data})


def kite_client(transport: _KiteHttpFake) -> KiteConnect:
    """A real ``KiteConnect`` whose HTTP session is ``transport`` (no network)."""
    client = KiteConnect(api_key="fixture_api_key", access_token="fixture_access_token")
    client.reqsession = transport
    return client


def make_fake_kite() -> tuple[KiteBroker, FakeKiteTransport]:
    transport = FakeKiteTransport()
    return KiteBroker(kite_client(transport)), transport


def kite_fixture_factory() -> KiteBroker:
    """A :class:`KiteBroker` over the recorded session (its transport is
    ``broker.client.reqsession``)."""
    return make_fake_kite()[0]


def kite_over_paper(tmp_path: Path, *, fill_model: FillModel,
                    seed: int = 7) -> tuple[KiteBroker, PaperExchange]:
    """A :class:`KiteBroker` whose Kite API is a paper exchange, for the broker conformance
    suite: push bars to the returned exchange (``exchange.on_bar(symbol, ts, o, h, l, c)``)
    and the Kite adapter sees the orders, fills and positions they cause."""
    exchange = PaperExchange(make_engine(f"sqlite:///{tmp_path / 'kite_paper.db'}"),
                             seed=seed, fill_model=fill_model)
    return KiteBroker(kite_client(PaperKiteTransport(exchange))), exchange


Kite = tuple[KiteBroker, FakeKiteTransport]


@pytest.fixture
def kite() -> Kite:
    return make_fake_kite()


def _request(**overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {"client_key": "emax-0106-0009", "symbol": "NIFTY25JANFUT",
                              "exchange": "NFO", "side": Side.BUY, "qty": 75}
    return OrderRequest(**(fields | overrides))


# --- the interface ---------------------------------------------------------------------------

def test_kite_broker_is_a_broker() -> None:
    assert isinstance(kite_fixture_factory(), Broker)


def test_kite_fixture_factory_reads_the_recorded_order_book() -> None:
    assert len(kite_fixture_factory().orders()) == 7


# --- submit ----------------------------------------------------------------------------------

def test_submit_accepted_confirmed_with_kite_order_id(kite: Kite) -> None:
    broker, _ = kite
    result = broker.submit(_request())
    assert (result.outcome, result.broker_order_id) == (Outcome.CONFIRMED, "250106400000900")


def test_submit_sends_regular_nfo_order_tagged_with_client_key(kite: Kite) -> None:
    broker, transport = kite
    broker.submit(_request(order_type=OrderType.LIMIT, limit_price=23640.5))
    assert transport.sent == [dataclasses.replace(transport.sent[0], params={
        "exchange": "NFO", "tradingsymbol": "NIFTY25JANFUT", "transaction_type": "BUY",
        "quantity": 75, "product": "NRML", "order_type": "LIMIT", "price": 23640.5,
        "validity": "DAY", "variety": "regular", "tag": "emax-0106-0009"})]
    assert (transport.sent[0].method, transport.sent[0].path) == PLACE


@pytest.mark.parametrize("error", ["insufficient_margin", "markets_closed", "rms_blocked"])
def test_submit_broker_refusal_rejected_with_broker_message(kite: Kite, error: str) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(error=error))
    result = broker.submit(_request())
    assert result.outcome is Outcome.REJECTED
    assert transport.errors[error]["body"]["message"] in result.reason
    assert result.broker_order_id is None


@pytest.mark.parametrize("fault", [
    Fault(error="oms_unreachable"), Fault(error="oms_bad_response"),
    Fault(error="internal_error"), Fault(exc=requests.ReadTimeout("read timed out")),
    Fault(exc=requests.ConnectTimeout("connect timed out")),
    Fault(exc=requests.ConnectionError("connection reset by peer")),
    Fault(exc=TimeoutError("timed out")),
], ids=lambda f: f.error or type(f.exc).__name__)
def test_submit_lost_answer_unknown_and_sent_exactly_once(kite: Kite, fault: Fault) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, fault)
    assert broker.submit(_request()).outcome is Outcome.UNKNOWN
    assert transport.count(*PLACE) == 1


def test_submit_rate_limited_429_rejected(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(error="too_many_requests"))
    assert broker.submit(_request()).outcome is Outcome.REJECTED


def test_submit_sends_the_algo_id_beside_the_client_key_tag(kite: Kite) -> None:
    broker, transport = kite
    broker.submit(_request(algo_id="NSEALGO42"))
    params = transport.sent[0].params
    assert (params["algo_id"], params["tag"]) == ("NSEALGO42", "emax-0106-0009")
    report = broker.status(client_key="emax-0106-0009")  # crash-safe lookup: by the tag
    assert report is not None and report.algo_id == "NSEALGO42"


def test_submit_without_algo_id_sends_no_algo_id_field(kite: Kite) -> None:
    broker, transport = kite
    broker.submit(_request())
    assert "algo_id" not in transport.sent[0].params


def test_bad_algo_id_refused_before_sending() -> None:
    with pytest.raises(BrokerInputError, match="algo_id 'NSE-ALGO-42'"):
        _request(algo_id="NSE-ALGO-42")
    with pytest.raises(BrokerInputError, match="algo_id"):
        _request(algo_id="A" * 21)


def test_submit_tag_over_20_chars_refused_before_sending(kite: Kite) -> None:
    broker, transport = kite
    request = _request()
    object.__setattr__(request, "client_key", "emax-0106-0009-retry-2")  # bypass validation
    with pytest.raises(BrokerInputError, match="emax-0106-0009-retry-2"):
        broker.submit(request)
    assert transport.sent == []


def test_kite_broker_does_not_support_oco() -> None:
    assert KiteBroker.supports_oco is False


def test_submit_oco_group_refused_before_sending(kite: Kite) -> None:
    broker, transport = kite
    with pytest.raises(BrokerInputError, match="oco_group 'g1'"):
        broker.submit(_request(oco_group="g1"))
    assert transport.sent == []


def test_submit_after_trade_is_not_sent_to_kite(kite: Kite) -> None:
    broker, transport = kite
    broker.submit(_request(after_trade="T00000001"))
    assert "after_trade" not in transport.sent[0].params


def test_submit_permission_exception_rejected(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(error="no_permission"))
    assert broker.submit(_request()).outcome is Outcome.REJECTED
    assert not broker.session_invalid


def test_submit_token_exception_rejected_and_session_flagged(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(error="token_expired"))
    result = broker.submit(_request())
    assert result.outcome is Outcome.REJECTED and "TokenException" in result.reason
    assert broker.session_invalid


def test_after_token_exception_nothing_more_is_sent(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(error="token_expired"))
    broker.submit(_request())
    assert broker.submit(_request(client_key="emax-0106-0010")).outcome is Outcome.REJECTED
    assert broker.cancel("250106400000102").outcome is Outcome.REJECTED
    with pytest.raises(KiteSessionError):
        broker.orders()
    assert len(transport.sent) == 1


# --- status: settling an UNKNOWN -------------------------------------------------------------

def test_status_by_tag_finds_order_whose_answer_was_lost(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(exc=requests.ReadTimeout("read timed out"),
                                      after_processing=True))
    assert broker.submit(_request()).outcome is Outcome.UNKNOWN
    report = broker.status(client_key="emax-0106-0009")
    assert report is not None
    assert (report.broker_order_id, report.state) == ("250106400000900", OrderState.OPEN)
    assert transport.count(*PLACE) == 1


def test_status_by_tag_none_when_order_never_arrived(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next(*PLACE, Fault(exc=requests.ConnectTimeout("connect timed out")))
    broker.submit(_request())
    assert broker.status(client_key="emax-0106-0009") is None


def test_status_by_id_reports_rms_rejection_with_message(kite: Kite) -> None:
    broker, _ = kite
    report = broker.status(broker_order_id="250106400000103")
    assert report is not None and report.state is OrderState.REJECTED
    assert report.reason.startswith("RMS:Margin Exceeds")


def test_status_unknown_id_none(kite: Kite) -> None:
    broker, _ = kite
    assert broker.status(broker_order_id="999999999999999") is None


def test_status_without_a_key_refused(kite: Kite) -> None:
    broker, _ = kite
    with pytest.raises(BrokerInputError):
        broker.status()


def test_status_by_id_and_tag_needs_both_to_match(kite: Kite) -> None:
    broker, _ = kite
    assert broker.status(broker_order_id="250106400000101", client_key="emax-0106-0001")
    assert broker.status(broker_order_id="250106400000101", client_key="rbrk-0106-0002") is None


def test_status_by_tag_two_orders_one_tag_raises(kite: Kite) -> None:
    broker, transport = kite
    transport.orders.append(transport.order("250106400000101") | {"order_id": "250106400000999"})
    with pytest.raises(KiteAmbiguousTagError, match="250106400000999"):
        broker.status(client_key="emax-0106-0001")


def test_orders_unknown_kite_status_held_open(kite: Kite) -> None:
    broker, transport = kite
    transport.order("250106400000102")["status"] = "EXCHANGE HALT PENDING"
    report = broker.status(broker_order_id="250106400000102")
    assert report is not None and report.state is OrderState.OPEN
    assert not report.state.terminal and "EXCHANGE HALT PENDING" in report.reason


def test_orders_timestamps_from_real_client_are_ist_aware(kite: Kite) -> None:
    broker, _ = kite
    report = broker.status(broker_order_id="250106400000105")
    assert report is not None
    assert report.ts == datetime(2025, 1, 6, 10, 14, 51, tzinfo=IST)


# --- cancel and modify -----------------------------------------------------------------------

def test_cancel_open_order_confirmed_and_cancelled(kite: Kite) -> None:
    broker, _ = kite
    result = broker.cancel("250106400000102")
    assert (result.outcome, result.broker_order_id) == (Outcome.CONFIRMED, "250106400000102")
    report = broker.status(broker_order_id="250106400000102")
    assert report is not None and report.state is OrderState.CANCELLED


def test_second_cancel_rejected_by_kite_after_being_sent_once(kite: Kite) -> None:
    broker, transport = kite
    broker.cancel("250106400000102")
    result = broker.cancel("250106400000102")
    assert result.outcome is Outcome.REJECTED
    assert "cannot be cancelled" in result.reason
    assert transport.count("DELETE", "/orders/regular/250106400000102") == 2


@pytest.mark.parametrize("order_id", ["250106400000101", "250106400000105"])
def test_cancel_completed_or_cancelled_order_rejected(kite: Kite, order_id: str) -> None:
    broker, _ = kite
    assert broker.cancel(order_id).outcome is Outcome.REJECTED


def test_cancel_lost_answer_unknown(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next("DELETE", "/orders/regular/250106400000102",
                        Fault(exc=requests.ReadTimeout("read timed out"), after_processing=True))
    assert broker.cancel("250106400000102").outcome is Outcome.UNKNOWN


def test_modify_open_order_sends_only_changed_fields(kite: Kite) -> None:
    broker, transport = kite
    result = broker.modify("250106400000102", limit_price=50195.0)
    assert result.outcome is Outcome.CONFIRMED
    assert transport.sent[-1].params == {"variety": "regular", "order_id": "250106400000102",
                                         "price": 50195.0}
    assert transport.order("250106400000102")["price"] == 50195.0


def test_modify_nothing_refused_before_sending(kite: Kite) -> None:
    broker, transport = kite
    with pytest.raises(BrokerInputError, match="nothing to change"):
        broker.modify("250106400000102")
    assert transport.sent == []


def test_modify_completed_order_rejected(kite: Kite) -> None:
    broker, _ = kite
    assert broker.modify("250106400000101", qty=150).outcome is Outcome.REJECTED


# --- reports ---------------------------------------------------------------------------------

def test_fills_parse_trade_id_qty_price_and_ist_fill_time(kite: Kite) -> None:
    broker, _ = kite
    first = broker.fills()[0]
    assert (first.trade_id, first.broker_order_id, first.qty, first.price) == (
        "30061521", "250106400000101", 50, 23652.0)
    assert first.ts == datetime(2025, 1, 6, 9, 20, 3, tzinfo=IST)


def test_fills_carry_the_orders_tag_as_client_key(kite: Kite) -> None:
    broker, _ = kite
    assert [f.client_key for f in broker.fills()] == [
        "emax-0106-0001", "emax-0106-0001", "atrd-0106-0004"]


def test_positions_net_qty_and_avg_price_across_nrml_and_mis(kite: Kite) -> None:
    broker, _ = kite
    positions = {p.symbol: (p.net_qty, p.avg_price) for p in broker.positions()}
    assert positions == {"NIFTY25JANFUT": (75, 23652.35),
                         "BANKNIFTY25JANFUT": (60, pytest.approx(50130.0)),
                         "NIFTY25JAN23000PE": (-75, 98.4)}


def test_reports_unreachable_raise_query_error(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next("GET", "/portfolio/positions",
                        Fault(exc=requests.ConnectionError("connection reset by peer")))
    with pytest.raises(KiteQueryError):
        broker.positions()


def test_reports_token_exception_raise_session_error(kite: Kite) -> None:
    broker, transport = kite
    transport.fail_next("GET", "/trades", Fault(error="token_expired"))
    with pytest.raises(KiteSessionError):
        broker.fills()
    assert broker.session_invalid


# --- over a paper exchange (the conformance suite's market) -----------------------------------

@pytest.fixture
def kite_paper(tmp_path: Path) -> tuple[KiteBroker, PaperExchange]:
    return kite_over_paper(tmp_path, fill_model=FillModel(fill="next_open"))


def _bar(exchange: PaperExchange, minute: int, price: float) -> None:
    ts = datetime(2025, 1, 6, 9, 15 + minute, tzinfo=IST)
    exchange.on_bar("NIFTY25JANFUT", ts, price, price + 1.0, price - 1.0, price)


def test_over_paper_market_order_fills_at_next_open_through_kite_json(
        kite_paper: tuple[KiteBroker, PaperExchange]) -> None:
    broker, exchange = kite_paper
    _bar(exchange, 0, 23640.0)
    placed = broker.submit(_request())
    _bar(exchange, 1, 23652.5)
    [fill] = broker.fills()
    assert (fill.broker_order_id, fill.client_key, fill.qty, fill.price) == (
        placed.broker_order_id, "emax-0106-0009", 75, 23652.5)
    assert fill.ts == datetime(2025, 1, 6, 9, 16, tzinfo=IST)
    assert [(p.symbol, p.net_qty) for p in broker.positions()] == [("NIFTY25JANFUT", 75)]


def test_over_paper_second_cancel_rejected(kite_paper: tuple[KiteBroker, PaperExchange]) -> None:
    broker, exchange = kite_paper
    _bar(exchange, 0, 23640.0)
    placed = broker.submit(_request(order_type=OrderType.LIMIT, limit_price=23500.0))
    assert placed.broker_order_id is not None
    assert broker.cancel(placed.broker_order_id).outcome is Outcome.CONFIRMED
    second = broker.cancel(placed.broker_order_id)
    assert second.outcome is Outcome.REJECTED and "not open" in second.reason


def test_over_paper_lost_acknowledgement_settled_by_tag(
        kite_paper: tuple[KiteBroker, PaperExchange]) -> None:
    broker, exchange = kite_paper
    _bar(exchange, 0, 23640.0)
    exchange.set_faults(drop_ack_next=1)
    assert broker.submit(_request()).outcome is Outcome.UNKNOWN
    report = broker.status(client_key="emax-0106-0009")
    assert report is not None and report.state is OrderState.OPEN


# --- error classification --------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "outcome"), [
    (kex.InputException("Invalid `quantity`.", code=400), Outcome.REJECTED),
    (kex.OrderException("RMS:Rule: Check circuit limit", code=500), Outcome.REJECTED),
    (kex.PermissionException("Insufficient permission", code=403), Outcome.REJECTED),
    (kex.TokenException("Token is invalid or has expired.", code=403), Outcome.REJECTED),
    (kex.GeneralException("Too many requests", code=429), Outcome.REJECTED),
    (kex.GeneralException("Something went wrong", code=500), Outcome.UNKNOWN),
    (kex.GeneralException("Gateway timeout", code=504), Outcome.UNKNOWN),
    (kex.NetworkException("Couldn't connect to the OMS", code=503), Outcome.UNKNOWN),
    (kex.DataException("Couldn't parse the JSON response", code=502), Outcome.UNKNOWN),
    (kex.KiteException("unclassified", code=500), Outcome.UNKNOWN),
    (requests.ReadTimeout("read timed out"), Outcome.UNKNOWN),
    (requests.ConnectionError("reset"), Outcome.UNKNOWN),
    (ConnectionResetError("reset"), Outcome.UNKNOWN),
    (TimeoutError(), Outcome.UNKNOWN),
    (KeyError("order_id"), Outcome.UNKNOWN),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_classify_kite_error_outcome(exc: Exception, outcome: Outcome) -> None:
    assert classify_kite_error(exc).outcome is outcome


def test_classify_kite_error_only_token_exception_invalidates_session() -> None:
    assert classify_kite_error(kex.TokenException("expired")).session_invalid
    assert not classify_kite_error(kex.PermissionException("denied")).session_invalid


def test_classify_kite_error_reason_keeps_broker_message() -> None:
    failure = classify_kite_error(kex.InputException("Invalid `price`.", code=400))
    assert failure.reason == "InputException (400): Invalid `price`."
