"""Features of one instrument and the Parquet feature store that keeps them.

A feature frame holds the bars with their session clock (so research never recomputes the
exchange calendar), a small standard indicator set (the regime and drift monitors of later
issues read the same columns) and the per-session regime label. It is stored as Parquet
keyed by the dataset's content hash, the symbol, the cutoff, the feature-set version and the
labels file's hash: the same key is read back instead of recomputed, and any change to the
data, the definitions or the labels gives a new key, never a stale hit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.research.regimes import UNLABELLED, load_regime_labels
from strategies import indicators as ind
from strategies.bars import Bars
from strategies.errors import BadInputError
from strategies.files import atomic_write
from strategies.names import path_under, validate_name, validate_symbol

#: Bump when a definition below changes meaning; it is part of every key and MLflow tag.
FEATURE_SET_VERSION = "1"

#: feature column -> (indicator, period); the definitions' digest is part of the key too.
DEFINITIONS: dict[str, tuple[str, int]] = {
    "atr_14": ("atr", 14),
    "ema_20": ("ema", 20),
    "ema_50": ("ema", 50),
    "chop_14": ("choppiness", 14),
    "adx_14": ("adx", 14),
}
CLOCK_COLUMNS = ("session", "bar_in_session", "entry_ok", "entry_ok_at_close", "cutoff_exit",
                 "session_last")
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
FOOTER_KEY = b"stratops_features"


class FeatureStoreError(BadInputError, ValueError):
    """A feature file that does not match its key, or labels that cannot be read."""


@dataclass(frozen=True, slots=True)
class FeatureKey:
    """What a feature frame is a function of; ``digest`` names its file."""

    dataset: str
    dataset_md5: str
    symbol: str
    cutoff: str
    labels_sha256: str

    @property
    def feature_set_version(self) -> str:
        return FEATURE_SET_VERSION

    def fields(self) -> dict[str, str]:
        return {"dataset": self.dataset, "dataset_md5": self.dataset_md5,
                "symbol": self.symbol, "cutoff": self.cutoff,
                "labels_sha256": self.labels_sha256,
                "feature_set_version": FEATURE_SET_VERSION,
                "definitions": definitions_digest()}

    @property
    def digest(self) -> str:
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def definitions_digest() -> str:
    text = json.dumps(DEFINITIONS, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def labels_digest(path: Path | None) -> str:
    """SHA-256 of the labels file ("none" without one): relabelling changes the key."""
    if path is None or not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_labels(path: Path | None) -> pd.Series | None:
    """Per-session regime labels (naive session date -> regime), or None without a file."""
    if path is None or not path.is_file():
        return None
    return load_regime_labels(path)


def _indicator(bars: Bars, kind: str, period: int) -> np.ndarray:
    if kind == "ema":
        return ind.ema(bars.close, period)
    func = {"atr": ind.atr, "choppiness": ind.choppiness, "adx": ind.adx}[kind]
    return func(bars.high, bars.low, bars.close, period)


def feature_frame(bars: Bars, labels: pd.Series | None) -> pd.DataFrame:
    """The bars, their session clock, the standard indicators and each bar's regime."""
    frame = pd.DataFrame({"ts": bars.ts, "symbol": bars.symbol})
    for name in (*PRICE_COLUMNS, *CLOCK_COLUMNS):
        frame[name] = getattr(bars, name)
    for name, (kind, period) in DEFINITIONS.items():
        frame[name] = _indicator(bars, kind, period)
    frame["log_return"] = np.r_[np.nan, np.diff(np.log(bars.close))]
    day = pd.DatetimeIndex(bars.ts).tz_localize(None).normalize()
    regime = labels.reindex(day).to_numpy() if labels is not None else np.full(len(bars), None)
    frame["regime"] = pd.Series(regime, dtype="object").fillna(UNLABELLED).to_numpy()
    return frame


def bars_from_features(frame: pd.DataFrame, *, flat_at_session_end: bool) -> Bars:
    """Rebuild :class:`Bars` from a stored feature frame (no calendar work)."""
    def column(name: str, dtype: type) -> np.ndarray:
        return np.array(frame[name].to_numpy(dtype=dtype), dtype=dtype, copy=True, order="C")

    return Bars(
        symbol=str(frame["symbol"].iloc[0]), ts=pd.DatetimeIndex(frame["ts"]),
        **{name: column(name, np.float64) for name in PRICE_COLUMNS},
        session=column("session", np.int64), bar_in_session=column("bar_in_session", np.int64),
        **{name: column(name, np.bool_) for name in CLOCK_COLUMNS[2:]},
        flat_at_session_end=flat_at_session_end,
    )


@dataclass(frozen=True, slots=True)
class StoredFeatures:
    """A feature frame with its key, where it lives, and whether it was read from the store."""

    key: FeatureKey
    path: Path
    frame: pd.DataFrame
    flat_at_session_end: bool
    cache_hit: bool

    def bars(self) -> Bars:
        return bars_from_features(self.frame, flat_at_session_end=self.flat_at_session_end)


class FeatureStore:
    """Parquet files under ``root``: ``<dataset>/<symbol>-<key digest>.parquet``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: FeatureKey) -> Path:
        """Where ``key``'s frame lives; the dataset name and symbol are validated and the
        path must stay under the store's root (:class:`strategies.names.InvalidNameError`)."""
        dataset = validate_name(key.dataset, field="dataset")
        symbol = validate_symbol(key.symbol)
        return path_under(self.root, dataset, f"{symbol}-{key.digest}.parquet")

    def get_or_build(self, key: FeatureKey, build: Callable[[], Bars],
                     labels: pd.Series | None) -> StoredFeatures:
        """Read the frame stored under ``key``, or build, store and return it."""
        path = self.path(key)
        if path.is_file():
            frame, flat = self.read(path, key)
            return StoredFeatures(key, path, frame, flat, cache_hit=True)
        bars = build()
        frame = feature_frame(bars, labels)
        self._write(path, key, frame, bars.flat_at_session_end)
        return StoredFeatures(key, path, frame, bars.flat_at_session_end, cache_hit=False)

    @staticmethod
    def _write(path: Path, key: FeatureKey, frame: pd.DataFrame, flat: bool) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        footer = {**key.fields(), "digest": key.digest, "flat_at_session_end": flat}
        meta = {**(table.schema.metadata or {}), FOOTER_KEY: json.dumps(footer).encode()}
        table = table.replace_schema_metadata(meta)
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))

    @staticmethod
    def read(path: Path, key: FeatureKey) -> tuple[pd.DataFrame, bool]:
        try:
            table = pq.read_table(path)
            footer = json.loads((table.schema.metadata or {})[FOOTER_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise FeatureStoreError(
                f"{path}: unreadable feature file ({exc}); delete it to rebuild") from exc
        if footer.get("digest") != key.digest:
            raise FeatureStoreError(
                f"{path}: footer key {footer.get('digest')!r} != expected {key.digest!r}; "
                "delete it to rebuild")
        return table.to_pandas(), bool(footer["flat_at_session_end"])
