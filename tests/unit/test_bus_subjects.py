"""The bus's NATS names declared in one place, its wire form (the journal's records) with
poison refused, and the ``live.bus`` settings validated."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from live.bus import Envelope
from live.events import BarClosed, CancelOrder, to_record
from live.transport.subjects import (
    COMMANDS,
    DEAD,
    EVENTS,
    MARKET_DATA,
    RISK,
    BusLayout,
    BusPrefixError,
)
from live.transport.wire import MSG_ID, SEQ, TOPIC, PoisonMessageError, decode, encode
from stratops.bus_settings import BusSettings
from stratops.cli import main

T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
BAR = BarClosed(trace_id="", ts_event=T0, symbol="NIFTY", open=1.0, high=2.0, low=0.5,
                close=1.5, volume=10.0)


def test_layout_names_every_stream_from_the_prefix() -> None:
    layout = BusLayout("desk-a")
    assert [s.name for s in layout.streams()] == ["DESK_A_MD", "DESK_A_CMD", "DESK_A_EVT",
                                                  "DESK_A_DEAD", "DESK_A_RSK", "DESK_A_SIG"]
    assert layout.stream(EVENTS).subjects == ("desk-a.evt.>",)


def test_layout_commands_and_events_go_to_their_own_streams() -> None:
    cancel = CancelOrder(trace_id="t", ts_event=T0, client_key="so1", broker_order_id="b",
                         reason="r")
    assert BusLayout.kind_of(cancel) == COMMANDS and BusLayout.kind_of(BAR) == EVENTS
    assert BusLayout("d").subject(MARKET_DATA, "BarClosed") == "d.md.BarClosed"


def test_layout_parks_poison_under_the_dead_letter_subjects() -> None:
    assert BusLayout("d").dead_subject("d.md.BarClosed") == f"d.{DEAD}.md.BarClosed"


@pytest.mark.parametrize("prefix", ["", "a.b", "1abc", "a b", "x" * 49])
def test_layout_bad_prefix_is_refused_naming_it(prefix: str) -> None:
    with pytest.raises(BusPrefixError, match="stream_prefix"):
        BusLayout(prefix)


def test_wire_round_trip_gives_the_envelope_publisher_and_sequence() -> None:
    envelope = Envelope("BarClosed", "bar:1", (BAR,))
    payload, headers = encode(envelope, "md-1", 7)
    assert headers[MSG_ID] == "bar:1" and json.loads(payload) == [to_record(BAR)]
    assert decode(payload, headers) == (envelope, "md-1", 7)


@pytest.mark.parametrize(("payload", "change", "match"), [
    (b"\xff", {}, "undecodable"),
    (b"[]", {}, "non-empty list"),
    (b'[{"kind": "Nope"}]', {}, "unknown message kind"),
    (None, {SEQ: "x"}, "not a sequence number"),
    (None, {TOPIC: "OrderFilled"}, "on topic"),
    (None, {MSG_ID: ""}, "missing headers"),
])
def test_wire_poison_is_refused_saying_why(payload: bytes | None, change: dict[str, str],
                                           match: str) -> None:
    good, headers = encode(Envelope("BarClosed", "bar:1", (BAR,)), "md-1", 1)
    with pytest.raises(PoisonMessageError, match=match):
        decode(good if payload is None else payload, {**headers, **change})


def test_bus_settings_default_is_the_embedded_bus() -> None:
    assert BusSettings().transport == "inprocess"


@pytest.mark.parametrize(("field", "value"), [
    ("transport", "kafka"), ("url", "http://x"), ("stream_prefix", "a.b"),
    ("gap_timeout_seconds", 0), ("publish_deadline_seconds", -1), ("durable", "x"),
])
def test_bus_settings_bad_value_is_refused_naming_the_field(field: str, value: object
                                                            ) -> None:
    with pytest.raises(ValidationError, match=field):
        BusSettings.model_validate({field: value})


def test_svc_signal_on_the_in_process_bus_exits_two_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BUS__TRANSPORT", "inprocess")
    assert main(["svc", "signal", "--mode", "shadow"]) == 2
    assert "live.bus.transport" in capsys.readouterr().err


def test_svc_execution_refuses_an_unknown_signals_mode(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BUS__TRANSPORT", "jetstream")
    assert main(["svc", "execution", "--signals", "elsewhere"]) == 2
    assert "--signals 'elsewhere'" in capsys.readouterr().err


def test_svc_execution_refuses_a_signal_deadline_past_the_ack_wait(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["svc", "execution", "--signals", "remote", "--signal-deadline-ms", "900"]) == 2
    assert "--signal-deadline-ms" in capsys.readouterr().err


def test_svc_execution_refuses_an_unknown_risk_mode(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BUS__TRANSPORT", "jetstream")
    assert main(["svc", "execution", "--risk", "elsewhere"]) == 2
    assert "--risk 'elsewhere'" in capsys.readouterr().err


def test_layout_consumer_of_one_topic_filters_its_subject() -> None:
    spec = BusLayout("d").consumer(RISK, "x", topic="RiskChecked", from_start=True)
    assert spec.filter_subject == "d.rsk.RiskChecked" and spec.from_start


def test_svc_risk_on_the_in_process_bus_exits_two_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BUS__TRANSPORT", "inprocess")
    assert main(["svc", "risk", "--mode", "shadow"]) == 2
    assert "live.bus.transport" in capsys.readouterr().err


def test_svc_on_the_in_process_bus_exits_two_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__BUS__TRANSPORT", "inprocess")
    assert main(["svc", "state", "--journal", "sqlite://"]) == 2
    assert "live.bus.transport" in capsys.readouterr().err
