"""Settings of the pre-open checks (``preopen.*``; README, Operating runbook) and of the
static egress IP probe (SEBI's algo framework)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreopenSettings(BaseModel):
    """What ``stratops preopen`` requires before the open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_free_disk_gb: float = Field(
        5.0, gt=0, description="free space required where the journal and stores live")
    egress_probe_host: str = Field(
        "api.kite.trade", min_length=1,
        description="the host whose route names our egress address (the broker's API host)")
    egress_probe_port: int = Field(443, ge=1, le=65_535)
    max_reconciliation_age_hours: float = Field(
        72.0, gt=0, le=24 * 14,
        description="the last clean reconciliation in the journal must be younger than this "
                    "(covers a weekend)")
