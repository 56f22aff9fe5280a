"""What the market sent, recorded: full-mode ticks with depth, as a versioned dataset.

Layout: ``<folder>/<YYYY-MM-DD>/part-NNNNN.parquet`` (the session day in exchange time of
arrival) and ``<folder>/<YYYY-MM-DD>/manifest.json`` listing each part with its SHA-256, row
count and arrival span, plus the schema version. A part is written atomically
(:func:`strategies.files.atomic_write`) and only then added to the manifest, itself
rewritten atomically: after a crash the manifest names only whole, verified files (a part
written but not yet listed is ignored, and never overwritten). The dataset's version is the
manifest's own SHA-256 (:func:`day_version`).

Every tick the socket delivered is kept, refused ones included (a NaN price, an unknown
token), with its arrival time (``recv_ns``), so execution models can be calibrated on real
prints and a session replays tick by tick (:mod:`~live.market.tick_replay`).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from live.market.ticks import DEPTH_LEVELS, Tick
from strategies.errors import BadInputError
from strategies.files import atomic_write

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
_SIDES = ("bid", "ask")
_LEVEL_FIELDS = ("price", "qty", "orders")
DEPTH_COLUMNS = tuple(f"{side}_{field}_{level}" for side in _SIDES
                      for level in range(1, DEPTH_LEVELS + 1) for field in _LEVEL_FIELDS)
COLUMNS = ("recv_ns", "token", "symbol", "ts_ns", "price", "last_qty", "volume", "oi",
           *DEPTH_COLUMNS)


class TickDataError(BadInputError, ValueError):
    """A recorded tick file that is missing, altered or not in the recorded schema."""


def _columns(rows: list[tuple[int, Tick]]) -> dict[str, list[Any]]:
    """Buffered (arrival ns, tick) rows as the recording's columns."""
    ticks = [t for _, t in rows]
    cols: dict[str, list[Any]] = {
        "recv_ns": [r for r, _ in rows], "token": [t.token for t in ticks],
        "symbol": [t.symbol for t in ticks],
        "ts_ns": [None if t.ts is None or t.ts.tzinfo is None
                  else int(t.ts.timestamp() * 1_000_000) * 1000 for t in ticks],
        "price": [t.price for t in ticks], "last_qty": [t.last_qty for t in ticks],
        "volume": [t.volume for t in ticks], "oi": [t.oi for t in ticks]}
    for side, books in (("bid", [t.bids for t in ticks]), ("ask", [t.asks for t in ticks])):
        for level in range(DEPTH_LEVELS):
            n = level + 1
            for k, name in enumerate(_LEVEL_FIELDS):
                cols[f"{side}_{name}_{n}"] = [b[level][k] if len(b) > level else None
                                              for b in books]
    return cols


