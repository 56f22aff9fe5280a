"""A retention purge on a real PostgreSQL journal: the archived prefix deleted in one
transaction (the append-only trigger lifted only inside it), the chain verifying and
replaying from the retained anchor, the trigger back in force afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from live.compliance.retention import PurgePlan, delete_prefix
from live.journal import Journal, open_journal
from tests.compliance_flows import Flow, at
from tests.integration.postgres import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.services]


@pytest.fixture()
def pg_journal() -> Iterator[Journal]:
    for url in fresh_database("stratops_retention"):
        journal = open_journal(url)
        flow = Flow()
        for day in (1, 2, 3):
            flow.bar(at(10, 0, day=day), 100.0).bar(at(10, 1, day=day), 100.5)
        journal.append_many(flow.messages, ts_record=datetime(2026, 12, 4, tzinfo=UTC))
        yield journal
        journal.engine.dispose()


def test_postgres_purge_deletes_the_prefix_and_verifies_from_the_anchor(
        pg_journal: Journal) -> None:
    seq, digest = next(pg_journal.hashes(4, 4))
    delete_prefix(pg_journal, PurgePlan("journal-live", at(0, 0, day=3).date(), 1, seq,
                                        digest), archive="journal-live-0000000001-0000000006",
                  purged_at="2026-12-06")
    assert pg_journal.anchor() == (4, digest)
    assert pg_journal.verify().ok
    assert [s for s, _ in pg_journal.read_checked()] == [5, 6]


def test_postgres_purge_leaves_the_journal_append_only(pg_journal: Journal) -> None:
    seq, digest = next(pg_journal.hashes(2, 2))
    delete_prefix(pg_journal, PurgePlan("journal-live", at(0, 0, day=2).date(), 1, seq,
                                        digest), archive="journal-live-0000000001-0000000006",
                  purged_at="2026-12-06")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), \
            pg_journal.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM journal WHERE seq = 5"))
