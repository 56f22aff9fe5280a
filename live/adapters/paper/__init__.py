"""The paper exchange: a persisted, deterministic simulated broker with fault injection."""

from live.adapters.paper.exchange import ExchangeEvent, PaperExchange
from live.adapters.paper.faults import BrokerUnavailableError, Faults, set_faults
from live.adapters.paper.fill_model import (
    Bar,
    FillModel,
    FillModelError,
    InvalidBarError,
    RealismParams,
)
from live.adapters.paper.store import PaperConfigError

__all__ = [
    "Bar",
    "BrokerUnavailableError",
    "ExchangeEvent",
    "Faults",
    "FillModel",
    "FillModelError",
    "InvalidBarError",
    "PaperConfigError",
    "PaperExchange",
    "RealismParams",
    "set_faults",
]
