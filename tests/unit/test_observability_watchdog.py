"""The watchdog's checks and its paging: one page when an incident starts, one when it ends;
the default pager's JSON lines; the observability settings' refusals."""

from __future__ import annotations

import io
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from pydantic import ValidationError

from live.observability.pager import FanOutPager, FilePager
from live.observability.watchdog import ScrapeError, Watchdog, health, http_scrape
from stratops.observability_settings import MetricsSettings, WatchdogSettings

T0 = datetime(2026, 1, 5, 9, 15, tzinfo=UTC)


def page_with_heartbeat(beat: float | None) -> str:
    registry = CollectorRegistry()
    if beat is not None:
        Gauge("stratops_heartbeat_timestamp_seconds", "beat", registry=registry).set(beat)
    Gauge("stratops_journal_head_seq", "seq", registry=registry).set(3)
    return generate_latest(registry).decode()


def unreachable() -> str:
    raise ScrapeError("http://127.0.0.1:1/metrics", "ConnectionRefusedError: refused")


@pytest.mark.parametrize(("beat", "kind"), [(995.0, "ok"), (989.0, "heartbeat_stale"),
                                            (None, "heartbeat_missing")])
def test_health_of_a_page_compares_the_heartbeat_to_the_budget(beat: float | None,
                                                               kind: str) -> None:
    assert health(lambda: page_with_heartbeat(beat), 1_000.0, 10.0).kind == kind


def test_health_of_an_endpoint_that_does_not_answer_is_unreachable() -> None:
    verdict = health(unreachable, 1_000.0, 10.0)
    assert verdict.kind == "runner_unreachable" and "ConnectionRefused" in verdict.message


def test_http_scrape_of_a_closed_port_raises_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens
    started = time.monotonic()
    with pytest.raises(ScrapeError, match=str(port)):
        http_scrape(f"http://127.0.0.1:{port}/metrics", 2.0)
    assert time.monotonic() - started < 1.0


def test_watchdog_pages_once_per_incident_and_once_on_recovery(tmp_path: Path) -> None:
    now = [1_000.0]
    answers = [page_with_heartbeat(999.0)]

    def scrape() -> str:
        if answers[-1] == "down":
            return unreachable()
        return answers[-1]

    page_file = tmp_path / "pages.jsonl"
    dog = Watchdog(scrape, FilePager(page_file, lambda: T0, err=io.StringIO()),
                   wall=lambda: now[0], budget_s=5.0, target="runner")
    assert dog.check().ok
    answers.append("down")
    for _ in range(5):
        now[0] += 1
        dog.check()
    answers.append(page_with_heartbeat(now[0] - 20))  # back up, loop still hung
    now[0] += 1
    assert dog.check().kind == "heartbeat_stale"
    answers.append(page_with_heartbeat(now[0]))
    now[0] += 1
    assert dog.check().ok
    lines = [json.loads(line) for line in page_file.read_text().splitlines()]
    assert [(p["kind"], p["severity"]) for p in lines] == [
        ("runner_unreachable", "critical"), ("runner_recovered", "info")]
    assert lines[1]["details"]["lasted_s"] == 6.0 and dog.pages == 2


def test_file_pager_appends_a_json_line_and_tells_stderr(tmp_path: Path) -> None:
    err = io.StringIO()
    pager = FilePager(tmp_path / "sub" / "pages.jsonl", lambda: T0, err=err)
    pager.page("heartbeat_stale", "critical", "runner hung", {"age_s": 12.5})
    pager.page("runner_recovered", "info", "runner back", {})
    first, second = (json.loads(line) for line in
                     (tmp_path / "sub" / "pages.jsonl").read_text().splitlines())
    assert first == {"ts": T0.isoformat(), "kind": "heartbeat_stale", "severity": "critical",
                     "message": "runner hung", "details": {"age_s": 12.5}}
    assert second["kind"] == "runner_recovered"
    assert "PAGE CRITICAL heartbeat_stale: runner hung" in err.getvalue()


def test_watchdog_settings_refuse_a_timeout_that_outlasts_the_budget() -> None:
    with pytest.raises(ValidationError, match="exceed budget_seconds"):
        WatchdogSettings(budget_seconds=2, timeout_seconds=2, interval_seconds=1)


def test_metrics_settings_refuse_a_host_name_and_take_port_0_as_off() -> None:
    with pytest.raises(ValidationError, match="an IP address"):
        MetricsSettings(host="example.com")
    assert not MetricsSettings(port=0).enabled and MetricsSettings().enabled


class _Down:
    def page(self, kind: str, severity: str, message: str, details: dict[str, object]) -> None:
        raise ConnectionError("webhook down")


def test_fan_out_pager_keeps_paging_when_one_channel_fails(tmp_path: Path) -> None:
    err = io.StringIO()
    pager = FanOutPager([FilePager(tmp_path / "pages.jsonl", lambda: datetime(2026, 1, 1,
                                                                               tzinfo=UTC)),
                         _Down()], err=err)
    pager.page("runner_unreachable", "critical", "no answer", {})
    assert json.loads((tmp_path / "pages.jsonl").read_text())["kind"] == "runner_unreachable"
    assert "webhook down" in err.getvalue()


def test_fan_out_pager_raises_when_every_channel_failed() -> None:
    with pytest.raises(ConnectionError, match="webhook down"):
        FanOutPager([_Down()], err=io.StringIO()).page("k", "critical", "m", {})


def test_watchdog_with_alert_delivery_pages_the_webhook(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``stratops watchdog`` with ``alerts.enabled``: the page reaches tier 0's webhook (a
    loopback receiver), HMAC-signed, as well as the page file."""
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from live.alerts.channels import SIGNATURE_HEADER
    from stratops.alerts_ops import watchdog_pagers
    from stratops.observability_ops import run_watchdog
    from stratops.settings import load_settings

    got: list[tuple[bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, self.headers[SIGNATURE_HEADER]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("WD_HOOK_KEY", "k3y-for-the-desk-hook")
    monkeypatch.setenv("STRATOPS_ALERTS__ENABLED", "true")
    monkeypatch.setenv("STRATOPS_ALERTS__DB_PATH", str(tmp_path / "alerts.db"))
    monkeypatch.setenv("STRATOPS_ALERTS__WEBHOOKS", json.dumps([{
        "name": "desk", "url": f"http://127.0.0.1:{server.server_address[1]}/hook",
        "secret_env": "WD_HOOK_KEY"}]))
    monkeypatch.setenv("STRATOPS_ALERTS__TIERS", '[["desk"]]')
    try:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/metrics"
        closed.close()  # nothing listens there: the runner is "dead"
        settings = load_settings(tmp_path)
        pages = run_watchdog(settings, url, 1.0, tmp_path / "pages.jsonl", 1,
                             also=watchdog_pagers(settings))
    finally:
        server.shutdown()
    assert pages == 1 and (tmp_path / "pages.jsonl").read_text().count("\n") == 1
    (body, signature), = got
    key = b"k3y-for-the-desk-hook"
    assert signature == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
