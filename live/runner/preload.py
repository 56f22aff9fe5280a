"""What the runner loads before its first bar, so the first order is not the one to load it.

A fresh process's first order otherwise pays, on the bar's path, for everything the code
behind it loads on first use: the venue's session calendar (``pandas_market_calendars``,
about a second), each strategy's compiled signal kernel (numba's cache, ~0.5-1 s), the
rules' compiled decision functions (~3 ms), and the journal codecs of every message type
(``typing.get_type_hints`` per class, ~0.4 ms each). :func:`preload` loads them all with
neutral inputs - nothing is decided, journaled or sent, and the runner's state is not
touched. :func:`preloaded` also freezes what start-up allocated out of the garbage
collector's scans for the session. The paper exchange loads its own (its SQL statements and
compiled fill functions) when it is built.

Used by the execution service (:func:`live.svc.execution.serve_execution`), the embedded
live runner (``stratops live run``) and the daily service (``stratops live serve``), after
recovery, before the first bar.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd

from live.events import prepare_codecs
from live.runner.decisions import preload_rules
from live.runner.deployments import Deployed
from live.runner.feed import in_session
from live.runner.runner import Runner
from strategies.bars import Bars
from strategies.regime_features import TAIL_BARS
from strategies.venues import get_venue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Preloaded:
    """How much :func:`preload` loaded (the operator's start-up line, and the tests')."""

    venues: int  # session calendars (each for the last bar's day and the next)
    kernels: int  # strategies' signal kernels (and regime classifiers) run once
    rules: int  # the rules' compiled decision functions called once
    codecs: int  # message types whose journal codec was built


def preload(runner: Runner) -> Preloaded:
    """Everything above for ``runner``'s deployed versions. A step that fails is logged and
    counted 0: its cost is then paid by the first bar that needs it, as without preloading
    (a warm-up never stops a session from starting)."""
    return Preloaded(venues=_attempt("session calendars", lambda: warm_sessions(runner)),
                     kernels=warm_deployed(runner.deployed),
                     rules=_attempt("rules' compiled functions", preload_rules),
                     codecs=_attempt("message codecs", prepare_codecs))


@contextmanager
def preloaded(runner: Runner) -> Iterator[Preloaded]:
    """:func:`preload`, then what start-up allocated frozen out of the collector's scans
    for the ``with`` block (a session: ``gc.freeze``; a full collection mid-bar would
    otherwise walk every object pandas and numba loaded); unfrozen at its end, so a
    long-lived process (``stratops live serve``, a day after another) frees each session's
    objects once it is over."""
    loaded = preload(runner)
    gc.collect()
    gc.freeze()
    try:
        yield loaded
    finally:
        gc.unfreeze()


def _attempt(what: str, load: Callable[[], int]) -> int:
    try:
        return load()
    except Exception as exc:  # a warm-up only: the first bar that needs it loads it
        log.warning("preloading the %s failed (%r); loaded on first use", what, exc)
        return 0


def warm_sessions(runner: Runner) -> int:
    """Load each deployed venue's session calendar for the last bar's day (a restart) or
    today, before the first bar: its first load (pandas_market_calendars, about a second)
    would otherwise delay the first bar's orders. Returns how many venues."""
    bars = runner.state.last_bars.values()
    day = max((b.ts_event for b in bars), default=datetime.now(UTC))
    venues = {d.venue for d in runner.deployed}
    for venue in map(get_venue, venues):
        for ts in (day, day + timedelta(days=1)):
            in_session(venue, ts)
    return len(venues)


def warm_deployed(deployed: Iterable[Deployed]) -> int:
    """Run each deployed strategy's signal kernel (and its regime classifier and confidence
    model, when it has them) once on synthetic bars before the first bar: the first call
    loads the compiled numba code (about a second), which would otherwise delay the first
    order. Nothing is decided or kept. Returns how many kernels ran."""
    ran = 0
    for d in deployed:
        bars = _synthetic_bars(max(d.spec.warmup(d.params) + 2, TAIL_BARS))  # models' too
        if _attempt(f"{d.strategy} signal kernel", partial(_run_kernel, d, bars)):
            ran += 1
            _attempt(f"{d.strategy} regime and confidence models",
                     partial(_run_models, d, bars))
    return ran


def _synthetic_bars(n: int) -> Bars:
    price = 100.0 + np.sin(np.arange(n) / 5.0)
    flags = np.zeros(n, dtype=bool)
    return Bars(symbol="warm", ts=pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC"),
                open=price, high=price + 0.5, low=price - 0.5, close=price, volume=np.ones(n),
                session=np.zeros(n, dtype=np.int64), bar_in_session=np.arange(n, dtype=np.int64),
                entry_ok=~flags, entry_ok_at_close=~flags, cutoff_exit=flags,
                session_last=flags.copy())


def _run_kernel(d: Deployed, bars: Bars) -> int:
    d.spec.signals(bars, d.params)
    return 1


def _run_models(d: Deployed, bars: Bars) -> int:
    if d.governance is not None:
        d.governance.model.read_last(bars.open, bars.high, bars.low, bars.close, bars.session)
    if d.confidence is not None:
        d.confidence.read_last(bars.open, bars.high, bars.low, bars.close, bars.session, 1)
    return (d.governance is not None) + (d.confidence is not None)
