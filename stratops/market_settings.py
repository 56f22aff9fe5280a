"""Settings of the live market data (``live.market.*``; README, Live market data)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class MarketSettings(BaseModel):
    """Where live bars come from and how the Kite ticker feed behaves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feed: str = Field("replay:nse_futures_front_1m",
                      description="replay:<dataset> | kite | ticks:<YYYY-MM-DD> (the default "
                                  "of `stratops live run --feed`)")
    risk_history_dataset: str = Field(
        "nse_futures_cont_1m",
        description="with a live feed: the dataset whose daily closes the VaR and volatility "
                    "caps use (a replay uses its own dataset)")
    ticker_url: str = Field("wss://ws.kite.trade", description="Kite WebSocket ticker root")
    stale_after_seconds: float = Field(30.0, gt=0, description="no tick this long in session: "
                                                               "new entries held")
    bar_grace_seconds: float = Field(2.0, ge=0, lt=30,
                                     description="a minute closes this long after its end")
    catchup: bool = Field(True, description="warm the history from historical candles at start")
    catchup_sessions: int | None = Field(
        None, ge=1, description="sessions of candles fetched (default live.max_history_sessions)")
    catchup_settle_seconds: float = Field(3.0, ge=0, lt=30,
                                          description="wait into the edge minute before fetching")
    record_ticks: bool = Field(True, description="record full-mode ticks with depth")
    ticks_dir: Path = Field(Path("data/ticks"), description="the tick recordings' folder")
    record_flush_seconds: float = Field(30.0, gt=0, description="a part file at least this often")
    reconnect_max_tries: int = Field(300, ge=1, le=300, description="KiteTicker reconnects")
    reconnect_max_delay: int = Field(60, ge=5, description="KiteTicker's backoff ceiling (s)")