class TickRecorder:
    """Buffers ticks and hands a part to its writer thread every ``flush_ticks`` ticks or
    ``flush_seconds`` of arrival time (and at :meth:`close`, which waits for the writes), so
    the feed's loop never waits on Parquet. A write that fails is kept in :attr:`error`
    (the feed alerts it); later parts are still attempted."""

    def __init__(self, folder: Path, *, tz: str = "Asia/Kolkata", flush_ticks: int = 100_000,
                 flush_seconds: float = 30.0) -> None:
        if flush_ticks <= 0 or flush_seconds <= 0:
            raise ValueError(f"flush_ticks={flush_ticks!r}, flush_seconds={flush_seconds!r}: "
                             "both must be > 0")
        self.folder, self.tz = folder, ZoneInfo(tz)
        self.flush_ticks, self.flush_ns = flush_ticks, int(flush_seconds * 1e9)
        self.written = 0
        self.error: str | None = None
        self._buffer: list[tuple[int, Tick]] = []
        self._parts: queue.Queue[tuple[str, list[tuple[int, Tick]]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._day: str | None = None
        self._day_end_ns = 0
        self._first_ns = 0

    def add(self, tick: Tick, recv_ns: int) -> None:
        """Record one tick as it arrived (``recv_ns``: wall-clock nanoseconds). The hot path
        only buffers; columns are built when a part is written."""
        if recv_ns >= self._day_end_ns:
            self._new_day(recv_ns)
        buffered = self._buffer
        if not buffered:
            self._first_ns = recv_ns
        buffered.append((recv_ns, tick))
        if len(buffered) >= self.flush_ticks or recv_ns - self._first_ns >= self.flush_ns:
            self.flush()

    def _new_day(self, recv_ns: int) -> None:
        self.flush()
        local = datetime.fromtimestamp(recv_ns / 1e9, self.tz)
        self._day = local.date().isoformat()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        self._day_end_ns = int((midnight + timedelta(days=1)).timestamp()) * 1_000_000_000

    def flush(self) -> None:
        """Hand the buffered ticks to the writer as the day's next part."""
        if not self._buffer or self._day is None:
            return
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_parts, daemon=True,
                                            name="tick-recorder")
            self._writer.start()
        self._parts.put((self._day, self._buffer))
        self._buffer = []

    def close(self) -> None:
        """Write what is buffered and wait for every part to be on disk."""
        self.flush()
        if self._writer is not None:
            self._parts.put(None)
            self._writer.join()
            self._writer = None

    def _write_parts(self) -> None:
        while (job := self._parts.get()) is not None:
            day, rows = job
            try:
                write_part(self.folder / day, day, rows)
                self.written += len(rows)
            except (OSError, pa.ArrowException, TickDataError) as exc:
                self.error = f"{len(rows)} ticks of {day} not recorded: {exc}"


def write_part(folder: Path, day: str, rows: list[tuple[int, Tick]]) -> Path:
    """Write ``rows`` as the day's next part (atomic), then list it in the manifest
    (atomic)."""
    manifest = read_manifest(folder) if (folder / MANIFEST).exists() else _new_manifest(day)
    number = 1 + max([_part_number(p) for p in folder.glob("part-*.parquet")], default=0)
    path = folder / f"part-{number:05d}.parquet"
    cols = _columns(rows)
    table = pa.table({c: pa.array(cols[c], type=_TYPES[c]) for c in COLUMNS})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    manifest["parts"].append({"file": path.name, "sha256": _sha256(path),
                              "rows": table.num_rows, "first_recv_ns": rows[0][0],
                              "last_recv_ns": rows[-1][0]})
    text = json.dumps(manifest, indent=1, sort_keys=True)
    atomic_write(folder / MANIFEST, lambda tmp: Path(tmp).write_text(text))
    return path


_TYPES: dict[str, pa.DataType] = {
    "recv_ns": pa.int64(), "token": pa.int64(), "symbol": pa.string(), "ts_ns": pa.int64(),
    "price": pa.float64(), "last_qty": pa.int64(), "volume": pa.int64(), "oi": pa.int64(),
    **{c: pa.float64() if "_price_" in c else pa.int64() for c in DEPTH_COLUMNS},
}


def _new_manifest(day: str) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "day": day, "columns": list(COLUMNS),
            "parts": []}


def _part_number(path: Path) -> int:
    try:
        return int(path.stem.split("-")[1])
    except (IndexError, ValueError):
        return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    """A day's manifest, its schema version checked."""
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise TickDataError(f"{path}: no tick recording for that day") from None
    except json.JSONDecodeError as exc:
        raise TickDataError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise TickDataError(f"{path}: schema_version {manifest.get('schema_version')!r}, "
                            f"this code reads {SCHEMA_VERSION}")
    return manifest


def day_version(folder: Path) -> str:
    """The version of a recorded day: the SHA-256 of its manifest."""
    return _sha256(folder / MANIFEST)


def read_ticks(folder: Path) -> Iterator[tuple[int, Tick]]:
    """A recorded day's ticks as (arrival ns, tick), in arrival order; each part's SHA-256
    is checked against the manifest first (an altered or missing part is refused)."""
    for part in read_manifest(folder)["parts"]:
        path = folder / str(part["file"])
        if not path.is_file():
            raise TickDataError(f"{path}: listed in the manifest but missing")
        if _sha256(path) != part["sha256"]:
            raise TickDataError(f"{path}: SHA-256 differs from the manifest's "
                                f"{part['sha256'][:16]}...: altered after it was recorded")
        yield from _rows(pq.read_table(path).to_pydict())


def _rows(cols: dict[str, list[Any]]) -> Iterator[tuple[int, Tick]]:
    utc = ZoneInfo("UTC")
    for i, recv_ns in enumerate(cols["recv_ns"]):
        ts_ns = cols["ts_ns"][i]
        ts = None if ts_ns is None else datetime.fromtimestamp(ts_ns / 1e9, utc)
        depth = tuple(tuple((cols[f"{side}_price_{n}"][i], cols[f"{side}_qty_{n}"][i],
                             cols[f"{side}_orders_{n}"][i])
                            for n in range(1, DEPTH_LEVELS + 1)
                            if cols[f"{side}_price_{n}"][i] is not None) for side in _SIDES)
        yield recv_ns, Tick(token=cols["token"][i], symbol=cols["symbol"][i], ts=ts,
                            price=cols["price"][i], last_qty=cols["last_qty"][i],
                            volume=cols["volume"][i], oi=cols["oi"][i], bids=depth[0],
                            asks=depth[1])
