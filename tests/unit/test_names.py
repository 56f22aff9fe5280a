"""Names that reach paths: symbols, dataset and strategy names, and paths built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from strategies.names import (
    InvalidNameError,
    UnsafePathError,
    path_under,
    validate_name,
    validate_symbol,
)

TRAVERSAL = "../../../../../tmp/x"


@pytest.mark.parametrize("symbol", [TRAVERSAL, "a/b", "a\\b", "..", ".hidden", "NIFTY 50",
                                    "M&M", "X;rm -rf", "$(id)", "`id`", "a|b", "", "X" * 33,
                                    "NIFTY\n"])
def test_validate_symbol_path_or_shell_characters_are_refused(symbol: str) -> None:
    with pytest.raises(InvalidNameError, match="not a valid symbol"):
        validate_symbol(symbol)


@pytest.mark.parametrize("symbol", ["NIFTY", "BANKNIFTY", "BAJAJ-AUTO", "BRK.B", "EURUSD",
                                    "goog", "X" * 32])
def test_validate_symbol_exchange_symbols_are_accepted(symbol: str) -> None:
    assert validate_symbol(symbol) == symbol


def test_validate_symbol_error_names_field_and_value() -> None:
    with pytest.raises(InvalidNameError, match=r"--symbol '\.\./\.\./\.\./\.\./\.\./tmp/x'"):
        validate_symbol(TRAVERSAL, field="--symbol")


@pytest.mark.parametrize("name", ["../x", "EMA", "ema-cross", "1abc", "", "a" * 64])
def test_validate_name_outside_lowercase_identifiers_is_refused(name: str) -> None:
    with pytest.raises(InvalidNameError, match="strategy"):
        validate_name(name, field="strategy")


@pytest.mark.parametrize("part", ["..", ".", "a/../../b", "", "/etc"])
def test_path_under_non_plain_component_raises(tmp_path: Path, part: str) -> None:
    with pytest.raises(UnsafePathError):
        path_under(tmp_path / "root", "ok", part)


def test_path_under_symlink_leaving_root_raises(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="resolves outside"):
        path_under(root, "link", "x.parquet")


def test_path_under_plain_names_join_under_root(tmp_path: Path) -> None:
    assert path_under(tmp_path, "ema_cross", "NIFTY-1.parquet") == \
        tmp_path / "ema_cross" / "NIFTY-1.parquet"
