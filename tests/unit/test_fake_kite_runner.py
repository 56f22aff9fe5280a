"""The fake Kite's standalone runner (``python -m tests.fake_kite``) and its real-time play."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kiteconnect import KiteConnect

from tests.fake_kite import FakeKite
from tests.synthetic_datasets import nse_index_1m_path
from tests.unit.test_fake_kite_rest import T0, minute_bars

REPO = Path(__file__).resolve().parents[2]


def test_runner_prints_roots_and_serves_until_interrupted() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_kite", "--dataset", str(nse_index_1m_path()),
         "--symbols", "NIFTY", "--from", "2025-03-03", "--speed", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().split(":", 1) for _ in range(4))
        root = lines["rest_root"].strip()
        assert root.startswith("http://127.0.0.1:")
        kite = KiteConnect(lines["api_key"].strip(),
                           access_token=lines["access_token"].strip(), root=root)
        assert [r["tradingsymbol"] for r in kite.instruments()] == ["NIFTY25MARFUT"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_play_advances_the_clock_in_the_background() -> None:
    with FakeKite(minute_bars()) as fake:
        fake.play(speed=6000.0)  # 100 market minutes per second: the ten bars in < 1 s
        deadline = time.monotonic() + 20
        while fake.market.pending():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        fake.stop_play()
        kite = KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.rest_root)
        candles = kite.historical_data(fake.instruments[0]["instrument_token"],
                                       "2025-03-03", "2025-03-03", "minute")
    assert len(candles) == 10
    assert candles[0]["date"] == T0
