"""Run the live service as a real process, stopped by a real signal: ``trading`` replays
2025-03-03 at 60x real time on simulated session time (one bar a second; prints ``trading``
at the 5th bar), ``sleeping`` runs on the wall clock and sleeps to the next NSE session
(prints the log line ``sleeping until``). The stores live in the folder given; at exit it
prints the service's result as JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from live.service.clock import ServiceClock, SimulatedClock, StopSignal
from live.service.pager import LogPager
from live.service.service import LiveService, ServeConfig
from stratops.serve_ops import WallClock, install_stop_handlers
from tests.serve_days import ReplayDays


def main(kind: str, folder: Path) -> int:
    stop = StopSignal()

    def log(line: str) -> None:
        print(line, flush=True)

    install_stop_handlers(stop, log)
    clock: ServiceClock
    if kind == "trading":
        clock = SimulatedClock(datetime(2025, 3, 3, 9, 14, tzinfo=ZoneInfo("Asia/Kolkata")))
        days = ReplayDays(folder, clock, speed=60.0,
                          on_bar=lambda i: log("trading") if i == 5 else None)
    else:
        clock = WallClock(stop)
        days = ReplayDays(folder, clock)
    service = LiveService(factory=days, clock=clock, stop=stop, pager=LogPager(log),
                          config=ServeConfig(report_dir=folder / "days"), log=log)
    result = service.serve()
    log(json.dumps({"stopped": result.stop_reason,
                    "days": [d.status for d in result.days]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
