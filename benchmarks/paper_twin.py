"""The paper twin's cost on live: the live runner's time per bar with the twin beside it
(``live.paper_twin``: a paper runner on its own thread, fed each bar live handled) against
the same live runner with the twin off, in the same run.

The live runner is the twin's kind (policy.yaml, risk.yaml, the pre-trade risk engine, a
SQLite journal ``synchronous=FULL`` and a paper exchange) trading ``ema_cross`` on NIFTY
1-minute bars of the research dataset. Per bar we time, with ``perf_counter_ns``, from the
moment the feed hands the bar to live until live asks for the next one - live's whole
handling of the bar, with the twin's thread competing for the GIL; the hand-over to the
twin (:func:`live.paper_twin.beside`: a queue put) comes after it. Two feeds:

- **flat out**: bars back to back, the twin trading at the same time (worst case: the two
  threads share the GIL all the time);
- **paced**: a gap of ``--gap-ms`` between bars (a live feed's bars come a minute apart),
  so the twin trades in the gaps.

Each of the four runs ``--reps`` times, twin off and on alternating (a shared machine's load
drifts); a run is summarised by its median, p99 and mean, and the runs of a kind by the
median of those.

The stores go on tmpfs (``/dev/shm``) by default: on a shared disk the fsync latency of
each journal append (``synchronous=FULL``) varies more from run to run than the twin's cost;
``--dir`` puts them elsewhere.

Run: ``.venv/bin/python benchmarks/paper_twin.py [--bars 250] [--gap-ms 20] [--reps 3]
[--dir PATH]`` (about a minute on tmpfs).
The last lines are ``name: value`` pairs, the headline ratio (paced median, on/off) last.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from live.paper_twin import beside
from live.runner.deployments import build
from live.runner.feed import FeedBar, FeedItem, replay_bars, replay_frame
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from stratops.live_ops import open_mode_journal
from stratops.settings import Settings
from stratops.twin_ops import TwinBeside, twin_runner

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "data/datasets/nse_index_1m.parquet"
DAY = date(2025, 3, 3)


def _deployed() -> list[Any]:
    spec = get_strategy("ema_cross")
    config = {"strategy": "ema_cross", "params": get_params(spec.default_params()),
              "venue": "NSE", "cutoff": "venue", "symbols": ["NIFTY"],
              "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}}
    return [build(VersionConfig.from_json(config), 1, "live", 1.0, "0" * 64)]


def _paced(bars: Iterable[FeedBar], gap_s: float) -> Iterator[FeedBar]:
    """The feed: each bar ``gap_s`` after live asked for it."""
    for bar in bars:
        if gap_s:
            time.sleep(gap_s)
        yield bar


def _timed(items: Iterable[FeedItem], took_ns: list[int]) -> Iterator[FeedItem]:
    """Live's time per bar: from the bar's arrival until live asks for the next one (the
    hand-over to the twin comes after: live has handled the bar by then)."""
    for bar in items:
        started = time.perf_counter_ns()
        yield bar
        took_ns.append(time.perf_counter_ns() - started)


def _run(folder: Path, bars: list[FeedBar], gap_s: float, twin_on: bool) -> list[int]:
    folder.mkdir(parents=True)
    for name in ("policy.yaml", "risk.yaml"):
        shutil.copy(ROOT / name, folder / name)
    book = Settings(root=folder, live={"paper_twin_exchange_url":
                                       "sqlite:///.stratops/live_exchange.db"})
    live = twin_runner(book, "live", _deployed(), open_mode_journal(book, "live"))
    live.recover()
    took: list[int] = []
    twin = TwinBeside(Settings(root=folder, live={"paper_twin": True}), "live", print)
    if twin_on:
        live.run(_timed(beside(_paced(bars, gap_s), twin.start(live), live), took))
        assert twin.current is not None and twin.current.failure is None, twin.current
        assert twin.current.bars_done == len(bars)
    else:
        live.run(_timed(_paced(bars, gap_s), took))
    live.journal.engine.dispose()
    return took


def _p(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=250)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir()
                        else None, help="where the stores go (default: tmpfs, so fsync "
                        "noise of a shared disk does not drown the threads' contention)")
    args = parser.parse_args()
    bars = list(replay_bars(replay_frame(DATASET, ["NIFTY"], DAY, DAY)))[:args.bars]
    stats: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        _run(Path(tmp) / "warm", bars[:60], 0.0, True)  # numba, imports: not measured
        for rep in range(args.reps):
            for feed, gap in (("flat", 0.0), ("paced", args.gap_ms / 1e3)):
                for twin_on in (False, True):
                    name = f"{feed}_{'on' if twin_on else 'off'}"
                    took = _run(Path(tmp) / f"{name}{rep}", bars, gap, twin_on)
                    stats.setdefault(name, []).append(
                        (_p(took, 50), _p(took, 99), statistics.fmean(took) / 1e6))
    summary = {name: tuple(statistics.median(run[i] for run in runs) for i in range(3))
               for name, runs in stats.items()}
    for name, (p50, p99, mean) in summary.items():
        print(f"{name}: median {p50:.3f} ms, p99 {p99:.3f} ms, mean {mean:.3f} ms per bar "
              f"({args.reps} runs of {len(bars)} bars)")
    for feed in ("flat", "paced"):
        off, on = summary[f"{feed}_off"], summary[f"{feed}_on"]
        print(f"live_bar_ms_p50_{feed}_twin_off: {off[0]:.3f}")
        print(f"live_bar_ms_p50_{feed}_twin_on: {on[0]:.3f}")
        print(f"live_bar_p99_ratio_{feed}_twin_on_vs_off: {on[1] / off[1]:.2f}")
        print(f"live_bar_mean_ratio_{feed}_twin_on_vs_off: {on[2] / off[2]:.2f}")
        print(f"live_bar_p50_ratio_{feed}_twin_on_vs_off: {on[0] / off[0]:.2f}")


if __name__ == "__main__":
    main()
