"""Live inputs that reach file names and URLs: the feed's dataset and the journal's mode."""

from __future__ import annotations

import pytest

from live.runner.feed import FeedSpecError, parse_feed
from stratops.live_ops import LiveSetupError, journal_url
from stratops.settings import load_settings


@pytest.mark.parametrize("spec", ["replay:../../../tmp/x", "replay:NSE", "replay:a/b"])
def test_parse_feed_dataset_outside_names_is_refused(spec: str) -> None:
    with pytest.raises(FeedSpecError, match="replay:<dataset>"):
        parse_feed(spec)


def test_parse_feed_dataset_name_is_returned() -> None:
    assert parse_feed("replay:nse_index_1m") == "nse_index_1m"


def test_journal_url_unknown_mode_is_refused() -> None:
    with pytest.raises(LiveSetupError, match=r"--mode '\.\./\.\./x'"):
        journal_url(load_settings(), "../../x")
