"""The ``strategy_version`` asset's value: the registered (or reused) version of one study.

Typed, frozen, and stored as data (:mod:`pipelines.research.serde` writes :meth:`to_dict`,
reads :meth:`from_dict`); ``stratops research``/``run`` print and return it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from strategies.lineage import Lineage


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedVersion:
    """A study's registered strategy version: where it is, its lineage, gate verdict and
    summary metrics, and the report it was registered with."""

    strategy: str
    dataset: str
    symbol: str
    version: int
    model_uri: str
    run_id: str
    reused: bool
    passed: bool
    lineage: Lineage
    metrics: dict[str, float]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    report_html: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (the ``--json`` summary and the stored asset output)."""
        out = asdict(self)
        out["warnings"], out["notes"] = list(self.warnings), list(self.notes)
        return out

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> RecordedVersion:
        """The inverse of :meth:`to_dict`; unknown or missing keys raise ``TypeError``."""
        return cls(**{**value, "lineage": Lineage(**value["lineage"]),
                      "warnings": tuple(value.get("warnings", ())),
                      "notes": tuple(value.get("notes", ()))})
