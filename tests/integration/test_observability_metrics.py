"""A real runner process with its metrics endpoint on (the same starter as ``stratops live
run``): after a replayed day, /metrics scraped over HTTP equals what its journal says -
bars, signals, intents, submit outcomes, fills, round trips and hit ratio, the journal's
head, the kill switch - and the slippage equals the TCA report's arrival slippage."""

from __future__ import annotations

from collections import Counter

import pytest

from live.events import (
    BarClosed,
    OrderFilled,
    OrderIntended,
    OrderSubmitted,
    SignalRaised,
    TradeExited,
)
from live.journal import open_journal
from live.tca.extract import tca_tables
from tests.integration.observability_procs import free_port, scrape, start_driver

STRATEGY = (("strategy", "ema_cross"),)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list, object]:
    folder = tmp_path_factory.mktemp("metrics")
    port = free_port()
    proc = start_driver("flat", folder, port, "done")
    try:
        samples = scrape(port)
    finally:
        proc.communicate(input="", timeout=30)
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}")
    return samples, [m for _, m in journal.read()], journal


def test_scraped_counts_equal_the_journal(scraped: tuple[dict, list, object]) -> None:
    samples, messages, _ = scraped
    kinds = Counter(type(m) for m in messages)
    assert kinds[OrderIntended] > 4  # the day traded
    assert samples[("stratops_bars_total", (("symbol", "NIFTY"),))] == kinds[BarClosed]
    sides = Counter(m.side.value for m in messages if isinstance(m, SignalRaised))
    for side, count in sides.items():
        assert samples[("stratops_signals_total", (("side", side), *STRATEGY))] == count
    assert samples[("stratops_orders_intended_total", STRATEGY)] == kinds[OrderIntended]
    outcomes = Counter(m.outcome.value for m in messages if isinstance(m, OrderSubmitted))
    for outcome, count in outcomes.items():
        assert samples[("stratops_orders_sent_total", (("outcome", outcome), *STRATEGY))] \
            == count
    assert samples[("stratops_fills_total", STRATEGY)] == kinds[OrderFilled]


def test_scraped_round_trips_and_hit_ratio_equal_the_journal(
        scraped: tuple[dict, list, object]) -> None:
    samples, messages, _ = scraped
    exits = [m for m in messages if isinstance(m, TradeExited)]
    wins = sum(m.pnl_inr > 0 for m in exits)
    assert exits and samples[("stratops_trades_total", (("outcome", "win"), *STRATEGY))] \
        == wins
    assert samples[("stratops_hit_ratio", STRATEGY)] == pytest.approx(wins / len(exits))


def test_scraped_journal_head_and_kill_switch_equal_the_journal(
        scraped: tuple[dict, list, object]) -> None:
    samples, messages, journal = scraped
    assert samples[("stratops_journal_head_seq", ())] == journal.head()[0] == len(messages)
    assert samples[("stratops_kill_switch_state", (("scope", "all"),))] == 0
    assert samples[("stratops_heartbeat_timestamp_seconds", ())] > 1.7e9
    assert samples[("stratops_bar_to_intent_seconds_count", STRATEGY)] > 0


def test_scraped_slippage_equals_the_tca_reports(scraped: tuple[dict, list, object]) -> None:
    samples, _, journal = scraped
    children = tca_tables(journal).children
    expected = sum(c.arrival_slippage_inr or 0.0 for c in children)
    assert expected != 0
    assert samples[("stratops_slippage_inr", STRATEGY)] == pytest.approx(expected)
    filled = sum(1 for c in children if c.filled_qty)
    assert samples[("stratops_slippage_bps_count", STRATEGY)] >= filled
