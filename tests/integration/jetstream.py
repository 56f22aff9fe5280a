"""The real NATS JetStream server at 127.0.0.1:4222 for the bus tests: a unique stream
prefix per test (its streams deleted at teardown) and a restart of the shared server that
always brings it back (other engineers use it: a few seconds down at most)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from live.transport.subjects import BusLayout

NATS_URL = "nats://127.0.0.1:4222"
NATS_EXE = "/usr/sbin/nats-server"
START = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", NATS_EXE, "--",
         "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server",
         "-l", "/var/log/nats-server.log"]
STOP = ["start-stop-daemon", "--stop", "--oknodo", "--retry", "5", "--exec", NATS_EXE]


def nats_up() -> bool:
    """Whether the server answers with its INFO line."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5) as s:
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


def wait_for(up: bool, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while nats_up() != up:
        if time.monotonic() > deadline:
            raise AssertionError(f"NATS still {'down' if up else 'up'} after "
                                 f"{timeout_seconds} s")
        time.sleep(0.05)


def stop_nats() -> None:
    subprocess.run(STOP, check=True, capture_output=True, timeout=15)
    wait_for(False)


def start_nats() -> None:
    subprocess.run(START, check=True, capture_output=True, timeout=15)
    wait_for(True)


@pytest.fixture
def layout() -> Iterator[BusLayout]:
    """A stream prefix no other test uses; its streams deleted afterwards."""
    found = BusLayout(f"t{uuid.uuid4().hex[:12]}")
    try:
        yield found
    finally:
        if not nats_up():
            start_nats()
        asyncio.run(_delete(found))


async def _delete(found: BusLayout) -> None:
    await delete_streams(NATS_URL, found)


async def delete_streams(url: str, found: BusLayout) -> None:
    """Delete every stream of ``found`` (``stratops svc`` never deletes a stream)."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url)
    try:
        for spec in found.streams():
            with contextlib.suppress(NotFoundError):
                await nc.jetstream().delete_stream(spec.name)
    finally:
        await nc.close()


def raw_publish(subject: str, payload: bytes, headers: dict[str, str]) -> None:
    """Store any bytes on ``subject`` (a poison message, a hand-numbered sequence)."""
    async def go() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().publish(subject, payload, headers=headers)
        finally:
            await nc.close()
    asyncio.run(go())
