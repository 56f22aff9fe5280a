"""A version's regime enable matrix: per regime of its classifier, whether the strategy may
open new positions there, and the out-of-sample statistics the decision rests on.

Learned in research (:mod:`pipelines.research.enable_matrix`), stored inside the version's
signal governance folder (``enable_matrix.json``, listed with its SHA-256 in the folder's
manifest, so the version's signed ``model_digest`` covers it) and read back **as data**.
:func:`matrix_from_json` refuses, naming the file and value: a matrix of another strategy,
a regime the classifier does not know, a regime of the classifier the matrix leaves out, a
cell that is not a boolean decision with finite statistics. Live, an entry in a regime
the matrix disables is held (exits flow).

Example (``enable_matrix.json``)::

    {"version": 1, "strategy": "ema_cross",
     "rule": {"min_trades": 10, "min_mean_net_return": 0.0, "max_p_value": 0.1},
     "regimes": {"trend": {"enabled": true, "trades": 41, "mean_net_return": 0.0012,
                           "t_stat": 2.3, "p_value": 0.013},
                 "chop": {"enabled": false, "trades": 55, "mean_net_return": -0.0004,
                          "t_stat": -1.1, "p_value": 0.86},
                 "high_vol": {"enabled": false, "trades": 3, ...}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from strategies.errors import BadInputError

MATRIX_FILE = "enable_matrix.json"
MATRIX_FORMAT = 1
CELL_KEYS = ("enabled", "trades", "mean_net_return", "t_stat", "p_value")


class EnableMatrixError(BadInputError, ValueError):
    """An enable matrix that cannot be used: unreadable, of another strategy, naming a
    regime the classifier does not know or leaving one out; names the file and value."""


@dataclass(frozen=True, slots=True)
class RegimeCell:
    """One regime's decision and the trade statistics it was taken on (per-trade net
    return; one-sided t-test of a positive mean)."""

    enabled: bool
    trades: int
    mean_net_return: float
    t_stat: float
    p_value: float


@dataclass(frozen=True, slots=True)
class EnableMatrix:
    """Per regime: may ``strategy`` open a position there."""

    strategy: str
    cells: Mapping[str, RegimeCell]
    rule: Mapping[str, float]

    def enabled(self, regime: str) -> bool:
        """Whether new entries may open in ``regime``; a regime the matrix does not hold is
        not enabled (fail closed)."""
        cell = self.cells.get(regime)
        return cell is not None and cell.enabled

    def enabled_regimes(self) -> tuple[str, ...]:
        return tuple(r for r, c in self.cells.items() if c.enabled)

    def to_json(self) -> dict[str, Any]:
        return {"version": MATRIX_FORMAT, "strategy": self.strategy, "rule": dict(self.rule),
                "regimes": {r: asdict(c) for r, c in sorted(self.cells.items())}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, indent=1, allow_nan=False)


def _cell(where: str, regime: str, raw: object) -> RegimeCell:
    if not isinstance(raw, dict) or sorted(raw) != sorted(CELL_KEYS):
        raise EnableMatrixError(f"{where}: regimes.{regime} must hold exactly {list(CELL_KEYS)}"
                                f", got {raw!r}")
    if not isinstance(raw["enabled"], bool):
        raise EnableMatrixError(f"{where}: regimes.{regime}.enabled = {raw['enabled']!r}, "
                                "expected true or false")
    trades = raw["trades"]
    if isinstance(trades, bool) or not isinstance(trades, int) or trades < 0:
        raise EnableMatrixError(f"{where}: regimes.{regime}.trades = {trades!r}, expected a "
                                "count")
    stats = {}
    for key in ("mean_net_return", "t_stat", "p_value"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value):
            raise EnableMatrixError(f"{where}: regimes.{regime}.{key} = {value!r}, expected "
                                    "a finite number")
        stats[key] = float(value)
    if not 0.0 <= stats["p_value"] <= 1.0:
        raise EnableMatrixError(f"{where}: regimes.{regime}.p_value = {stats['p_value']!r} "
                                "is outside [0, 1]")
    return RegimeCell(raw["enabled"], trades, stats["mean_net_return"], stats["t_stat"],
                      stats["p_value"])


def matrix_from_json(value: object, where: str, *, strategy: str | None,
                     classes: Sequence[str]) -> EnableMatrix:
    """The matrix in ``value`` (the parsed ``enable_matrix.json``), checked against the
    strategy it must belong to (None: any) and the classifier's ``classes``."""
    if not isinstance(value, dict) or value.get("version") != MATRIX_FORMAT:
        raise EnableMatrixError(f"{where}: not an enable matrix of format {MATRIX_FORMAT}")
    owner = value.get("strategy")
    if not isinstance(owner, str) or (strategy is not None and owner != strategy):
        raise EnableMatrixError(f"{where}: the matrix is of strategy {owner!r}, the version "
                                f"is of {strategy!r}")
    regimes, rule = value.get("regimes"), value.get("rule")
    if not isinstance(regimes, dict) or not isinstance(rule, dict):
        raise EnableMatrixError(f"{where}: no regimes or rule table")
    unknown = sorted(set(regimes) - set(classes))
    if unknown:
        raise EnableMatrixError(f"{where}: the matrix names regime(s) {unknown} the "
                                f"classifier does not know (it knows {list(classes)})")
    missing = [c for c in classes if c not in regimes]
    if missing:
        raise EnableMatrixError(f"{where}: the matrix has no decision for the classifier's "
                                f"regime(s) {missing}")
    cells = {str(r): _cell(where, str(r), raw) for r, raw in regimes.items()}
    try:
        parsed_rule = {str(k): float(v) for k, v in rule.items()}
    except (TypeError, ValueError) as exc:
        raise EnableMatrixError(f"{where}: rule {rule!r} is not numeric ({exc})") from exc
    return EnableMatrix(owner, cells, parsed_rule)


def matrix_from_text(text: str, where: str, *, strategy: str | None,
                     classes: Sequence[str]) -> EnableMatrix:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise EnableMatrixError(f"{where}: unreadable enable matrix ({exc})") from exc
    return matrix_from_json(value, where, strategy=strategy, classes=classes)
