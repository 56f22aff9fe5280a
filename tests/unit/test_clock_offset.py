"""The clock-offset check: chronyc/ntpq parsing, the rolling median against the budget,
holds and lifts, and its place in the Kite feed beside the stale-feed watch."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.market.clock_offset import (
    NO_NTP,
    ClockConfigError,
    ClockOffsetWatch,
    parse_chronyc_tracking,
    parse_ntpq_rv,
)
from live.market.kite_feed import KiteFeedConfig
from live.runner.feed import FeedAlert, FeedHold, FeedItem, Idle
from stratops.settings import SettingsError, load_settings
from tests.unit.test_market_kite_feed import Clock, FakeTicker, at, kite_tick, make_feed, pull
from tests.unit.test_settings import _project

IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 3, 4, 10, 0, tzinfo=IST)

CHRONYC_TRACKING = """\
Reference ID    : A29FC87B (time.cloudflare.com)
Stratum         : 4
Ref time (UTC)  : Sat Dec 05 21:10:02 2026
System time     : 0.000153212 seconds slow of NTP time
Last offset     : -0.000012077 seconds
RMS offset      : 0.000043310 seconds
Frequency       : 7.183 ppm fast
Residual freq   : -0.001 ppm
Skew            : 0.029 ppm
Root delay      : 0.021534421 seconds
Root dispersion : 0.000739051 seconds
Update interval : 1029.6 seconds
Leap status     : Normal
"""
NTPQ_RV = ("associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,\n"
           "version=\"ntpd 4.2.8p15\", processor=\"x86_64\", stratum=3,\n"
           "precision=-24, rootdelay=20.512, rootdisp=31.071, refid=162.159.200.1,\n"
           "offset=-0.412317, frequency=7.183, sys_jitter=0.238, clk_jitter=0.101\n")


def test_parse_chronyc_tracking_slow_clock_is_negative_ms() -> None:
    assert parse_chronyc_tracking(CHRONYC_TRACKING) == pytest.approx(-0.153212)


def test_parse_ntpq_rv_reads_the_offset_in_ms() -> None:
    assert parse_ntpq_rv(NTPQ_RV) == pytest.approx(-0.412317)


def test_parse_chronyc_tracking_without_a_system_time_line_is_none() -> None:
    assert parse_chronyc_tracking("506 Cannot talk to daemon\n") is None


@given(st.floats(0, 1e4, allow_nan=False), st.sampled_from(["fast", "slow"]),
       st.text(alphabet="abc :\n", max_size=40))
def test_parse_chronyc_tracking_recovers_any_offset(seconds: float, way: str,
                                                    noise: str) -> None:
    text = f"Stratum : 3\n{noise}\nSystem time     : {seconds:.9f} seconds {way} of NTP time\n"
    expected = round(seconds, 9) * 1000 * (1 if way == "fast" else -1)
    assert parse_chronyc_tracking(text) == pytest.approx(expected)


@given(st.text(max_size=200))
def test_parse_chronyc_tracking_never_raises_on_any_text(text: str) -> None:
    result = parse_chronyc_tracking(text)
    assert result is None or isinstance(result, float)


def _watch(ntp: float | None = None, limit: float = 500.0) -> ClockOffsetWatch:
    return ClockOffsetWatch(["NIFTY", "BANKNIFTY"], max_offset_ms=limit,
                            ntp_probe=lambda: ntp, window=5)


def _holds(items: list[FeedItem]) -> list[tuple[str, bool]]:
    return [(i.symbol, i.held) for i in items if isinstance(i, FeedHold)]


def test_watch_with_ticks_beyond_the_budget_holds_every_symbol_and_alerts() -> None:
    watch = _watch(ntp=1.0)
    for i in range(5):
        watch.observe(T0 + timedelta(seconds=i), T0 + timedelta(seconds=i, milliseconds=900))
    items = watch.check(T0, 0.0)
    assert _holds(items) == [("NIFTY", True), ("BANKNIFTY", True)]
    assert [i.code for i in items if isinstance(i, FeedAlert)] == ["clock_offset"]


def test_watch_with_one_slow_tick_among_good_ones_stays_ok() -> None:
    watch = _watch(ntp=1.0)
    for ms in (10, 20, 5000, 15, 12):
        watch.observe(T0, T0 + timedelta(milliseconds=ms))
    assert watch.check(T0, 0.0) == [] and watch.held is None


def test_watch_with_fewer_than_five_ticks_judges_nothing() -> None:
    watch = _watch(ntp=1.0)
    for _ in range(4):
        watch.observe(T0, T0 + timedelta(seconds=30))
    assert watch.check(T0, 0.0) == []


def test_watch_back_within_budget_lifts_every_symbol() -> None:
    watch = _watch(ntp=1.0)
    for _ in range(5):
        watch.observe(T0, T0 + timedelta(seconds=2))
    watch.check(T0, 0.0)
    for _ in range(5):
        watch.observe(T0, T0 + timedelta(milliseconds=50))
    assert _holds(watch.check(T0, 1.0)) == [("NIFTY", False), ("BANKNIFTY", False)]


def test_watch_with_ntp_beyond_the_budget_holds() -> None:
    assert _holds(_watch(ntp=-900.0).check(T0, 0.0))[0] == ("NIFTY", True)


def test_watch_without_an_ntp_daemon_warns_unchecked_once() -> None:
    watch = _watch(ntp=None)
    first, later = watch.check(T0, 0.0), watch.check(T0, 120.0)
    assert [(i.code, NO_NTP in i.message) for i in first if isinstance(i, FeedAlert)] == \
        [("clock_unchecked", True)]
    assert later == []


def test_watch_with_a_zero_budget_refuses() -> None:
    with pytest.raises(ClockConfigError, match="max_offset_ms=0"):
        ClockOffsetWatch(["NIFTY"], max_offset_ms=0, ntp_probe=None)


def test_merge_while_the_clock_holds_drops_the_stale_watch_lift() -> None:
    watch = _watch(ntp=-900.0)
    watch.check(T0, 0.0)
    lift = FeedHold(T0, "NIFTY", False, "ticks resumed")
    assert watch.merge([lift], stale_held=set()) == []


def test_merge_drops_the_clock_lift_of_a_symbol_the_stale_watch_holds() -> None:
    watch = _watch()
    lifts: list[FeedItem] = [FeedHold(T0, "NIFTY", False, "clock back"),
                             FeedHold(T0, "BANKNIFTY", False, "clock back")]
    assert _holds(watch.merge(lifts, stale_held={"NIFTY"})) == [("BANKNIFTY", False)]


def test_kite_feed_with_ticks_stamped_seconds_ahead_holds_entries() -> None:
    clock, ticker = Clock(at(10, 0)), FakeTicker()
    config = KiteFeedConfig(stale_after_seconds=30, clock_max_offset_ms=2_000)
    items = iter(make_feed(clock, ticker, config=config, ntp_probe=lambda: 0.5))
    pull(items, lambda i: isinstance(i, Idle))
    for volume in range(1, 6):  # five ticks 5 s ahead of our clock
        ticker.send(kite_tick(at(10, 0, 5), 100, volume))
    got = pull(items, lambda i: isinstance(i, FeedHold))
    assert isinstance(got[-1], FeedHold) and got[-1].held
    assert "clock offset +5000 ms" in got[-1].reason


@pytest.mark.parametrize(("yaml_text", "field"), [
    ("live:\n  clock:\n    max_offset_ms: 0\n", r"live.clock.max_offset_ms"),
    ("live:\n  clock:\n    max_offset: 5\n", r"live.clock.max_offset"),
    ("live:\n  snapshots:\n    every_events: 10\n", r"live.snapshots.every_events"),
    ("live:\n  snapshots:\n    keep: 0\n", r"live.snapshots.keep"),
    ("live:\n  snapshots:\n    writer: fork\n", r"live.snapshots.writer"),
])
def test_load_settings_bad_clock_or_snapshot_key_is_refused_naming_it(
        tmp_path: Path, yaml_text: str, field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        load_settings(_project(tmp_path, yaml_text))
