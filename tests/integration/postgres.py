"""A throw-away database on the real PostgreSQL server (the ``services`` tests; never mocks)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

SERVER_URL = os.environ.get("STRATOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def fresh_database(prefix: str) -> Iterator[str]:
    """Yield the URL of a new database named ``<prefix>_<random>``; drop it afterwards.
    Fails the test, naming the server, when it cannot be reached."""
    try:
        admin = psycopg2.connect(f"{SERVER_URL}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {SERVER_URL} is unreachable (start the services): {exc}")
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"{SERVER_URL}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
