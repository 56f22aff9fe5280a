"""How often the runner commits its journal: once per quiet bar, once before the broker
hears of a bar's order (the bar, its signal, governance and risk answers and the intent in
one transaction), and never a broker call ahead of the intent's commit.

EMA cross on 2025-03-03 NIFTY decides its first entry at the close of bar FIRST_ENTRY
(:mod:`tests.unit.test_runner_engine`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from live.adapters.paper import PaperExchange
from live.broker import OrderRequest, SubmitResult
from live.events import BarClosed, GovernanceDecided, OrderIntended, RiskChecked, SignalRaised
from live.journal import Journal
from tests.unit.test_runner_engine import FIRST_ENTRY, Stores, day_bars, stores_in


class SeesTheJournal:
    """Wraps a paper exchange: at each submit, notes what a reader of the journal's file
    finds then (committed rows only) and how many commits the runner had made."""

    def __init__(self, exchange: PaperExchange, stores: Stores) -> None:
        self.exchange, self.stores = exchange, stores
        self.name, self.supports_oco = exchange.name, exchange.supports_oco
        self.runner_journal: Journal | None = None
        self.seen: list[tuple[str, list[str], int]] = []  # key, committed kinds, commits

    def on_bar(self, symbol: str, ts: datetime, *prices: float) -> object:
        return self.exchange.on_bar(symbol, ts, *prices)

    def submit(self, request: OrderRequest) -> SubmitResult:
        assert self.runner_journal is not None
        kinds = [m.KIND for _, m in self.stores.journal().read()]
        intended = [m.client_key for _, m in self.stores.journal().read()
                    if isinstance(m, OrderIntended)]
        assert request.client_key in intended, "the broker heard of an uncommitted intent"
        self.seen.append((request.client_key, kinds, self.runner_journal.commits))
        return self.exchange.submit(request)

    def __getattr__(self, name: str) -> object:
        return getattr(self.exchange, name)


@dataclass
class FirstEntry:
    """The bars up to and including the first entry's, fed one at a time."""

    commits: list[int]  # per bar
    before_entry_bar: int  # the runner's commits before the entry's bar
    seen: list[tuple[str, list[str], int]]  # the broker's view at each submit


@pytest.fixture(scope="module")
def first_entry(tmp_path_factory: pytest.TempPathFactory) -> FirstEntry:
    stores = stores_in(tmp_path_factory.mktemp("commits"))
    broker = SeesTheJournal(stores.exchange(), stores)
    runner = stores.runner(broker=broker)
    broker.runner_journal = runner.journal
    runner.recover()
    commits, before = [], 0
    for bar in day_bars(FIRST_ENTRY + 1):
        before = runner.journal.commits
        runner.run([bar])
        commits.append(runner.journal.commits - before)
    return FirstEntry(commits, before, broker.seen)


def test_runner_commits_a_bar_without_orders_once(first_entry: FirstEntry) -> None:
    assert first_entry.commits[:FIRST_ENTRY] == [1] * FIRST_ENTRY


def test_runner_commits_once_before_the_broker_hears_of_a_bars_order(
        first_entry: FirstEntry) -> None:
    ((_, kinds, commits),) = first_entry.seen
    assert commits - first_entry.before_entry_bar == 1
    assert kinds[-5:] == [BarClosed.KIND, SignalRaised.KIND, GovernanceDecided.KIND,
                          RiskChecked.KIND, OrderIntended.KIND]


def test_runner_commits_a_bar_with_one_order_twice(first_entry: FirstEntry) -> None:
    assert first_entry.commits[FIRST_ENTRY] == 2  # the intent (with the bar's events), then
    # the broker's answer
