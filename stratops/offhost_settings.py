"""Settings of the off-host checkpoint copy (README, Scale-out stores and deployment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OffhostCheckpointSettings(BaseModel):
    """Where the signed checkpoint files are copied, off the runner's host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None, pattern=r"^(postgresql(\+psycopg2)?://\S+|sqlite:///\S+)$",
        description="postgresql://... of another machine (set it through "
                    "STRATOPS_OFFHOST_CHECKPOINTS__URL: it holds a password); None: no copy. "
                    "Once set, every checkpoint write also copies, and fails if it cannot")
