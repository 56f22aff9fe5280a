"""The normalised bar schema every stratops dataset is stored in, and its Parquet writer.

A dataset is one Parquet file with columns ``ts`` (tz-aware, venue time), ``symbol``,
``open``, ``high``, ``low``, ``close`` (float64) and ``volume`` (float64, null when the
source has none), sorted by (symbol, ts). Dataset-level facts (timeframe, venue, kind,
instruments) travel inside the file as JSON under the Parquet key ``stratops``, so a file
is self-describing and ``data list`` needs only its footer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from strategies.errors import BadInputError
from strategies.names import SYMBOL

SCHEMA_VERSION = 1
METADATA_KEY = b"stratops"
PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("ts", "symbol", *PRICE_COLUMNS, "volume")

#: Dataset kinds; each has its own expectation suite.
KIND_INTRADAY = "ohlcv_intraday"
KIND_DAILY = "ohlcv_daily"
KIND_CLOSE_ONLY = "close_only_daily"
KINDS = (KIND_INTRADAY, KIND_DAILY, KIND_CLOSE_ONLY)


class DatasetSchemaError(BadInputError, ValueError):
    """A frame or file does not follow the normalised bar schema."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Instrument:
    """Contract facts of one symbol: lot size (units per lot) and tick size (price step)."""

    lot_size: int = 1
    tick_size: float = 0.01


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetMeta:
    """Facts about a dataset that the rows alone cannot tell."""

    name: str
    kind: str
    timeframe: str
    venue: str
    source: str
    synthetic: bool = False
    has_volume: bool = True
    instruments: dict[str, Instrument] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DatasetSchemaError(f"dataset {self.name!r}: kind {self.kind!r} not in {KINDS}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetMeta:
        raw: dict[str, Any] = json.loads(text)
        instruments = {k: Instrument(**v) for k, v in raw.pop("instruments", {}).items()}
        return cls(instruments=instruments, **raw)


def _arrow_schema(tz: str) -> pa.Schema:
    return pa.schema(
        [
            pa.field("ts", pa.timestamp("ns", tz=tz), nullable=False),
            pa.field("symbol", pa.string(), nullable=False),
            *(pa.field(c, pa.float64(), nullable=False) for c in PRICE_COLUMNS),
            pa.field("volume", pa.float64(), nullable=True),
        ]
    )


def check_symbols(source: object, symbols: Iterable[object]) -> None:
    """Refuse (:class:`DatasetSchemaError`) a ``symbol`` column holding a value that is not a
    valid symbol (:data:`strategies.names.SYMBOL`): symbols name files and registry keys."""
    bad = sorted({repr(s) for s in symbols if not isinstance(s, str) or not SYMBOL.fullmatch(s)})
    if bad:
        raise DatasetSchemaError(
            f"{source}: column 'symbol' holds invalid symbol(s) {', '.join(bad[:5])}; a symbol "
            "is 1-32 characters of A-Z, a-z, 0-9, '.', '_' and '-' starting with a letter or "
            "digit")


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns, dtypes and (symbol, ts) order.

    Raises :class:`DatasetSchemaError` naming a missing column, a naive ``ts`` or an
    invalid symbol.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetSchemaError(f"missing column(s) {missing}; have {list(frame.columns)}")
    ts = frame["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise DatasetSchemaError(f"column 'ts' must be timezone-aware, got dtype {ts.dtype}")
    out = pd.DataFrame(
        {
            "ts": ts.dt.as_unit("ns"),
            "symbol": frame["symbol"].astype(str),
            **{c: frame[c].astype("float64") for c in PRICE_COLUMNS},
            "volume": frame["volume"].astype("float64"),
        }
    )
    check_symbols("dataset frame", out["symbol"].unique())
    return out.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


def write_dataset(frame: pd.DataFrame, path: Path, meta: DatasetMeta) -> Path:
    """Write ``frame`` (normalised schema) to ``path`` atomically, with ``meta`` in the footer.

    The file is written to a temporary sibling and renamed into place, so a crash never
    leaves a half-written dataset. Output bytes depend only on the rows and ``meta``
    (no write timestamps), which keeps DVC hashes reproducible.
    """
    frame = conform(frame)
    tz = str(frame["ts"].dt.tz)
    schema = _arrow_schema(tz).with_metadata({METADATA_KEY: meta.to_json().encode()})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    return atomic_write(
        path, lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=1_000_000)
    )


def atomic_write(path: Path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename it into
    place: readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp_name)
        os.chmod(tmp_name, 0o644)
        with open(tmp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_meta(path: Path) -> DatasetMeta:
    """Read a dataset's :class:`DatasetMeta` from its Parquet footer only."""
    try:
        md = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetSchemaError(f"{path}: not a readable Parquet file ({exc})") from exc
    if METADATA_KEY not in md:
        raise DatasetSchemaError(f"{path}: no stratops metadata in the Parquet footer")
    return DatasetMeta.from_json(md[METADATA_KEY])


def read_dataset(path: Path) -> pd.DataFrame:
    """Read a dataset file into a frame in the normalised schema; a file whose ``symbol``
    column holds an invalid symbol is refused (:class:`DatasetSchemaError`)."""
    frame = pd.read_parquet(path)
    if "symbol" in frame.columns:
        check_symbols(path, frame["symbol"].unique())
    return frame
