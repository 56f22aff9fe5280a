"""Read a user's CSV or Parquet export into a table of raw values with source line numbers.

Only reading happens here (format sniffing, delimiter detection, header sanity); column
meaning and types are the normaliser's job. Every refusal names the file and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from strategies.errors import BadInputError

PARQUET_MAGIC = b"PAR1"
DELIMITERS = ",;\t|"
_SNIFF_BYTES = 64 * 1024


class SourceFileError(BadInputError, ValueError):
    """A source file that cannot be read as a table of bars."""


@dataclass(frozen=True, slots=True)
class RawTable:
    """Raw cells of a source file.

    ``frame`` keeps the file's own header names; ``lines`` holds each row's 1-based line in
    the file (CSV) or row number (Parquet), used in every error and validation report.
    """

    path: Path
    file_format: str
    frame: pd.DataFrame
    lines: pd.Series
    delimiter: str | None = None


def read_source(path: Path, *, max_bytes: int) -> RawTable:
    """Read ``path`` (CSV or Parquet, detected from its bytes), refusing what it cannot trust."""
    if not path.exists():
        raise SourceFileError(f"{path}: no such file")
    if not path.is_file():
        raise SourceFileError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise SourceFileError(f"{path}: file is empty (0 bytes)")
    if size > max_bytes:
        raise SourceFileError(
            f"{path}: file is {size / 2**30:.2f} GiB, above the import limit of "
            f"{max_bytes / 2**30:.2f} GiB (setting data.import_max_bytes / "
            "STRATOPS_DATA__IMPORT_MAX_BYTES); split it by month or raise the limit"
        )
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith(PARQUET_MAGIC):
        return _read_parquet(path)
    return _read_csv(path, head)


def _read_parquet(path: Path) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise SourceFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    if frame.empty:
        raise SourceFileError(f"{path}: Parquet file has no rows")
    named_index = any(name is not None for name in frame.index.names)
    # df.set_index("ts").to_parquet() stores ts as the index; keep it as a column
    frame = frame.reset_index(drop=not named_index, allow_duplicates=True)
    _check_duplicate_headers(path, [str(c) for c in frame.columns])
    return RawTable(path, "parquet", frame, pd.Series(range(1, len(frame) + 1)), None)


def _decode(path: Path, head: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceFileError(f"{path}: not a text file in UTF-8 or Windows-1252")


def _sniff_delimiter(path: Path, sample: str) -> str:
    first = sample.splitlines()[0] if sample.strip() else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        if counts[best] == 0:
            raise SourceFileError(
                f"{path}: line 1 {first[:80]!r} has no column delimiter; expected one of "
                "',' ';' tab '|' between columns such as date, open, high, low, close"
            ) from None
        return best


def _check_duplicate_headers(path: Path, names: list[str]) -> None:
    seen: dict[str, str] = {}
    dupes = []
    for name in names:
        key = re.sub(r"\s+", " ", name.strip().lower())
        if key in seen and key:
            dupes.append(name)
        seen[key] = name
    if dupes:
        raise SourceFileError(f"{path}: duplicate column header(s) {sorted(set(dupes))}")


def _read_csv(path: Path, head: bytes) -> RawTable:
    if b"\x00" in head:
        raise SourceFileError(f"{path}: binary file, neither CSV text nor Parquet")
    sample = _decode(path, head)
    if not sample.strip():
        raise SourceFileError(f"{path}: file is empty (only whitespace)")
    delimiter = _sniff_delimiter(path, sample)
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    if len(header) < 2:
        raise SourceFileError(
            f"{path}: line 1 splits into one column {header[0][:80]!r} with delimiter "
            f"{delimiter!r}; check the file's delimiter"
        )
    _check_duplicate_headers(path, header)
    encoding = "utf-8-sig" if _is_utf8(head) else "cp1252"
    try:
        frame = pd.read_csv(
            path, sep=delimiter, dtype=str, keep_default_na=False, encoding=encoding,
            skipinitialspace=True, skip_blank_lines=True, engine="c",
        )
    except pd.errors.ParserError as exc:
        raise SourceFileError(f"{path}: malformed CSV ({_tidy_parser_error(exc)})") from exc
    except pd.errors.EmptyDataError as exc:
        raise SourceFileError(f"{path}: file has no header or rows") from exc
    if frame.empty:
        raise SourceFileError(f"{path}: file has a header but no data rows")
    lines = _data_lines(path, encoding, len(frame))
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made surplus fields an index
        raise SourceFileError(
            f"{path}: malformed CSV (line {lines.iloc[0]} has "
            f"{len(header) + frame.index.nlevels} fields where the header has {len(header)}; "
            "check delimiter/quoting)"
        )
    return RawTable(path, "csv", frame, lines, delimiter)


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sample end, not a bad byte in a short file
        return exc.reason == "unexpected end of data" and len(head) == _SNIFF_BYTES
    return True


def _data_lines(path: Path, encoding: str, n_rows: int) -> pd.Series:
    """1-based file line of each data row, skipping blank lines as pandas does."""
    numbers: list[int] = []
    with path.open("r", encoding=encoding, newline="") as fh:
        reader, start = csv.reader(fh), 1
        for row in reader:  # a record with quoted newlines starts on its first line
            number, start = start, reader.line_num + 1
            if number == 1 or not row or all(not cell.strip() for cell in row):
                continue
            numbers.append(number)
    if len(numbers) != n_rows:  # csv and pandas disagree on which rows exist; fall back
        return pd.Series(range(2, n_rows + 2))
    return pd.Series(numbers)


def _tidy_parser_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1]
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if match:
        want, line, saw = match.groups()
        return f"line {line} has {saw} fields where the header has {want}; check delimiter/quoting"
    return text
