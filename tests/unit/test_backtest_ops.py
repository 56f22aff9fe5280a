"""Backtest requests: the names that reach output paths are validated first."""

from __future__ import annotations

import pytest

from strategies.names import InvalidNameError
from stratops.backtest_ops import RunRequest, default_output


@pytest.mark.parametrize("change", [{"symbol": "../../../../../tmp/x"},
                                    {"dataset": "../nse"}, {"strategy": "ema/../../x"}])
def test_run_request_traversal_name_is_refused(change: dict[str, str]) -> None:
    with pytest.raises(InvalidNameError, match=r"\.\./"):
        RunRequest(**{"strategy": "ema_cross", "dataset": "nse_index_1m", **change})


def test_default_output_traversal_symbol_raises() -> None:
    request = RunRequest(strategy="ema_cross", dataset="nse_index_1m")
    with pytest.raises(InvalidNameError, match=r"'\.\./x'"):
        default_output(request, "../x", "trades")


def test_default_output_stays_under_data_backtests() -> None:
    request = RunRequest(strategy="ema_cross", dataset="nse_index_1m")
    path = default_output(request, "NIFTY", "trades")
    assert path.parent.parts[-2:] == ("data", "backtests")
    assert path.name == "ema_cross_nse_index_1m_NIFTY_trades.csv"
