"""Settings of the smart order router (``live.venues``, ``live.routing_rule``; README, Smart
order routing)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VenueSettings(BaseModel):
    """One venue: a broker and account, its per-order limits and its liquidity estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$",
                      description="prefixes the venue's order and trade ids")
    broker: Literal["paper", "kite"] = "paper"
    account: str = Field(min_length=1, description="the account this venue trades")
    depth_qty: int = Field(gt=0, description="liquidity estimate in units (displayed depth "
                                             "or average minute volume) the rule weighs")
    max_qty_per_order: int | None = Field(None, gt=0, description="units per child order")
    max_notional_inr: float | None = Field(None, gt=0, description="notional per child order")
    exchange_url: str = Field(
        "sqlite:///.stratops/paper_{name}_{mode}.db",
        description="a paper venue's book; {name} and {mode} are substituted")

    @model_validator(mode="after")
    def _kite_has_no_book(self) -> VenueSettings:
        if self.broker == "kite" and "exchange_url" in self.model_fields_set:
            raise ValueError(f"venue {self.name}: exchange_url is for paper venues (Kite's "
                             "book is Kite's)")
        return self


def check_venue_list(venues: tuple[VenueSettings, ...]) -> tuple[VenueSettings, ...]:
    """Refuse two venues of one name or more than one Kite venue (one Kite session)."""
    names = [v.name for v in venues]
    if len(set(names)) != len(names):
        raise ValueError(f"venue names must be unique, got {names}")
    if sum(v.broker == "kite" for v in venues) > 1:
        raise ValueError("at most one kite venue (one Kite session per runner)")
    return venues


RoutingRuleName = Literal["best_liquidity", "pro_rata"]
