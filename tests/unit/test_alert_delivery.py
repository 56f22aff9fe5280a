"""Alert delivery over real servers on loopback: a webhook receiver (http.server in a
thread) that checks the HMAC signature, an SMTP server (aiosmtpd); deduplication,
escalation, retries while the receiver is down, a queue that survives a re-open, the
journal-fed worker thread and the out-of-process ``page``."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from live.alerts.channels import SIGNATURE_HEADER
from live.alerts.config import DeliveryConfig, EmailChannel, WebhookChannel
from live.alerts.dispatcher import AlertDispatcher
from live.alerts.outbox import Incoming, Outbox
from live.alerts.page import configure, page
from live.events import AlertRaised, Severity
from live.journal import open_journal

SECRET = b"0123456789abcdef-test-secret"


@dataclass
class Receiver:
    """A loopback webhook receiver: keeps each body whose HMAC verifies; counts bad ones."""

    port: int
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def _serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(want, self.headers.get(SIGNATURE_HEADER, "")):
                receiver.bodies.append(json.loads(body))
            else:
                receiver.bad_signatures += 1
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return server


def wall() -> datetime:
    return datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    server = _serve(found)
    yield found
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def config(tmp_path: Path, *hooks: Receiver, tiers: tuple[tuple[str, ...], ...] | None = None,
           **policy: Any) -> DeliveryConfig:
    channels: dict[str, Any] = {f"hook{i}": WebhookChannel(f"hook{i}", h.url, SECRET, 2.0)
                                for i, h in enumerate(hooks)}
    return DeliveryConfig(db_path=tmp_path / "alerts.db", channels=channels,
                          tiers=tiers or (tuple(channels),), **policy)


def alert(ref: str, code: str = "runaway_order_rate", scope: str = "ema_cross") -> Incoming:
    return Incoming("test", ref, code, scope, Severity.CRITICAL, f"{scope}: 9 orders in 60s",
                    "al" + ref)


def worker(cfg: DeliveryConfig, clock: Clock) -> AlertDispatcher:
    return AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), clock=clock)


def test_webhook_body_carries_a_valid_hmac_signature(tmp_path: Path,
                                                     receiver: Receiver) -> None:
    clock, cfg = Clock(), config(tmp_path, receiver)
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock(), delay_s=0.0)
    assert w.deliver_due() == 1
    assert (receiver.bad_signatures, [b["code"] for b in receiver.bodies]) == \
        (0, ["runaway_order_rate"])


def test_webhook_signed_with_another_secret_fails_verification(tmp_path: Path,
                                                                receiver: Receiver) -> None:
    clock = Clock()
    cfg = DeliveryConfig(db_path=tmp_path / "a.db", tiers=(("h",),), channels={
        "h": WebhookChannel("h", receiver.url, b"another-secret-entirely", 2.0)})
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock(), delay_s=0.0)
    w.deliver_due()
    assert (receiver.bad_signatures, receiver.bodies) == (1, [])


def test_email_reaches_a_local_smtp_server(tmp_path: Path) -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg = DeliveryConfig(db_path=tmp_path / "a.db", tiers=(("mail",),), channels={
            "mail": EmailChannel("mail", "127.0.0.1", port, "stratops@desk.test",
                                 ("oncall@desk.test",))})
        clock = Clock()
        w = worker(cfg, clock)
        w.outbox.ingest(alert("1"), clock(), delay_s=0.0)
        assert w.deliver_due() == 1
    finally:
        smtp.stop()
    mail = message_from_bytes(received[0])
    assert mail["Subject"] == "[stratops CRITICAL] runaway_order_rate (ema_cross)"
    assert mail["To"] == "oncall@desk.test"


def test_dedup_burst_of_one_code_and_scope_is_one_delivery_with_its_count(
        tmp_path: Path, receiver: Receiver) -> None:
    clock, cfg = Clock(), config(tmp_path, receiver, coalesce_s=0.5)
    w = worker(cfg, clock)
    for ref in "123":
        w.outbox.ingest(alert(ref), clock())
        clock.now += 0.1
    clock.now += 0.5
    w.run_once()
    assert [(b["code"], b["count"]) for b in receiver.bodies] == [("runaway_order_rate", 3)]


def test_dedup_other_scope_is_another_delivery(tmp_path: Path, receiver: Receiver) -> None:
    clock, cfg = Clock(), config(tmp_path, receiver, coalesce_s=0.0)
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock())
    w.outbox.ingest(alert("2", scope="range_breakout"), clock())
    w.run_once()
    assert sorted(b["scope"] for b in receiver.bodies) == ["ema_cross", "range_breakout"]


def test_dedup_after_the_window_is_a_new_delivery(tmp_path: Path, receiver: Receiver) -> None:
    clock, cfg = Clock(), config(tmp_path, receiver, coalesce_s=0.0, dedup_window_s=60.0)
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock())
    w.run_once()
    clock.now += 61
    w.outbox.ingest(alert("2"), clock())
    w.run_once()
    assert [b["count"] for b in receiver.bodies] == [1, 1]


def _two_tiers(tmp_path: Path) -> tuple[Receiver, Receiver, Any, DeliveryConfig]:
    first, second = Receiver(free_port()), Receiver(free_port())
    servers = [_serve(first), _serve(second)]
    cfg = config(tmp_path, first, second, tiers=(("hook0",), ("hook1",)), coalesce_s=0.0,
                 escalate_after_s=300.0)
    return first, second, servers, cfg


def test_escalation_unacknowledged_alert_pages_the_next_tier(tmp_path: Path) -> None:
    first, second, servers, cfg = _two_tiers(tmp_path)
    clock = Clock()
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock())
    w.run_once()
    clock.now += 301
    w.run_once()
    for s in servers:
        s.shutdown()
        s.server_close()
    assert [b["tier"] for b in first.bodies] == [0]
    assert [(b["tier"], b["code"]) for b in second.bodies] == [(1, "runaway_order_rate")]


def test_escalation_acknowledged_alert_stays_at_its_tier(tmp_path: Path) -> None:
    first, second, servers, cfg = _two_tiers(tmp_path)
    clock = Clock()
    w = worker(cfg, clock)
    group = w.outbox.ingest(alert("1"), clock())
    w.run_once()
    assert group is not None
    w.outbox.ack(group, "dana", clock())
    clock.now += 301
    w.run_once()
    for s in servers:
        s.shutdown()
        s.server_close()
    assert (len(first.bodies), second.bodies) == (1, [])


def test_retry_receiver_down_then_up_delivers_exactly_once(tmp_path: Path) -> None:
    down = Receiver(free_port())  # nothing listens yet
    clock, cfg = Clock(), config(tmp_path, down, coalesce_s=0.0, retry_initial_s=2.0)
    w = worker(cfg, clock)
    w.outbox.ingest(alert("1"), clock())
    assert w.run_once() == 0
    clock.now += 1.0
    assert w.run_once() == 0  # inside the backoff: not tried again
    server = _serve(down)
    try:
        clock.now += 1.5
        assert w.run_once() == 1
        clock.now += 100
        assert w.run_once() == 0
    finally:
        server.shutdown()
        server.server_close()
    assert [b["code"] for b in down.bodies] == ["runaway_order_rate"]
    (group,) = w.outbox.groups()
    assert [(d["state"], d["attempts"]) for d in group["deliveries"]] == [("delivered", 2)]


def test_retry_backoff_doubles_up_to_its_cap(tmp_path: Path) -> None:
    down = Receiver(free_port())
    clock = Clock()
    cfg = config(tmp_path, down, coalesce_s=0.0, retry_initial_s=1.0, retry_max_s=3.0)
    outbox = Outbox(cfg.db_path, cfg)
    outbox.ingest(alert("1"), clock())
    (due,) = outbox.claim_due(clock())
    waits = [outbox.failed(due.id, "down", clock()) - clock() for _ in range(4)]
    assert waits == [1.0, 2.0, 3.0, 3.0]


def test_queue_survives_a_restart_and_delivers_after_it(tmp_path: Path) -> None:
    down = Receiver(free_port())
    clock, cfg = Clock(), config(tmp_path, down, coalesce_s=0.0, retry_initial_s=1.0)
    before = worker(cfg, clock)
    before.outbox.ingest(alert("1"), clock())
    before.run_once()  # fails: nobody listens
    del before
    server = _serve(down)
    try:
        clock.now += 2
        after = worker(cfg, clock)  # a new process's view of the same file
        assert after.outbox.ingest(alert("1"), clock()) is None  # already queued
        assert after.run_once() == 1
    finally:
        server.shutdown()
        server.server_close()
    assert len(down.bodies) == 1


def test_claimed_delivery_is_not_sent_by_a_second_worker(tmp_path: Path,
                                                         receiver: Receiver) -> None:
    clock, cfg = Clock(), config(tmp_path, receiver, coalesce_s=0.0)
    one, two = worker(cfg, clock), worker(cfg, clock)
    one.outbox.ingest(alert("1"), clock())
    assert len(one.outbox.claim_due(clock())) == 1
    assert two.outbox.claim_due(clock()) == []


def test_worker_thread_delivers_a_journaled_alert_within_five_seconds(
        tmp_path: Path, receiver: Receiver) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    cfg = config(tmp_path, receiver)
    reader = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    w = AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), read_after=lambda s: reader.read(s + 1))
    w.start(0)
    try:
        started = time.monotonic()
        journal.append(AlertRaised(trace_id="al1", ts_event=datetime.now(UTC),
                                   severity=Severity.CRITICAL, code="runaway_order_rate",
                                   message="ema_cross: 9 orders in 60s"))
        while not receiver.bodies and time.monotonic() - started < 5:
            time.sleep(0.02)
        took = time.monotonic() - started
    finally:
        w.stop()
    assert [b["trace_id"] for b in receiver.bodies] == ["al1"] and took < 5


def test_worker_restarted_does_not_deliver_journaled_alerts_again(
        tmp_path: Path, receiver: Receiver) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    journal.append(AlertRaised(trace_id="al1", ts_event=datetime.now(UTC),
                               severity=Severity.ERROR, code="bad_bar", message="x"))
    cfg = config(tmp_path, receiver, coalesce_s=0.0)
    for _ in range(2):  # two processes' workers over the same queue
        w = AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), read_after=lambda s: journal.read(
            s + 1))
        w.run_once()
    assert len(receiver.bodies) == 1


def test_worker_skips_alerts_below_min_severity(tmp_path: Path, receiver: Receiver) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    journal.append(AlertRaised(trace_id="al1", ts_event=datetime.now(UTC),
                               severity=Severity.INFO, code="catch_up", message="x"))
    cfg = config(tmp_path, receiver, coalesce_s=0.0)
    w = AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), read_after=lambda s: journal.read(s + 1))
    w.run_once()
    assert receiver.bodies == []


def test_page_delivers_at_once_from_outside_a_runner(tmp_path: Path,
                                                     receiver: Receiver) -> None:
    configure(config(tmp_path, receiver))
    page("runner_heartbeat_missing", "critical", "no heartbeat for 30s", {"host": "h1"})
    assert [(b["code"], b["severity"]) for b in receiver.bodies] == \
        [("runner_heartbeat_missing", "critical")]


def test_playbook_page_step_is_delivered_to_its_tier(tmp_path: Path) -> None:
    from live.events import PlaybookActed

    first, second = Receiver(free_port()), Receiver(free_port())
    servers = [_serve(first), _serve(second)]
    cfg = config(tmp_path, first, second, tiers=(("hook0",), ("hook1",)), coalesce_s=0.0)
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    journal.append(PlaybookActed(
        trace_id="al1", ts_event=datetime.now(UTC), playbook="runaway_page",
        alert_code="runaway_order_rate", action="page", scope="ema_cross", outcome="applied",
        detail="page tier 1: critical runaway_order_rate: ema_cross: 9 orders"))
    w = AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), read_after=lambda s: journal.read(s + 1))
    w.run_once()
    for s in servers:
        s.shutdown()
        s.server_close()
    assert first.bodies == []
    assert [(b["code"], b["tier"], b["trace_id"]) for b in second.bodies] == [
        ("runaway_order_rate", 1, "al1")]


def test_playbook_proposal_is_delivered_as_critical(tmp_path: Path,
                                                    receiver: Receiver) -> None:
    from live.events import PlaybookActed

    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}", clock=wall)
    journal.append(PlaybookActed(
        trace_id="al1", ts_event=datetime.now(UTC), playbook="flatten_first",
        alert_code="unexplained_pnl", action="flatten", scope="ema_cross",
        outcome="proposed", proposal="PB0123456789",
        detail="waiting for a signed confirmation: stratops playbook confirm PB0123456789"))
    cfg = config(tmp_path, receiver, coalesce_s=0.0)
    w = AlertDispatcher(cfg, Outbox(cfg.db_path, cfg), read_after=lambda s: journal.read(s + 1))
    w.run_once()
    (body,) = receiver.bodies
    assert (body["code"], body["severity"], body["details"]["proposal"]) == \
        ("playbook_proposed", "critical", "PB0123456789")
