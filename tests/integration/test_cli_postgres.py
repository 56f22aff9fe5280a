"""The CLI against the real PostgreSQL server (marker ``services``): a reader names an
unreachable or missing governance database (exit 2, one ``error:`` line with a hint), and
``live create-databases`` creates only the per-mode journal databases that are missing.

Moved out of ``tests/unit/test_cli_consistency.py``: unit tests need no server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg2
import pytest

from stratops.cli import main
from tests.integration.postgres import SERVER_URL
from tests.unit.test_cli_consistency import _one_error_line, empty_project

pytestmark = pytest.mark.integration

__all__ = ["empty_project"]  # the fixture, shared with the unit tests


@pytest.mark.services
@pytest.mark.parametrize(("url", "reason"), [
    ("postgresql://127.0.0.1:1/stratops_governance", "is unreachable"),
    (f"{SERVER_URL}/stratops_never_created_db", 'database "stratops_never_created_db" does '
                                                "not exist"),
])
def test_reader_unreachable_postgres_governance_db_exits_two_with_hint(
        empty_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, url: str, reason: str) -> None:
    monkeypatch.setenv("STRATOPS_GOVERNANCE__DB_URL", url)
    assert main(["audit", "show"]) == 2
    err = _one_error_line(capsys)
    assert f"governance database {url}" in err and reason in err and "createdb" in err



@pytest.mark.services
def test_live_create_databases_creates_the_missing_per_mode_databases(
        empty_project: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"stratops_journal_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("STRATOPS_LIVE__JOURNAL_URL", f"{SERVER_URL}/{prefix}_{{mode}}")
    admin = psycopg2.connect(f"{SERVER_URL}/postgres", connect_timeout=5)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{prefix}_shadow"')
        assert main(["live", "create-databases", "--json"]) == 0
        first = {mode: v["state"] for mode, v in json.loads(capsys.readouterr().out).items()}
        assert first == {"shadow": "exists", "canary": "created", "live": "created"}
        assert main(["live", "create-databases"]) == 0
        out = capsys.readouterr().out
        assert f"live: {SERVER_URL}/{prefix}_live exists" in " ".join(out.split())
    finally:
        with admin.cursor() as cur:
            for mode in ("shadow", "canary", "live"):
                cur.execute(f'DROP DATABASE IF EXISTS "{prefix}_{mode}" WITH (FORCE)')
        admin.close()
