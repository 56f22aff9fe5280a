"""Specification of reading a user's CSV or Parquet export into raw cells with line numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from pipelines.datasets.source_file import _SNIFF_BYTES, SourceFileError, read_source

LIMIT_BYTES = 2**30


def _write(tmp_path: Path, text: str, name: str = "bars.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _read(path: Path):
    return read_source(path, max_bytes=LIMIT_BYTES)


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"]
)
def test_read_source_delimiter_detected_and_recorded(tmp_path: Path, delimiter: str) -> None:
    text = f"ts{delimiter}close\n2024-01-01{delimiter}100.5\n2024-01-02{delimiter}101\n"
    raw = _read(_write(tmp_path, text))
    assert raw.delimiter == delimiter
    assert list(raw.frame.columns) == ["ts", "close"]
    assert raw.frame.to_numpy().tolist() == [["2024-01-01", "100.5"], ["2024-01-02", "101"]]


def test_read_source_csv_cells_kept_as_text(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "ts,close,volume\n2024-01-01,00100.50,NA\n"))
    assert raw.file_format == "csv"
    assert raw.frame.iloc[0].tolist() == ["2024-01-01", "00100.50", "NA"]


def test_read_source_header_names_kept_verbatim(tmp_path: Path) -> None:
    text = "Date ,Open ,Turnover (₹ Cr)\n01-JAN-2024,21727.75,13935.11\n"
    raw = _read(_write(tmp_path, text))
    assert list(raw.frame.columns) == ["Date ", "Open ", "Turnover (₹ Cr)"]


def test_read_source_data_lines_start_at_two(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "ts,close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"))
    assert raw.lines.tolist() == [2, 3, 4]


def test_read_source_blank_lines_skipped_with_line_numbers_kept(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "ts,close\n2024-01-01,1\n\n   \n2024-01-02,2\n"))
    assert raw.frame["ts"].tolist() == ["2024-01-01", "2024-01-02"]
    assert raw.lines.tolist() == [2, 5]


def test_read_source_crlf_line_endings_give_same_rows(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "ts,close\r\n2024-01-01,1\r\n\r\n2024-01-02,2\r\n"))
    assert raw.frame["close"].tolist() == ["1", "2"]
    assert raw.lines.tolist() == [2, 4]


def test_read_source_quoted_newline_line_numbers_follow_file_lines(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, 'ts,note\n2024-01-01,"split\nnote"\n2024-01-02,plain\n'))
    assert raw.frame["note"].tolist() == ["split\nnote", "plain"]
    assert raw.lines.tolist() == [2, 4]


def test_read_source_utf8_bom_stripped_from_first_header(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "\ufeffts,close\n2024-01-01,1\n"))
    assert list(raw.frame.columns) == ["ts", "close"]


def test_read_source_windows_1252_file_decoded(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close,note\n2024-01-01,1,Café\n", encoding="cp1252")
    raw = _read(path)
    assert raw.frame["note"].tolist() == ["Café"]


def test_read_source_utf8_character_cut_by_sniff_sample_read_as_utf8(tmp_path: Path) -> None:
    header = b"ts,close,note\n"
    row = b"2024-01-01,1,x\n"
    body = header + row * ((_SNIFF_BYTES - len(header)) // len(row) - 1)
    filler = _SNIFF_BYTES - 1 - len(body) - len(b"2024-01-02,2,")
    body += b"2024-01-02,2," + b"y" * filler + "₹".encode() + b"\n"
    assert body.index("₹".encode()) == _SNIFF_BYTES - 1
    path = tmp_path / "big.csv"
    path.write_bytes(body)
    raw = _read(path)
    assert raw.frame["note"].iloc[-1] == "y" * filler + "₹"


def test_read_source_missing_file_refused_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: no such file")):
        _read(path)


def test_read_source_directory_refused_naming_path(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match=re.escape(f"{tmp_path}: not a regular file")):
        _read(tmp_path)


def test_read_source_zero_byte_file_refused_naming_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: file is empty (0 bytes)")):
        _read(path)


def test_read_source_whitespace_only_file_refused_naming_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "  \n\n\t\n")
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: file is empty")):
        _read(path)


def test_read_source_header_without_rows_refused_naming_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,open,high,low,close\n")
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: file has a header but no data")):
        _read(path)


def test_read_source_file_above_limit_refused_naming_size_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(2 * 2**30)  # sparse: no disk blocks are written
    with pytest.raises(SourceFileError, match=r"huge\.csv: file is 2\.00 GiB.*limit of 1\.00 GiB"):
        read_source(path, max_bytes=2**30)


def test_read_source_file_at_limit_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close\n2024-01-01,1\n")
    raw = read_source(path, max_bytes=path.stat().st_size)
    assert len(raw.frame) == 1


def test_read_source_duplicate_headers_refused_naming_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,Close,close \n2024-01-01,1,2\n")
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: duplicate column header(s)")):
        _read(path)


def test_read_source_duplicate_headers_message_lists_the_duplicate(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close,open,close\n2024-01-01,1,2,3\n")
    with pytest.raises(SourceFileError, match=r"duplicate column header\(s\) \['close'\]"):
        _read(path)


def test_read_source_row_longer_than_header_refused_naming_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close\n2024-01-01,1\n2024-01-02,2,99\n")
    with pytest.raises(SourceFileError, match=r"line 3 has 3 fields where the header has 2"):
        _read(path)


def test_read_source_first_row_longer_than_header_refused_naming_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close\n2024-01-01,1,99\n2024-01-02,2\n")
    with pytest.raises(SourceFileError, match=r"line 2 has 3 fields where the header has 2"):
        _read(path)


def test_read_source_trailing_delimiter_on_data_rows_refused_naming_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "ts,close\n\n2024-01-01,1,\n2024-01-02,2,\n")
    with pytest.raises(SourceFileError, match=r"bars\.csv: malformed CSV \(line 3 has 3 fields"):
        _read(path)


def test_read_source_short_row_padded_with_empty_cells(tmp_path: Path) -> None:
    raw = _read(_write(tmp_path, "ts,open,close\n2024-01-01,1,2\n2024-01-02\n"))
    assert raw.frame.iloc[1].tolist() == ["2024-01-02", "", ""]
    assert raw.lines.tolist() == [2, 3]


def test_read_source_single_column_refused_naming_first_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "closeprices\n100\n101\n")
    with pytest.raises(SourceFileError, match=r"line 1 'closeprices' has no column delimiter"):
        _read(path)


def test_read_source_binary_file_refused_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: binary file")):
        _read(path)


def test_read_source_parquet_detected_from_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bars.dat"  # the suffix does not matter, the bytes do
    pd.DataFrame({"ts": ["2024-01-01", "2024-01-02"], "close": [1.5, 2.5]}).to_parquet(path)
    raw = _read(path)
    assert raw.file_format == "parquet"
    assert raw.delimiter is None
    assert raw.frame["close"].tolist() == [1.5, 2.5]


def test_read_source_parquet_lines_are_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pd.DataFrame({"ts": ["a", "b", "c"], "close": [1.0, 2.0, 3.0]}).to_parquet(path)
    assert _read(path).lines.tolist() == [1, 2, 3]


def test_read_source_parquet_unnamed_index_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pd.DataFrame({"close": [1.0, 2.0]}, index=[10, 20]).to_parquet(path)
    raw = _read(path)
    assert list(raw.frame.columns) == ["close"]
    assert raw.frame.index.tolist() == [0, 1]


def test_read_source_parquet_named_index_kept_as_column(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    ts = pd.date_range("2024-01-01 09:15", periods=2, freq="1min", tz="Asia/Kolkata", name="ts")
    pd.DataFrame({"close": [1.0, 2.0]}, index=ts).to_parquet(path)
    raw = _read(path)
    assert list(raw.frame.columns) == ["ts", "close"]
    assert raw.frame["ts"].tolist() == ts.tolist()


def test_read_source_parquet_index_clashing_with_column_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    frame = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.Index([3.0, 4.0], name="close"))
    frame.to_parquet(path)
    with pytest.raises(SourceFileError, match=r"duplicate column header\(s\) \[.close.\]"):
        _read(path)


def test_read_source_parquet_typed_columns_kept(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    ts = pd.date_range("2024-01-01 09:15", periods=2, freq="1min", tz="Asia/Kolkata")
    pd.DataFrame({"ts": ts, "close": [1.0, 2.0]}).to_parquet(path)
    raw = _read(path)
    assert isinstance(raw.frame["ts"].dtype, pd.DatetimeTZDtype)


def test_read_source_empty_parquet_refused_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"ts": pd.Series([], dtype=str), "close": pd.Series([], dtype=float)}).to_parquet(
        path
    )
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: Parquet file has no rows")):
        _read(path)


def test_read_source_corrupt_parquet_refused_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00garbage" * 8)
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: not a readable Parquet file")):
        _read(path)


def test_read_source_truncated_parquet_refused_naming_path(tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    pd.DataFrame({"close": [1.0, 2.0, 3.0]}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(SourceFileError, match=re.escape(f"{path}: not a readable Parquet file")):
        _read(path)
