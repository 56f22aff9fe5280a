"""``stratops live run`` setup (``prepare``): the instrument master it trades by, and the
versions it refuses against that master."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from live.runner.deployments import Refusal, build
from pipelines.datasets.instrument_master import build_master
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from stratops.errors import LiveSetupError
from stratops.live_ops import _contracts
from stratops.settings import Settings

FRAME = pd.DataFrame({"ts": [pd.Timestamp("2025-03-03 09:15", tz="Asia/Kolkata")],
                      "symbol": ["NIFTY"]})


def _version(strategy: str, lot_size: int, venue: str = "NSE") -> object:
    spec = get_strategy(strategy)
    config = VersionConfig.from_json({
        "strategy": strategy, "params": get_params(spec.default_params()), "venue": venue,
        "cutoff": "venue", "symbols": ["NIFTY"],
        "sim": {"qty_lots": 1, "lot_size": lot_size, "tick_size": 0.05}})
    return build(config, 1, "live", 1.0, "0" * 64)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(root=tmp_path)
    master = settings.path(settings.instruments.master_file)  # in the tmp project
    master.parent.mkdir(parents=True)
    master.write_text(build_master(date(2025, 1, 1), date(2025, 12, 31)).to_csv())
    return settings


def test_prepare_gives_the_runner_a_contract_book(settings: Settings) -> None:
    refused: list[Refusal] = []
    kept, book = _contracts(settings, "live", None, [_version("ema_cross", 75)], refused, FRAME)
    assert [d.strategy for d in kept] == ["ema_cross"] and refused == []
    assert book.front("NIFTY", date(2025, 3, 3)).tradingsymbol == "NIFTY25MARFUT"


def test_prepare_refuses_a_version_whose_lot_contradicts_the_master(settings: Settings
                                                                     ) -> None:
    refused: list[Refusal] = []
    kept, _ = _contracts(settings, "live", None,
                         [_version("ema_cross", 50), _version("atr_reversal", 75)], refused,
                         FRAME)
    assert [d.strategy for d in kept] == ["atr_reversal"]
    assert [r.strategy for r in refused] == ["ema_cross"]
    assert "lot size 50, the master says 75" in refused[0].reason


def test_prepare_with_every_version_refused_is_a_setup_error(settings: Settings) -> None:
    with pytest.raises(LiveSetupError, match="nothing to trade in live mode: ema_cross: "):
        _contracts(settings, "live", None, [_version("ema_cross", 50)], [], FRAME)


def test_prepare_refuses_a_missing_master(tmp_path: Path) -> None:
    with pytest.raises(LiveSetupError, match=r"instrument master .* is missing"):
        _contracts(Settings(root=tmp_path), "live", None, [_version("ema_cross", 75)], [],
                   FRAME)


def test_prepare_refuses_an_invalid_master(settings: Settings) -> None:
    path = settings.path(settings.instruments.master_file)
    path.write_text(path.read_text().replace(",75,", ",x,", 1))
    with pytest.raises(LiveSetupError, match=r"instrument master refused: .*lot_size='x'"):
        _contracts(settings, "live", None, [_version("ema_cross", 75)], [], FRAME)


def test_prepare_needs_no_master_for_a_venue_without_contracts(tmp_path: Path) -> None:
    version = _version("ema_cross", 1, venue="NYSE")
    kept, book = _contracts(Settings(root=tmp_path), "live", None, [version], [], FRAME)
    assert kept == [version] and book is None
