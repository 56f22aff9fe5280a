"""Hot-standby failover time: how long after the leader dies (SIGKILL) or freezes (SIGSTOP)
a standby leads, with real processes on the real PostgreSQL server.

Each instance is a child process of this script: a journal fenced by the leader lease
(:mod:`live.lease`), following it as a :class:`live.standby.Standby` until it leads, then
appending a bar every 50 ms. The leader is SIGKILLed, then the next leader SIGSTOPped (and
woken: it must exit fenced); each time the seconds from the signal to the standby's
``leading`` line are measured. The reference, in the same run, is the lease TTL: the design
bound is TTL + poll + settle margin (a leader dying just after a renewal).

Run: ``.venv/bin/python benchmarks/failover.py [--ttl 3] [--url postgresql://...]``
(a throw-away database is created on that server and dropped). The last lines are
``name: value`` pairs, ``failover_s`` (the worse of the two) last.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from live.db import create_postgres_database, normalise_url
from live.events import BarClosed
from live.hashchain import GENESIS
from live.journal import Journal, JournalWriteError, open_journal
from live.lease import LeaderLease
from live.standby import Standby

SERVER_URL = os.environ.get("STRATOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
APPEND_EVERY_SECONDS = 0.05
EXIT_FENCED = 4
T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)


class _Follower:
    """What a standby folds: here only the position (the runner folds into its state)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.journal_position: tuple[int, str] = (0, GENESIS)

    def fold_journal(self) -> int:
        last, folded = self.journal_position[0], 0
        for last, _ in self.journal.read_checked(self.journal_position[0] + 1,  # noqa: B007
                                                     self.journal_position[1]):
            folded += 1
        if folded:
            self.journal_position = next(self.journal.hashes(last, last))
        return folded


def child(url: str, holder: str, ttl_seconds: float) -> None:
    """One instance: follow, lead, append until killed or fenced (exit 4)."""
    journal = open_journal(url, clock=lambda: T0)
    lease = LeaderLease(url, name="bench", holder=holder, ttl_seconds=ttl_seconds)
    journal.fence = lease.check_in
    print("ready", flush=True)
    follower = _Follower(journal)
    Standby(follower, lease, poll_seconds=0.05).follow_until_leader()
    print(f"leading {time.time()}", flush=True)
    seq = follower.journal_position[0]
    try:
        while True:
            seq += 1
            journal.append(BarClosed(trace_id="", ts_event=T0 + timedelta(minutes=seq),
                                     symbol="NIFTY", open=1.0, high=2.0, low=0.5, close=1.5,
                                     volume=1.0))
            time.sleep(APPEND_EVERY_SECONDS)
    except JournalWriteError as exc:
        print(f"FENCED: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_FENCED)


class _Instance:
    def __init__(self, url: str, holder: str, ttl_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", holder, "--url", url, "--ttl",
             str(ttl_seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        self.lines: list[str] = []
        out = self.proc.stdout
        assert out is not None
        threading.Thread(target=lambda: self.lines.extend(x.strip() for x in out),
                         daemon=True).start()

    def wait_line(self, prefix: str, timeout: float = 120.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = next((line for line in self.lines if line.startswith(prefix)), None)
            if found is not None:
                return found
            if self.proc.poll() is not None and not any(
                    line.startswith(prefix) for line in self.lines):
                break
            time.sleep(0.01)
        raise SystemExit(f"no {prefix!r} from a child: {self.lines}")

    def led_at(self) -> float:
        return float(self.wait_line("leading").split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def measure_failover(server_url: str = SERVER_URL, ttl_seconds: float = 3.0
                     ) -> dict[str, float]:
    """Seconds from SIGKILL (and from SIGSTOP) of the leader to the standby leading, with
    the lease TTL they are bounded by; on a throw-away database of ``server_url``."""
    name = f"stratops_bench_failover_{uuid.uuid4().hex[:8]}"
    url = f"{server_url}/{name}"
    create_postgres_database(url)
    instances: list[_Instance] = []
    try:
        first = _Instance(url, "A", ttl_seconds)
        instances.append(first)
        first.led_at()
        second = _Instance(url, "B", ttl_seconds)
        instances.append(second)
        second.wait_line("ready")
        time.sleep(ttl_seconds / 2)  # mid-lease
        killed = time.time()
        first.proc.send_signal(signal.SIGKILL)
        sigkill_s = second.led_at() - killed
        third = _Instance(url, "C", ttl_seconds)
        instances.append(third)
        third.wait_line("ready")
        time.sleep(ttl_seconds / 2)
        stopped = time.time()
        second.proc.send_signal(signal.SIGSTOP)
        sigstop_s = third.led_at() - stopped
        second.proc.send_signal(signal.SIGCONT)
        if second.proc.wait(60) != EXIT_FENCED:
            raise SystemExit("the woken leader was not fenced")
    finally:
        for instance in instances:
            instance.stop()
        _drop(server_url, name)
    return {"lease_ttl_s": ttl_seconds, "failover_sigkill_s": sigkill_s,
            "failover_sigstop_s": sigstop_s, "failover_s": max(sigkill_s, sigstop_s)}


def _drop(server_url: str, name: str) -> None:
    admin = sa.create_engine(normalise_url(f"{server_url}/postgres"),
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--url", default=SERVER_URL, help="PostgreSQL server URL")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.child, args.ttl)
        return
    result = measure_failover(args.url, args.ttl)
    bound = result["lease_ttl_s"] * (1 + 1 / 6) + 0.05
    print(f"design bound (ttl + margin + poll): {bound:.2f} s")
    for key in ("lease_ttl_s", "failover_sigkill_s", "failover_sigstop_s", "failover_s"):
        print(f"{key}: {result[key]:.2f}")


if __name__ == "__main__":
    main()
