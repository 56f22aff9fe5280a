"""Settings of the live message bus (``live.bus.*``; README, Services over NATS JetStream)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from live.transport.subjects import BusLayout


class BusSettings(BaseModel):
    """In process (the embedded default: ``stratops live run``) or NATS JetStream between
    the ``stratops svc`` processes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["inprocess", "jetstream"] = Field(
        "inprocess", description="jetstream: required by `stratops svc`")
    url: str = Field("nats://127.0.0.1:4222", description="the NATS server")
    stream_prefix: str = Field("stratops", description="every subject and stream's prefix")
    publish_deadline_seconds: float = Field(
        30.0, gt=0, le=600, description="a publish retried (server away) this long, then fails")
    gap_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="a sequence gap on an ordered stream held this long, "
                                        "then alerted, still held (fail closed)")

    @field_validator("url")
    @classmethod
    def _nats_url(cls, url: str) -> str:
        if not url.startswith(("nats://", "tls://")):
            raise ValueError(f"{url!r}: a nats:// or tls:// URL")
        return url

    @field_validator("stream_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        BusLayout(prefix)  # raises naming the value
        return prefix
