"""A governed project folder (real keys, roles, trust lock) with the operator page's server
running on a loopback port in a thread: for the page's HTTP and browser tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import uvicorn
import yaml

from live.db import make_engine
from live.governance.audit import AuditLog, AuditRecord
from live.governance.delegation import grant_payload
from live.governance.identity import Actor, create_keys, load_private_key
from stratops.ops_app import create_app
from stratops.ops_auth import COOKIE, CSRF_HEADER, encode_token
from stratops.ops_server import OpsServer
from stratops.settings import Settings, load_settings
from tests.chain_tamper import Identities, ceremony, identities

REPO = Path(__file__).resolve().parents[1]
USERS = {"alice": ["quant"], "bob": ["desk_head"], "carol": ["risk_officer"],
         "dan": ["risk_officer"], "svc": ["runner"]}


@dataclass
class Clock:
    """Real UTC time plus an offset a test can move (the governance service uses real time,
    so the offset only ever moves forward past a TTL and back)."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class OpsStack:
    root: Path
    people: Identities
    server: OpsServer
    url: str
    clock: Clock

    @property
    def settings(self) -> Settings:
        return load_settings(self.root)

    def token(self, challenge: str, user: str, *, keys_dir: Path | None = None,
              ttl_seconds: int = 600) -> str:
        """What ``stratops ops login --challenge ... --as user`` prints."""
        directory = self.people.directory
        actor = Actor(directory.user(user), load_private_key(user, keys_dir or
                                                             self.people.keys_dir))
        payload = grant_payload(challenge)
        return encode_token(payload, actor.sign(payload, now=self.clock(),
                                                ttl_seconds=ttl_seconds))

    def challenge(self) -> str:
        return str(requests.post(f"{self.url}/api/challenge", timeout=5).json()["challenge"])

    def signed_in(self, user: str) -> requests.Session:
        """A client holding ``user``'s session cookie and CSRF header."""
        client = requests.Session()
        reply = client.post(f"{self.url}/api/login", timeout=10,
                            json={"token": self.token(self.challenge(), user)})
        reply.raise_for_status()
        client.headers[CSRF_HEADER] = reply.json()["csrf"]
        assert client.cookies.get(COOKIE)
        return client

    def audit(self) -> list[AuditRecord]:
        engine = make_engine(self.settings.governance.db_url, self.root)
        return AuditLog(engine).records()


def governed_project(folder: Path) -> Identities:
    """Keys, roles file and trust lock for :data:`USERS`, with the repo's reviewed files."""
    people = identities(folder, USERS)
    (folder / "stratops.yaml").write_text(yaml.safe_dump({
        "governance": {"keys_dir": str(people.keys_dir)},
        "ops": {"mode": "live", "poll_ms": 50}}))
    for name in ("gates.yaml", "policy.yaml", "risk.yaml"):
        shutil.copy(REPO / name, folder / name)
    ceremony(folder, people.keys_dir, maker="alice", checker="carol")
    return people


def stranger_keys(folder: Path, user: str) -> Path:
    """A key file for ``user`` that the roles file does not list (a wrong key)."""
    keys = folder / "stranger-keys"
    create_keys(user, keys)
    return keys


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(root: Path, people: Identities) -> Iterator[OpsStack]:
    """The page's server over ``root`` until the block ends."""
    clock = Clock()
    server = OpsServer(load_settings(root), clock=clock)
    server.start()
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(create_app(server), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="off",
                                        timeout_graceful_shutdown=1))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not web.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the page's server did not start in 10 s")
        time.sleep(0.02)
    try:
        yield OpsStack(root, people, server, f"http://127.0.0.1:{port}", clock)
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        server.stop()
