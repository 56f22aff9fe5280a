"""The ensemble evaluated walk-forward: the resolved variants drop entries the rules deny,
never add one, and their OOS Sharpe sits next to the best single strategy's with every
trial counted in DSR."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.research.ensemble_study import (
    VARIANTS,
    EnsembleStudyError,
    resolved_trades,
    study_ensemble,
    trial_matrix,
)
from pipelines.research.gates import load_gates
from strategies.ensemble import EnsemblePolicy, make_resolver
from strategies.ensemble_simulation import SimMember, entry_sides, kept_entries
from strategies.roster import get_strategy
from strategies.signals import Signals
from stratops.cli import main
from tests.confidence_stubs import CONFIG, SETTINGS, bars, member

REPO = Path(__file__).resolve().parents[2]


def _members() -> list[Any]:
    return [member("ema_cross"), member("range_breakout")]


def test_entry_sides_are_one_side_only() -> None:
    t, f = True, False
    sig = Signals(np.array([t, f, t, f]), np.zeros(4, bool), np.array([f, t, t, f]),
                  np.zeros(4, bool))
    assert entry_sides(sig).tolist() == [1, -1, 0, 0]


def _longs(n: int, *at: int) -> Signals:
    entries = np.zeros(n, bool)
    entries[list(at)] = True
    return Signals(entries, np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool))


def test_member_holding_the_side_does_not_contest_an_entry() -> None:
    window = bars().window(0, 375)  # one session
    first, second = (get_strategy(s) for s in ("ema_cross", "range_breakout"))
    holder = SimMember(first, _longs(375, 10, 20), CONFIG)  # long from bar 11, no exit
    other = SimMember(second, _longs(375, 20, 30), CONFIG)
    policy = EnsemblePolicy(make_resolver("priority"), ("ema_cross",))
    keep = kept_entries(window, [holder, other], policy)
    # at 20 ema_cross is long already: its signal is no entry the runner would resolve
    assert keep[1][20] and keep[0].all() and keep[1].all()


def test_member_first_in_the_order_takes_a_contested_entry_from_flat() -> None:
    window = bars().window(0, 375)
    first, second = (get_strategy(s) for s in ("ema_cross", "range_breakout"))
    members = [SimMember(first, _longs(375, 20), CONFIG),
               SimMember(second, _longs(375, 20), CONFIG)]
    keep = kept_entries(window, members, EnsemblePolicy(make_resolver("priority"),
                                                        ("ema_cross",)))
    assert keep[0][20] and not keep[1][20]


def test_resolved_variants_only_remove_contested_entries() -> None:
    members = _members()
    alone = resolved_trades(members, bars(), CONFIG, "independent", (), SETTINGS)
    ranked = resolved_trades(members, bars(), CONFIG, "priority", ("range_breakout",),
                             SETTINGS)
    # each strategy alone trades exactly its walk-forward OOS trades
    for m in members:
        mine = alone[alone["strategy"] == m.spec.name].reset_index(drop=True)
        np.testing.assert_array_equal(mine["entry_idx"], m.report.oos_trades["entry_idx"])
    # range_breakout is first in the order: nothing of it is resolved away
    np.testing.assert_array_equal(
        ranked[ranked["strategy"] == "range_breakout"]["entry_idx"].to_numpy(),
        alone[alone["strategy"] == "range_breakout"]["entry_idx"].to_numpy())
    ema_alone = set(alone[alone["strategy"] == "ema_cross"]["entry_idx"])
    ema_ranked = set(ranked[ranked["strategy"] == "ema_cross"]["entry_idx"])
    rb_entries = set(alone[alone["strategy"] == "range_breakout"]["entry_idx"])
    assert ema_alone & rb_entries, "no contested bar: the test would prove nothing"
    assert not ema_ranked & rb_entries  # where range_breakout entered, ema_cross lost


def test_ensemble_study_reports_every_variant_against_the_best_single() -> None:
    found = study_ensemble(_members(), bars(), CONFIG, (), SETTINGS,
                           load_gates(REPO / "gates.yaml"))
    for variant in VARIANTS:
        assert np.isfinite(found.metrics[f"ensemble.{variant}.oos_sharpe"])
    singles = [found.metrics["single.ema_cross.oos_sharpe"],
               found.metrics["single.range_breakout.oos_sharpe"]]
    assert found.metrics["single.best.oos_sharpe"] == max(singles)
    trials = sum(len(m.report.trials.columns) for m in _members())
    assert trials < found.metrics["ensemble.dsr.n_trials"] <= trials + len(VARIANTS)
    # PBO over every trial (members' combinations + variants), as many columns as DSR sees
    assert found.trials.shape[1] == trials + len(VARIANTS)
    assert found.metrics["ensemble.pbo.n_configs"] == trials + len(VARIANTS)
    assert 0.0 <= found.metrics["ensemble.pbo"] <= 1.0
    # stability: the least stable member's (range_breakout at one point has no plateau)
    assert found.metrics["ensemble.stability"] == min(
        m.report.metrics["stability"] for m in _members())
    for variant in VARIANTS:  # judged on every check; every stream loses here: fails
        assert found.summaries[variant]["pbo"] == found.metrics["ensemble.pbo"]
        assert found.metrics[f"ensemble.{variant}.gates_passed"] == 0.0
    assert any("min_oos_sharpe" in note for note in found.notes)
    with pytest.raises(EnsembleStudyError, match="two strategies"):
        study_ensemble(_members()[:1], bars(), CONFIG, (), SETTINGS)


@pytest.mark.parametrize(("args", "named"), [
    (["-s", "ema_cross", "-s", "ema_cross"], "two strategies"),
    (["-s", "ema_cross", "-s", "no_such"], "no_such"),
    (["-s", "ema_cross", "-s", "range_breakout", "--record", "--resolver", "independent"],
     "--resolver"),
])
def test_research_ensemble_cli_refuses_bad_input_before_any_work(
        capsys: pytest.CaptureFixture[str], args: list[str], named: str) -> None:
    assert main(["research", "ensemble", "-d", "nse_futures_cont_1m", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and named in err and "Traceback" not in err


def test_trial_matrix_refuses_members_of_other_sessions_and_nan_stability_fails() -> None:
    ema, rb = _members()
    short = copy.copy(rb.report)
    short.trials = rb.report.trials.iloc[:-1]
    streams = {"priority": np.zeros(len(ema.report.trials))}
    assert trial_matrix([ema, rb], streams).shape == (len(ema.report.trials),
                                                      len(ema.report.trials.columns) + 2)
    with pytest.raises(EnsembleStudyError, match="range_breakout: 24 trial sessions"):
        trial_matrix([ema, replace(rb, report=short)], streams)
    unknown = copy.copy(ema.report)
    unknown.metrics = {k: v for k, v in ema.report.metrics.items() if k != "stability"}
    found = study_ensemble([rb, replace(ema, report=unknown)], bars(), CONFIG, (), SETTINGS,
                           load_gates(REPO / "gates.yaml"))
    assert np.isnan(found.metrics["ensemble.stability"])
    assert all("min_stability" in n for n in found.notes[:3])
