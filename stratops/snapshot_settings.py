"""Settings of the live state snapshots (``live.snapshots.*``; README, State snapshots)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SnapshotSettings(BaseModel):
    """How often the runner snapshots its folded state beside the journal, and how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_events: int = Field(20_000, ge=1_000, le=10_000_000,
                              description="journal entries between snapshots (and one at "
                                          "each session's end)")
    keep: int = Field(3, ge=1, le=100, description="snapshots kept (newest)")
    writer: Literal["process", "thread", "inline"] = Field(
        "process", description="who writes the periodic snapshots: a child process (the "
                               "loop hands it the journal position only), a thread of the "
                               "runner's process, or the loop itself")
