"""Exact research-live parity of the governed decisions on a replayed session: a fresh
journal's runner, warmed from the stored sessions before 2025-03-03 (the replay warm-up),
trades that session bar by bar; at every bar its regime, probability, feature row, entry
hold and signals equal - bit for bit - research's
:func:`pipelines.research.governed.governed_decisions` over the same bars, and so does every
journaled ``GovernanceDecided``."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from live.events import GovernanceDecided, SignalRaised, SignalSide
from live.runner.feed import FeedBar, WarmBar, replay_bars, replay_frame
from live.runner.warmup import replay_warmup, warmed
from pipelines.research.governed import SIGNALS, GovernedDecisions, governed_decisions
from strategies.bars import bars_from_frame
from strategies.regime_model import RegimeReading
from strategies.roster import get_strategy
from tests.regime_stubs import governance
from tests.synthetic_datasets import nse_index_1m_path
from tests.unit.test_runner_engine import Stores, stores_in
from tests.unit.test_runner_signal_governance import governed_runner

pytestmark = pytest.mark.integration

DAY = date(2025, 3, 3)
SESSIONS = 3  # the traded session and the two stored ones before it


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Stores, list[dict[str, object]], GovernedDecisions, pd.DatetimeIndex]:
    """The live runner's reading at every traded bar, and research's over the same bars."""
    history = replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 2, 17), DAY)
    traded = history[history["ts"].dt.date == DAY].reset_index(drop=True)
    warmup = replay_warmup(history, traded, SESSIONS)
    stores = stores_in(tmp_path_factory.mktemp("parity"))
    runner = governed_runner(stores)
    runner.recover()
    (deployed,) = runner.deployed
    live: list[dict[str, object]] = []
    items = list(warmed(warmup, "nse_index_1m", replay_bars(traded)))
    runner.run([i for i in items if isinstance(i, WarmBar)])
    for item in items:
        if not isinstance(item, FeedBar):
            continue
        runner.run([item])
        reading = runner.regime_at(deployed, item)
        assert reading is not None
        signals = deployed.spec.signals(runner.symbol_history("NIFTY").bars(), deployed.params)
        live.append({"ts": item.ts, "regime": reading.regime,
                     "probability": reading.probability, "features": reading.features,
                     "hold": runner.regime_hold(deployed, item),
                     "signals": tuple(bool(a[-1]) for a in signals.arrays())})
    span = pd.concat([warmup.bars, traded], ignore_index=True)
    bars = bars_from_frame(span, symbol="NIFTY", venue="NSE", cutoff="venue")
    research = governed_decisions(bars, deployed.spec, deployed.params, governance().model)
    return stores, live, research, pd.DatetimeIndex(bars.ts)


def test_every_bar_of_the_session_is_decided_live_exactly_as_research(
        replayed: tuple[Stores, list[dict[str, object]], GovernedDecisions,
                        pd.DatetimeIndex]) -> None:
    _, live, research, ts = replayed
    assert len(live) == 375
    first = int(ts.get_loc(pd.Timestamp(live[0]["ts"])))  # type: ignore[arg-type]
    held = 0
    for k, row in enumerate(live):
        i = first + k
        assert ts[i] == pd.Timestamp(row["ts"])  # type: ignore[arg-type]
        assert row["regime"] == research.regime[i]
        probability = row["probability"]
        assert isinstance(probability, float)
        assert np.float64(probability).tobytes() == research.probability[i].tobytes()
        assert np.asarray(row["features"], dtype=np.float64).tobytes() == \
            research.features[i].tobytes()
        assert row["hold"] == research.entry_hold[i]
        assert row["signals"] == tuple(bool(research.signals[s][i]) for s in SIGNALS)
        held += row["hold"] is not None
    assert held == 0  # warmed from stored data: no bar of the first session is held


def test_every_journaled_governance_decision_matches_research(
        replayed: tuple[Stores, list[dict[str, object]], GovernedDecisions,
                        pd.DatetimeIndex]) -> None:
    stores, _, research, ts = replayed
    decided: list[GovernanceDecided] = stores.messages(GovernanceDecided)  # type: ignore[assignment]
    sides = {s.trace_id: s.side for s in stores.messages(SignalRaised)}  # type: ignore[attr-defined]
    assert len(decided) >= 4
    for d in decided:
        i = int(ts.get_loc(pd.Timestamp(d.ts_event)))
        assert (d.regime, d.regime_probability) == (research.regime[i],
                                                    float(research.probability[i]))
        assert d.feature_values == tuple(float(v) for v in research.features[i])
        side = sides[d.trace_id]
        hold = research.entry_hold[i] if side is not SignalSide.FLAT else None
        assert d.allowed == (hold is None) and (hold is None or d.reason == hold)
        wanted = {SignalSide.LONG: "long_entry", SignalSide.SHORT: "short_entry"}.get(side)
        if wanted is not None:  # an entry decided on research's signal at that very bar
            assert research.signals[wanted][i]


def test_research_names_the_same_hold_live_journals_on_a_cold_history() -> None:
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], DAY, DAY)
    bars = bars_from_frame(frame, symbol="NIFTY", venue="NSE", cutoff="venue")
    model = governance().model
    spec = get_strategy("ema_cross")
    decided = governed_decisions(bars, spec, spec.default_params(), model)
    assert decided.entry_hold[0] is not None and decided.entry_hold[0].startswith(
        "regime: NaN feature rv_30")
    reading = model.read_last(bars.open[:1], bars.high[:1], bars.low[:1], bars.close[:1],
                              bars.session[:1])
    assert model.entry_hold(reading) == decided.entry_hold[0]
    unseen = RegimeReading("crash", 0.9, {"crash": 0.9})
    assert model.entry_hold(unseen) == ("regime: regime 'crash' was never seen in training; "
                                        f"the classifier knows {list(model.classes)}")
