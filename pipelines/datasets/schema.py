"""The normalised bar schema every stratops dataset is stored in, and its Parquet writer.

A dataset is one Parquet file with columns ``ts`` (tz-aware, venue time), ``symbol``,
``open``, ``high``, ``low``, ``close`` (float64) and ``volume`` (float64, null when the
source has none), sorted by (symbol, ts). Dataset-level facts (timeframe, venue, kind,
instruments) travel inside the file as JSON under the Parquet key ``stratops``, so a file
is self-describing and ``data list`` needs only its footer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from strategies.files import DatasetSchemaError, atomic_write, check_symbols, read_dataset

__all__ = ["COLUMNS", "KINDS", "DatasetMeta", "DatasetSchemaError", "Instrument",
           "atomic_write", "check_symbols", "conform", "read_dataset", "read_meta",
           "write_dataset"]
SCHEMA_VERSION = 1
METADATA_KEY = b"stratops"
PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("ts", "symbol", *PRICE_COLUMNS, "volume")

#: Dataset kinds; each has its own expectation suite.
KIND_INTRADAY = "ohlcv_intraday"
KIND_DAILY = "ohlcv_daily"
KIND_CLOSE_ONLY = "close_only_daily"
KINDS = (KIND_INTRADAY, KIND_DAILY, KIND_CLOSE_ONLY)


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


def read_meta(path: Path) -> DatasetMeta:
    """Read a dataset's :class:`DatasetMeta` from its Parquet footer only."""
    try:
        md = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetSchemaError(f"{path}: not a readable Parquet file ({exc})") from exc
    if METADATA_KEY not in md:
        raise DatasetSchemaError(f"{path}: no stratops metadata in the Parquet footer")
    return DatasetMeta.from_json(md[METADATA_KEY])
