"""Choosing the feed: ``--feed kite | replay:<dataset> | ticks:<day>`` and the
``live.market`` settings that build the Kite feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.market.kite_feed import KiteFeed
from stratops.errors import LiveSetupError
from stratops.market_ops import instrument_tokens, kite_credentials, kite_feed, parse_feed_spec
from stratops.settings import Settings
from tests.unit.test_market_kite_feed import FakeTicker


def settings(tmp_path: Path, **market: object) -> Settings:
    return Settings(root=tmp_path, live={"market": market})  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "parsed"), [
    ("kite", ("kite", "")), ("replay:nse_index_1m", ("replay", "nse_index_1m")),
    ("ticks:2025-03-04", ("ticks", "2025-03-04"))])
def test_feed_specs_name_their_source(spec: str, parsed: tuple[str, str]) -> None:
    assert parse_feed_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["kite:x", "ticks:2025-13-01", "ticks:today", "live"])
def test_a_bad_feed_spec_is_refused_naming_the_forms(spec: str) -> None:
    with pytest.raises((LiveSetupError, ValueError), match=spec.split(":")[0]):
        parse_feed_spec(spec)


def test_a_traded_symbol_without_an_instrument_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match=r"no Kite instrument token for \['BANKNIFTY'\]"):
        instrument_tokens(settings(tmp_path, instrument_tokens={"NIFTY": 1}),
                          ["NIFTY", "BANKNIFTY"])


def test_two_symbols_on_one_token_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match="two symbols to one token"):
        instrument_tokens(settings(tmp_path, instrument_tokens={"NIFTY": 1, "BANKNIFTY": 1}),
                          ["NIFTY", "BANKNIFTY"])


def test_missing_kite_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITE_API_KEY", raising=False)
    monkeypatch.setenv("KITE_ACCESS_TOKEN", "t")
    with pytest.raises(LiveSetupError, match="KITE_API_KEY not set"):
        kite_credentials()


def test_the_kite_feed_follows_the_market_settings(tmp_path: Path) -> None:
    feed = kite_feed(settings(tmp_path, instrument_tokens={"NIFTY": 256265},
                              stale_after_seconds=12, record_ticks=True, catchup=False,
                              ticks_dir="rec"), ["NIFTY"], "NSE", ticker=FakeTicker())
    assert isinstance(feed, KiteFeed) and feed.symbols == {256265: "NIFTY"}
    assert feed.config.stale_after_seconds == 12 and feed.history is None
    assert feed.recorder is not None and feed.recorder.folder == tmp_path / "rec"


def test_recording_can_be_turned_off(tmp_path: Path) -> None:
    feed = kite_feed(settings(tmp_path, instrument_tokens={"NIFTY": 1}, record_ticks=False),
                     ["NIFTY"], "NSE", ticker=FakeTicker())
    assert feed.recorder is None
