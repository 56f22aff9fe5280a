"""The metrics a simulation reports, in kernel order (no numba import: settings read it)."""

from __future__ import annotations

METRIC_NAMES = ("total_return", "sharpe", "max_drawdown", "trades", "hit_ratio",
                "profit_factor", "cost_share", "net_pnl_inr", "gross_pnl_inr", "costs_inr",
                "days", "exposure")
