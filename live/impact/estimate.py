"""The pre-trade impact estimate: square-root law total cost, Almgren-Chriss split.

``total_bps = y * sigma_bps * (qty / minute_volume) ** exponent`` (:mod:`strategies.impact`);
the Almgren-Chriss (2000) split puts ``permanent_fraction`` of it in the permanent part (the
price level the order leaves behind) and the rest in the temporary part (paid, then reverting).
Pure: the numbers come in (:class:`ImpactParams` from :mod:`live.impact.calibration`, the
market's minute statistics from the feed's history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from strategies.errors import BadInputError
from strategies.impact import BPS, impact_cost_bps

# Literature values used until enough real prints exist (calibration_source: literature):
# Y: Almgren et al. 2005 report 0.3-1 for US equities, Toth et al. 2011 Y ~ 0.5-1 across
# markets; 1.0 is the conservative end. Exponent 1/2: the square-root law (Toth et al. 2011;
# Almgren et al. 2005 fit 0.6). Permanent share 1/3: inside the 1/4..1/2 of the total that
# Almgren et al. 2005 and Bouchaud et al. ("Trades, quotes and prices", 2018, ch. 12) find.
LITERATURE_Y = 1.0
LITERATURE_EXPONENT = 0.5
LITERATURE_PERMANENT_FRACTION = 1.0 / 3.0
LITERATURE_NOTE = ("literature values (Y=1.0, exponent=0.5, permanent 1/3 of total; Almgren "
                   "et al. 2005, Toth et al. 2011): too few real prints to calibrate")


class ImpactInputError(BadInputError, ValueError):
    """An impact parameter or estimate input outside its domain."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImpactParams:
    """Impact law parameters and where they came from (``calibration_source``:
    ``literature`` or ``prints``; ``note`` says why, shown to the operator)."""

    y: float = LITERATURE_Y
    exponent: float = LITERATURE_EXPONENT
    permanent_fraction: float = LITERATURE_PERMANENT_FRACTION
    calibration_source: str = "literature"
    note: str = LITERATURE_NOTE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.y) and self.y > 0):
            raise ImpactInputError(f"y {self.y!r}: must be a finite number > 0")
        if not 0.0 < self.exponent <= 1.5:
            raise ImpactInputError(f"exponent {self.exponent!r}: must be in (0, 1.5]")
        if not 0.0 <= self.permanent_fraction <= 1.0:
            raise ImpactInputError(
                f"permanent_fraction {self.permanent_fraction!r}: must be in [0, 1]")
        if self.calibration_source not in ("literature", "prints"):
            raise ImpactInputError(f"calibration_source {self.calibration_source!r}: "
                                   "must be 'literature' or 'prints'")


@dataclass(frozen=True, kw_only=True, slots=True)
class ImpactEstimate:
    """Expected cost of one order in bps of its price and in rupees (``inr``)."""

    temporary_bps: float
    permanent_bps: float
    total_bps: float
    inr: float
    participation: float

    def describe(self, params: ImpactParams) -> str:
        """One line for the journal and the operator."""
        return (f"impact {self.total_bps:.2f} bps ({self.inr:,.0f} INR; temporary "
                f"{self.temporary_bps:.2f}, permanent {self.permanent_bps:.2f}; participation "
                f"{self.participation:.3g}; calibration_source: {params.calibration_source})")


def estimate_impact(qty: int, price: float, sigma_per_minute_bps: float,
                    adv_minute_volume: float, params: ImpactParams) -> ImpactEstimate:
    """The impact estimate of executing ``qty`` at ``price`` in one go, given the minute
    volatility (bps, Parkinson) and the average minute volume (units)."""
    for name, value in (("price", price), ("adv_minute_volume", adv_minute_volume)):
        if not (math.isfinite(value) and value > 0):
            raise ImpactInputError(f"{name} {value!r}: must be a finite number > 0")
    if not (math.isfinite(sigma_per_minute_bps) and sigma_per_minute_bps >= 0):
        raise ImpactInputError(f"sigma_per_minute_bps {sigma_per_minute_bps!r}: must be >= 0")
    if qty < 0:
        raise ImpactInputError(f"qty {qty!r}: must be >= 0")
    participation = qty / adv_minute_volume
    total = impact_cost_bps(params.y, params.exponent, sigma_per_minute_bps, participation)
    permanent = total * params.permanent_fraction
    return ImpactEstimate(temporary_bps=total - permanent, permanent_bps=permanent,
                          total_bps=total, inr=total / BPS * price * qty,
                          participation=participation)
