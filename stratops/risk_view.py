"""The risk report's inputs and rows for a journal's state: one assembly for ``stratops risk
report`` and the operator page (the numbers are :mod:`live.risk.risk_report`'s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from live.risk.limits import RiskLimits
    from live.risk.risk_report import Row
    from live.state import LiveState
    from stratops.settings import Settings


@dataclass(frozen=True)
class RiskInputs:
    """What the report needs besides the state: the reviewed limits, the research dataset's
    bars (return history) and its lot sizes; loaded once per process."""

    limits: RiskLimits
    frame: pd.DataFrame
    lot_sizes: dict[str, int]
    root: Path


@dataclass(frozen=True)
class RiskView:
    """The report's rows as of the journal's last bar date, and whether a limit is over."""

    as_of: date
    rows: list[Row]

    @property
    def exceeded(self) -> bool:
        return any(r.utilisation is not None and r.utilisation > 1.0 for r in self.rows)


def risk_inputs(settings: Settings) -> RiskInputs:
    """``risk.yaml`` and the first research dataset (bars and lot sizes)."""
    from live.risk.limits import load_risk_limits
    from pipelines.datasets.catalog import find_dataset
    from pipelines.datasets.schema import read_dataset

    limits = load_risk_limits(settings.path(settings.governance.risk_file))
    entry = find_dataset(settings.root, settings.research.datasets[0])
    lots = {k: v.lot_size for k, v in (entry.meta.instruments if entry.meta else {}).items()}
    return RiskInputs(limits, read_dataset(entry.path), lots, settings.root)


def risk_view(inputs: RiskInputs, state: LiveState) -> RiskView:
    """Every report row for ``state`` at its last journaled prices."""
    from live.risk.risk_report import risk_report

    today = max((b.ts_event.date() for b in state.last_bars.values()), default=date.today())
    return RiskView(today, risk_report(state, inputs.limits, inputs.frame, inputs.lot_sizes,
                                       inputs.root, today))
