"""Choosing the feed: ``--feed kite | replay:<dataset> | ticks:<day>`` and the
``live.market`` settings that build the Kite feed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from live.contracts import ContractBook
from live.market.kite_feed import KiteFeed
from pipelines.datasets.instrument_master import build_master
from strategies.contracts import RollRule
from stratops.errors import LiveSetupError
from stratops.market_ops import feed_credentials, kite_feed, parse_feed_spec, session_tokens
from stratops.settings import Settings
from tests.unit.test_market_kite_feed import FakeTicker

BOOK = ContractBook(build_master(date(2025, 1, 1), date(2025, 12, 31)), RollRule())
DAY = date(2025, 3, 3)


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


def test_the_feed_subscribes_the_masters_front_contracts_named_by_underlying(
        tmp_path: Path) -> None:
    tokens = session_tokens(BOOK, ["NIFTY", "BANKNIFTY"], DAY)
    fronts = {u: BOOK.front(u, DAY) for u in ("NIFTY", "BANKNIFTY")}
    assert tokens == {c.instrument_token: u for u, c in fronts.items()}
    assert all(c.expiry >= DAY for c in fronts.values())


def test_an_underlying_missing_from_the_master_is_refused() -> None:
    with pytest.raises(LiveSetupError, match="no contract to subscribe on 2025-03-03"):
        session_tokens(BOOK, ["NIFTY", "NOSUCH"], DAY)


def _secret(tmp_path: Path, **fields: str) -> Path:
    path = tmp_path / "session.json"
    path.write_text(json.dumps(fields))
    path.chmod(0o600)
    return path


def _no_kite_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KITE_API_KEY", "KITE_ACCESS_TOKEN", "KITE_API_SECRET",
                "KITE_ACCESS_TOKEN_ISSUED_AT"):
        monkeypatch.delenv(var, raising=False)


def test_feed_credentials_come_from_the_brokers_secret_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_kite_env(monkeypatch)
    path = _secret(tmp_path, api_key="k", access_token="t",
                   issued_at=datetime.now(UTC).isoformat())
    s = Settings(root=tmp_path, live={"kite": {"secret_file": str(path)}})  # type: ignore[arg-type]
    assert feed_credentials(s) == ("k", "t")


def test_a_stale_token_is_refused_before_the_feed_connects(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_kite_env(monkeypatch)
    issued = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    path = _secret(tmp_path, api_key="k", access_token="t", issued_at=issued)
    s = Settings(root=tmp_path, live={"kite": {"secret_file": str(path)}})  # type: ignore[arg-type]
    with pytest.raises(LiveSetupError, match=r"--feed kite refused: .*expired"):
        feed_credentials(s)


def test_missing_kite_credentials_are_named(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _no_kite_env(monkeypatch)
    monkeypatch.setenv("KITE_ACCESS_TOKEN", "t")
    with pytest.raises(LiveSetupError, match="no Kite api key: set KITE_API_KEY"):
        feed_credentials(settings(tmp_path))


def test_the_kite_feed_follows_the_market_settings(tmp_path: Path) -> None:
    feed = kite_feed(settings(tmp_path, stale_after_seconds=12, record_ticks=True,
                              catchup=False, ticks_dir="rec"), ["NIFTY"], "NSE",
                     ticker=FakeTicker(), contracts=BOOK, day=DAY)
    assert isinstance(feed, KiteFeed)
    assert feed.symbols == {BOOK.front("NIFTY", DAY).instrument_token: "NIFTY"}
    assert feed.config.stale_after_seconds == 12 and feed.history is None
    assert feed.recorder is not None and feed.recorder.folder == tmp_path / "rec"


def test_the_catchup_uses_the_history_client_given(tmp_path: Path) -> None:
    client = object()  # the Kite broker's rate-limited client
    feed = kite_feed(settings(tmp_path, record_ticks=False), ["NIFTY"], "NSE",
                     ticker=FakeTicker(), history=client, contracts=BOOK, day=DAY)
    assert feed.history is client


def test_recording_can_be_turned_off(tmp_path: Path) -> None:
    feed = kite_feed(settings(tmp_path, record_ticks=False, catchup=False), ["NIFTY"], "NSE",
                     ticker=FakeTicker(), contracts=BOOK, day=DAY)
    assert feed.recorder is None


def test_the_hand_set_token_keys_are_gone(tmp_path: Path) -> None:
    for key in ("instrument_tokens", "rest_url"):
        with pytest.raises(ValueError, match=key):
            settings(tmp_path, **{key: {}})


class _KiteBrokerDouble:
    def __init__(self) -> None:
        self.client = object()
        self.updates: list[object] = []

    def on_order_update(self, payload: object) -> None:
        self.updates.append(payload)


def test_with_the_kite_broker_the_feed_uses_its_client_and_forwards_order_updates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import live.market.kite_ticker as kite_ticker
    from stratops.live_ops import _market_feed

    _no_kite_env(monkeypatch)
    monkeypatch.setenv("KITE_API_KEY", "k")
    monkeypatch.setenv("KITE_ACCESS_TOKEN", "t")
    monkeypatch.setenv("KITE_ACCESS_TOKEN_ISSUED_AT", datetime.now(UTC).isoformat())
    ticker = FakeTicker()
    monkeypatch.setattr(kite_ticker, "real_ticker", lambda *a, **k: ticker)
    broker = _KiteBrokerDouble()
    today = BOOK.session_of(datetime(2025, 3, 3, 4, tzinfo=UTC))
    monkeypatch.setattr("stratops.market_ops.utc_now", lambda: datetime(2025, 3, 3, 4, tzinfo=UTC))
    feed = _market_feed(settings(tmp_path, record_ticks=False), "kite", "", ["NIFTY"],
                        [SimpleNamespace(venue="NSE")], broker, BOOK)
    assert feed.history is broker.client and feed.ticker is ticker
    assert feed.symbols == {BOOK.front("NIFTY", today).instrument_token: "NIFTY"}
    assert feed._order_update is not None
    feed._order_update({"order_id": "1"})
    assert broker.updates == [{"order_id": "1"}]
