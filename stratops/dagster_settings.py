"""Settings of the Dagster instance (README, Scale-out stores and deployment); the
``dagster.yaml`` they give is written by :mod:`stratops.dagster_instance`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DagsterInstanceSettings(BaseModel):
    """Where Dagster keeps runs, events and schedules, and how research partitions execute
    (README, Scale-out stores and deployment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: Literal["sqlite", "postgres"] = Field(
        "sqlite", description="sqlite: files under dagster_home; postgres: dagster-postgres")
    postgres_url_env: str = Field(
        "STRATOPS_DAGSTER_PG_URL", pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
        description="the environment variable holding postgresql://user:pass@host:port/db")
    executor: Literal["in_process", "multiprocess"] = Field(
        "in_process", description="research partitions: one after another in this process, "
                                  "or fanned out - max_concurrent partitions at once, each "
                                  "a run of Dagster's multiprocess executor")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="multiprocess: how step processes start - forked from a "
                                  "server that imported Dagster and the research code once "
                                  "(forkserver), or each a fresh interpreter (spawn)")
    max_concurrent: int = Field(2, ge=1, le=64,
                                description="multiprocess: partitions at once, and steps at "
                                            "once in each (default: 2 cores)")
