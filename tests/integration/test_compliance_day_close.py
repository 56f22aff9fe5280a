"""The signed daily compliance report on the runtime path: the service's day close
writes ``compliance/compliance.json|html`` beside the TCA, signed by the runner's key."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from live.compliance.report import verify_report
from live.service.clock import SimulatedClock, StopSignal
from live.service.service import LiveService, ServeConfig
from stratops.compliance_ops import day_close_report
from stratops.governance_ops import directory
from tests.serve_days import ReplayDays
from tests.unit.test_chain_verify_cli import Project, project, serviced

__all__ = ["project", "serviced"]  # fixtures used here


def test_service_day_close_writes_a_signed_compliance_report(serviced: Project) -> None:
    clock = SimulatedClock(datetime(2025, 3, 3, 8, tzinfo=ZoneInfo("Asia/Kolkata")))
    lines: list[str] = []
    config = ServeConfig(report_dir=serviced.root / "days", max_sessions=1,
                         page_every=timedelta(minutes=5), wake=timedelta(seconds=30),
                         flatten_wait=timedelta(0))
    LiveService(factory=ReplayDays(serviced.root / "serve", clock, bars=40), clock=clock,
                stop=StopSignal(), pager=_NoPager(), config=config, log=lines.append,
                compliance_sink=day_close_report(serviced.settings, "live", lines.append)
                ).serve()
    report = serviced.root / "days" / "2025-03-03" / "compliance" / "compliance.json"
    body = verify_report(report, directory(serviced.settings))
    assert body["day"] == "2025-03-03" and body["orders"]["fills"] > 0
    assert any("compliance report 2025-03-03:" in line for line in lines)


class _NoPager:
    def page(self, severity: object, code: str, message: str) -> None:
        pass
