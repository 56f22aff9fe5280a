"""Regime labels of sessions: the labels file reader both the feature store and the report use.

One job: read ``session, regime`` rows (a labels parquet, as the synthetic NSE generator
writes them) into a naive-session-date -> regime series, refusing bad rows with the file and
row named.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from strategies.errors import BadInputError

#: A session without a label.
UNLABELLED = "unlabelled"
#: Values the regime labeller writes (see ``pipelines.datasets.synthetic_nse``).
KNOWN_REGIMES = ("trend", "chop", "high_vol")


class ReportInputError(BadInputError, ValueError):
    """A regime labels file or walk-forward report the report cannot be built from."""


def _read_labels_frame(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: cannot read regime labels ({exc})") from exc
    missing = [c for c in ("session", "regime") if c not in frame.columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    return frame


def session_dates(ts: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Naive local session dates: tz-aware stamps keep their exchange-local wall date."""
    return (ts.tz_localize(None) if ts.tz is not None else ts).normalize()


def load_regime_labels(path: Path) -> pd.Series:
    """Per-session regime labels (naive session date -> regime) from a labels parquet file."""
    frame = _read_labels_frame(path)
    sessions = pd.to_datetime(frame["session"], errors="coerce")
    bad = sessions.isna().to_numpy().nonzero()[0]
    if len(bad):
        raise ReportInputError(
            f"{path}: row {bad[0]} has an unreadable session {frame['session'].iloc[bad[0]]!r}")
    dates = session_dates(pd.DatetimeIndex(sessions))
    duplicated = dates[dates.duplicated()]
    if len(duplicated):
        raise ReportInputError(f"{path}: session {duplicated[0].date()} is labelled twice")
    regimes = frame["regime"].to_numpy(dtype=object)
    unknown = [i for i, r in enumerate(regimes) if r not in KNOWN_REGIMES]
    if unknown:
        raise ReportInputError(f"{path}: row {unknown[0]} has regime "
                               f"{regimes[unknown[0]]!r}, expected one of {KNOWN_REGIMES}")
    labels = pd.Series([str(r) for r in regimes], index=dates.rename("session"), name="regime")
    return labels.sort_index()
