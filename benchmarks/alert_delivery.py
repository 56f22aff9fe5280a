"""Alert delivery latency: journal append -> received by a loopback webhook (HMAC checked)
and by a local SMTP server (aiosmtpd), through the real worker thread with the default
policy (poll 0.2 s, coalesce 0.5 s). Each alert has its own scope, so none is deduplicated.
Target (RTS 6 Art. 16, issue 18): p99 under 5 s.

Usage: ``python benchmarks/alert_delivery.py [--alerts 60]``
Ends with ``name: value`` lines; the last is the worse p99 as a fraction of the 5 s target.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from live.alerts.channels import SIGNATURE_HEADER
from live.alerts.config import Channel, DeliveryConfig, EmailChannel, WebhookChannel
from live.alerts.dispatcher import AlertDispatcher
from live.alerts.outbox import Outbox
from live.events import AlertRaised, Severity
from live.journal import open_journal

TARGET_S = 5.0
SECRET = b"benchmark-secret-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _webhook(arrived: dict[str, float]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(want, self.headers.get(SIGNATURE_HEADER, "")):
                arrived[json.loads(body)["trace_id"]] = time.monotonic()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = _port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server, f"http://127.0.0.1:{port}/hook"


def _smtp(arrived: dict[str, float]) -> tuple[Controller, int]:
    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mail = message_from_bytes(envelope.content)
            body = mail.get_payload(decode=True).decode()
            payload = json.loads(body[body.index("{"):])
            arrived[payload["trace_id"]] = time.monotonic()
            return "250 OK"

    port = _port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def _measure(channel: Channel, arrived: dict[str, float], alerts: int, folder: Path) -> list[float]:
    """Append ``alerts`` alerts one by one, each waiting for its delivery; seconds each."""
    url = f"sqlite:///{folder / 'journal.db'}"
    journal = open_journal(url, clock=lambda: datetime.now(UTC))
    reader = open_journal(url)
    config = DeliveryConfig(db_path=folder / "alerts.db", channels={channel.name: channel},
                            tiers=((channel.name,),))
    worker = AlertDispatcher(config, Outbox(config.db_path, config),
                             read_after=lambda seq: reader.read(seq + 1))
    worker.start(0)
    latencies = []
    try:
        for i in range(alerts):
            trace = f"al{channel.name}{i:06d}"
            started = time.monotonic()
            journal.append(AlertRaised(trace_id=trace, ts_event=datetime.now(UTC),
                                       severity=Severity.CRITICAL, code="runaway_order_rate",
                                       message=f"strategy_{i}: 9 orders in 60s"))
            while trace not in arrived and time.monotonic() - started < 30:
                time.sleep(0.005)
            latencies.append(arrived.get(trace, float("inf")) - started)
    finally:
        worker.stop()
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=60)
    args = parser.parse_args()
    hooks: dict[str, float] = {}
    mails: dict[str, float] = {}
    server, url = _webhook(hooks)
    smtp, port = _smtp(mails)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "w").mkdir()
            (Path(tmp) / "m").mkdir()
            webhook = _measure(WebhookChannel("hook", url, SECRET), hooks, args.alerts,
                               Path(tmp) / "w")
            email = _measure(EmailChannel("mail", "127.0.0.1", port, "stratops@desk.test",
                                          ("oncall@desk.test",)), mails, args.alerts,
                             Path(tmp) / "m")
    finally:
        server.shutdown()
        smtp.stop()
    for name, values in (("webhook", webhook), ("email", email)):
        print(f"{name}: median {statistics.median(values):.3f} s, p99 {_p(values, 99):.3f} s, "
              f"max {max(values):.3f} s over {len(values)} alerts")
    print(f"webhook_delivery_p50_s: {_p(webhook, 50):.3f}")
    print(f"webhook_delivery_p99_s: {_p(webhook, 99):.3f}")
    print(f"email_delivery_p50_s: {_p(email, 50):.3f}")
    print(f"email_delivery_p99_s: {_p(email, 99):.3f}")
    worst = max(_p(webhook, 99), _p(email, 99))
    print(f"delivery_p99_fraction_of_5s_target: {worst / TARGET_S:.3f}")


if __name__ == "__main__":
    main()
