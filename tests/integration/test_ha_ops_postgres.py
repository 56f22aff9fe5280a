"""``stratops live run`` under ``live.ha`` (:func:`stratops.ha_ops.take_lead`) on the real
PostgreSQL server, with real runners: a leader is fenced, a second leader is refused, and a
``--standby`` instance follows the journal and leads once the leader hands over."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live.standby import FencedBroker
from stratops.errors import LiveSetupError
from stratops.ha_ops import take_lead
from stratops.settings import Settings, load_settings
from tests.integration.postgres import fresh_database
from tests.integration.standby_driver import build_runner
from tests.unit.test_settings import _project

pytestmark = [pytest.mark.integration, pytest.mark.services]


@pytest.fixture()
def urls() -> Iterator[tuple[str, str]]:
    """A journal database named ``live_<random>`` (so ``{mode}`` can name it) and an
    exchange database."""
    with contextlib.contextmanager(fresh_database)("live") as journal, \
            contextlib.contextmanager(fresh_database)("stratops_ha_exchange") as exchange:
        yield journal, exchange


def _settings(tmp_path: Path, journal_url: str, holder: str, ttl: float = 0.6) -> Settings:
    server, name = journal_url.rsplit("/", 1)
    folder = tmp_path / holder
    folder.mkdir()
    return load_settings(_project(folder, (
        f"live:\n  journal_url: {server}/{{mode}}{name[len('live'):]}\n"
        f"  ha:\n    enabled: true\n    lease_ttl_seconds: {ttl}\n    poll_seconds: 0.02\n"
        f"    holder: {holder}\n")))


def test_take_lead_fences_the_leader_and_refuses_a_second_one(
        urls: tuple[str, str], tmp_path: Path) -> None:
    # A lease that cannot lapse while B's runner is built (0.6 s did, once, on a loaded host:
    # B then led, legitimately): this test is about the refusal, not about expiry.
    said: list[str] = []
    leader = build_runner(*urls)
    lease = take_lead(_settings(tmp_path, urls[0], "A", ttl=30), "live", leader,
                      standby=False, say=said.append)
    try:
        assert lease is not None and said == ["A leads live at lease epoch 1"]
        assert isinstance(leader.executor.broker, FencedBroker)
        assert leader.journal.fence is not None
        with pytest.raises(LiveSetupError, match=r"held by A \(epoch 1\).*--standby"):
            take_lead(_settings(tmp_path, urls[0], "B", ttl=30), "live", build_runner(*urls),
                      standby=False, say=said.append)
    finally:
        if lease is not None:
            lease.close()


def test_take_lead_standby_follows_and_leads_after_the_hand_over(
        urls: tuple[str, str], tmp_path: Path) -> None:
    said: list[str] = []
    leader = build_runner(*urls)
    lease = take_lead(_settings(tmp_path, urls[0], "A"), "live", leader, standby=False,
                      say=said.append)
    assert lease is not None
    leader.recover()  # journals the start through the fence
    standby = build_runner(*urls)
    follower = threading.Thread(target=lambda: said.append(repr(take_lead(
        _settings(tmp_path, urls[0], "B"), "live", standby, standby=True, say=said.append))))
    follower.start()
    time.sleep(0.3)
    assert follower.is_alive()  # still following: A holds the lease
    lease.close()  # a clean session end hands over at once
    follower.join(10)
    assert said[1] == "standby B: following the live journal; lease epoch 1 of A"
    assert said[2].startswith("B leads live at lease epoch 2 (took over from A; ready ")
    followed = leader.journal.head()
    assert standby.journal_position == followed
    standby.recover()  # the new leader journals through its own fence
    assert standby.journal.head()[0] > followed[0]
    standby.executor.broker._lease.close()  # type: ignore[attr-defined]  # FencedBroker's
