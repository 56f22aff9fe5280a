"""Operator page update latency: a fill journaled -> visible on the page (server-sent events).

Workload: a temporary project whose runner journal (SQLite, ``synchronous=FULL``) gets one
trade at a time - bar, signal, risk check, intent, submission, fill, each appended as the
runner does - at seeded random gaps, while ``stratops ops serve``'s app (FastAPI + uvicorn on
a loopback port, the default ``ops.poll_ms``) follows it, folds it, recomputes the risk
report (VaR, stress, margin on the synthetic NSE minute bars) and pushes the new state.

Measured: from the fill's commit returning to (a) the first server-sent event whose ``seq``
includes it, read by an SSE client, and (b) the page's DOM showing that seq in headless
Chromium (a MutationObserver stamps the time). The reference, in the same run, is a direct
journal tail reader polling ``head()`` at the same interval: the floor any poller has.

Run: ``.venv/bin/python benchmarks/observability_page.py [--fills 40] [--browser-fills 10]``.
The last lines are ``name: value`` pairs, the headline ratio last.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
import uvicorn
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from live.broker import OrderType, Outcome, Side  # noqa: E402
from live.events import (  # noqa: E402
    BarClosed,
    Message,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    RiskChecked,
    SignalRaised,
    SignalSide,
    TradingMode,
    client_key,
    new_trace_id,
)
from live.journal import Journal, open_journal  # noqa: E402
from stratops.ops_app import create_app  # noqa: E402
from stratops.ops_server import OpsServer  # noqa: E402
from stratops.settings import load_settings  # noqa: E402

T0 = datetime(2025, 3, 3, 9, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
DATASET = "nse_index_1m"


def _dataset(root: Path) -> None:
    """The synthetic NSE minute bars the risk report reads (the DVC output if built, else
    made by the stage's own command)."""
    target = root / "data" / "datasets" / f"{DATASET}.parquet"
    target.parent.mkdir(parents=True)
    built = REPO / "data" / "datasets" / f"{DATASET}.parquet"
    if built.is_file():
        shutil.copy(built, target)
        return
    from pipelines.datasets import synthetic_nse

    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["nse_synthetic"]
    args = shlex.split(stage["cmd"])[3:]
    args[args.index("--out") + 1] = str(target)
    args[args.index("--regimes-out") + 1] = str(root / "regimes.parquet")
    synthetic_nse.main(args)


def project(root: Path) -> None:
    for name in ("dvc.yaml", "dvc.lock", "risk.yaml", "gates.yaml", "policy.yaml",
                 "roles.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "live" / "risk" / "margin_params",
                    root / "live" / "risk" / "margin_params")
    _dataset(root)
    (root / "stratops.yaml").write_text(yaml.safe_dump({
        "live": {"journal_url": "sqlite:///journal.db"},
        "research": {"datasets": [DATASET]}}))


def trade(i: int) -> list[Message]:
    """One trade's messages, the fill last (entries and exits alternate)."""
    ts = T0 + timedelta(minutes=i)
    price = 23_500.0 + (i % 37) * 0.5
    side = Side.SELL if i % 2 else Side.BUY
    trace = new_trace_id("ema_cross", "NIFTY", ts, i)
    key = client_key(trace)
    return [
        BarClosed(trace_id="", ts_event=ts, symbol="NIFTY", open=price, high=price + 5,
                  low=price - 5, close=price + 1, volume=1_000.0),
        SignalRaised(trace_id=trace, ts_event=ts, strategy="ema_cross", version="1",
                     symbol="NIFTY", side=SignalSide.SHORT if i % 2 else SignalSide.LONG,
                     reason="entry"),
        RiskChecked(trace_id=trace, ts_event=ts, strategy="ema_cross", symbol="NIFTY",
                    passed=True, check="pre_trade", reason=""),
        OrderIntended(trace_id=trace, ts_event=ts, client_key=key, strategy="ema_cross",
                      version="1", symbol="NIFTY", exchange="NFO", side=side, qty=75,
                      order_type=OrderType.MARKET, mode=TradingMode.LIVE),
        OrderSubmitted(trace_id=trace, ts_event=ts, client_key=key, broker_order_id=f"B{i}",
                       outcome=Outcome.CONFIRMED),
        OrderFilled(trace_id=trace, ts_event=ts, client_key=key, broker_order_id=f"B{i}",
                    trade_id=f"T{i}", symbol="NIFTY", side=side, qty=75, price=price)]


class SseClient:
    """Reads the page's event stream; records when each state's seq first arrived."""

    def __init__(self, url: str) -> None:
        self.seen: list[tuple[float, int]] = []
        self._response = requests.get(f"{url}/api/events", stream=True, timeout=30)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    self.seen.append((time.time(), int(json.loads(line[6:])["seq"])))
        except (requests.RequestException, AttributeError, ValueError):
            return  # closed by close(): urllib3 drops the socket under the reader

    def first_at(self, seq: int, timeout: float = 10.0) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for at, shown in list(self.seen):
                if shown >= seq:
                    return at
            time.sleep(0.001)
        raise TimeoutError(f"seq {seq} never reached the event stream")

    def close(self) -> None:
        self._response.close()


class TailReader:
    """The reference: a reader polling the journal head every ``poll_s``."""

    def __init__(self, journal: Journal, poll_s: float) -> None:
        self.seen: list[tuple[float, int]] = []
        self._journal, self._poll, self._stop = journal, poll_s, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append((time.time(), self._journal.head()[0]))
            self._stop.wait(self._poll)

    def first_at(self, seq: int, timeout: float = 10.0) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for at, head in list(self.seen):
                if head >= seq:
                    return at
            time.sleep(0.001)
        raise TimeoutError(f"seq {seq} never reached the tail reader")

    def stop(self) -> None:
        self._stop.set()


def _append_trade(journal: Journal, i: int) -> tuple[int, float]:
    """Append one trade as the runner does (one commit per message); (fill seq, commit
    time of the fill)."""
    seq = 0
    for message in trade(i):
        seq = journal.append(message)
    return seq, time.time()


OBSERVER = """
window.__seen = {};
const el = document.getElementById('seq');
new MutationObserver(() => { const s = parseInt(el.textContent);
  if (!(s in window.__seen)) window.__seen[s] = Date.now(); })
  .observe(el, {childList: true, characterData: true, subtree: true});
"""


def browser_latencies(url: str, journal: Journal, start: int, count: int,
                      rng: random.Random) -> list[float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='stratops-bench-')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        browser.get(url)
        time.sleep(1.0)
        browser.execute_script(OBSERVER)
        out = []
        for i in range(start, start + count):
            seq, committed = _append_trade(journal, i)
            deadline = time.time() + 10
            while time.time() < deadline:
                seen = browser.execute_script("return window.__seen;")
                shown = [at for s, at in seen.items() if int(s) >= seq]
                if shown:
                    out.append((min(shown) / 1000 - committed) * 1000)
                    break
                time.sleep(0.01)
            else:
                raise TimeoutError(f"seq {seq} never reached the page")
            time.sleep(rng.uniform(0.2, 0.5))
        return out
    finally:
        browser.quit()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=40)
    parser.add_argument("--browser-fills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="stratops-ops-bench-"))
    try:
        project(root)
        journal = open_journal(f"sqlite:///{root / 'journal.db'}",
                               clock=lambda: datetime.now(ZoneInfo("UTC")))
        _append_trade(journal, 0)
        settings = load_settings(root)
        server = OpsServer(settings)
        server.start()
        port = _free_port()
        web = uvicorn.Server(uvicorn.Config(create_app(server), host="127.0.0.1", port=port,
                                            log_level="warning", lifespan="off",
                                            timeout_graceful_shutdown=1))
        threading.Thread(target=web.run, daemon=True).start()
        while not web.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}"
        poll_s = settings.ops.poll_ms / 1000
        sse, tail = SseClient(url), TailReader(journal, poll_s)
        time.sleep(1.0)  # the first state (risk inputs loaded)
        page_ms, tail_ms = [], []
        for i in range(1, args.fills + 1):
            seq, committed = _append_trade(journal, i)
            page_ms.append((sse.first_at(seq) - committed) * 1000)
            tail_ms.append((tail.first_at(seq) - committed) * 1000)
            time.sleep(rng.uniform(0.2, 0.5))
        sse.close()
        tail.stop()
        browser_ms = browser_latencies(url, journal, args.fills + 1, args.browser_fills, rng) \
            if args.browser_fills else []
        web.should_exit = True
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    p50, tail_p50 = statistics.median(page_ms), statistics.median(tail_ms)
    print(f"fills: {len(page_ms)} over SSE, {len(browser_ms)} in headless Chromium; "
          f"ops.poll_ms {settings.ops.poll_ms}")
    print(f"page (SSE) latency ms: p50 {p50:.1f}, p95 "
          f"{statistics.quantiles(page_ms, n=20)[-1]:.1f}, max {max(page_ms):.1f}")
    print(f"direct tail reader (reference) ms: p50 {tail_p50:.1f}, max {max(tail_ms):.1f}")
    if browser_ms:
        print(f"page (browser DOM) latency ms: p50 {statistics.median(browser_ms):.1f}, "
              f"max {max(browser_ms):.1f}")
    print(f"ops_poll_ms: {settings.ops.poll_ms}")
    print(f"page_sse_latency_p50_ms: {p50:.1f}")
    print(f"page_sse_latency_max_ms: {max(page_ms):.1f}")
    if browser_ms:
        print(f"page_browser_latency_p50_ms: {statistics.median(browser_ms):.1f}")
        print(f"page_browser_latency_max_ms: {max(browser_ms):.1f}")
    print(f"tail_reader_latency_p50_ms: {tail_p50:.1f}")
    print(f"page_vs_tail_reader_p50: {p50 / tail_p50:.2f}")


if __name__ == "__main__":
    main()
