"""Parent-order schedules (TWAP, VWAP, POV, IS): whole lots summing to the parent, times in
the window, seeded randomisation, and the refusals of bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from live.algos.profile import VolumeProfile, VolumeProfileError
from live.algos.schedules import AlgoDeadlineError, ChildPlan, plan_schedule
from live.algos.spec import AlgoParamError, AlgoSpec

IST = ZoneInfo("Asia/Kolkata")
START = datetime(2026, 3, 2, 10, 0, tzinfo=IST)


def _profile(days: int = 3) -> VolumeProfile:
    times, volumes = [], []
    for d in range(days):
        open_ = datetime(2026, 2, 23 + d, 9, 15, tzinfo=IST)
        for m in range(375):  # a U-shaped day: heavy at the open and the close
            times.append(open_ + timedelta(minutes=m))
            volumes.append(1000.0 + 30.0 * abs(187 - m) + d)
    return VolumeProfile.from_bars(times, volumes)


PROFILE = _profile()


def _spec(name: str, horizon: int, children: int, randomise: float) -> AlgoSpec:
    return AlgoSpec.from_mapping({
        "name": name, "horizon_minutes": horizon, "child_count": children,
        "randomise_pct": randomise, "participation_pct": 10.0 if name == "pov" else None,
        "risk_aversion": 5.0 if name == "is" else None})


@st.composite
def _plans(draw: st.DrawFn) -> tuple[AlgoSpec, int, int, int]:
    name = draw(st.sampled_from(["twap", "vwap", "pov", "is"]))
    horizon = draw(st.integers(1, 120))
    children = draw(st.integers(1, horizon))
    randomise = draw(st.floats(0.0, 50.0))
    lot_size = draw(st.sampled_from([1, 25, 50, 75]))
    lots = draw(st.integers(1, 400))
    seed = draw(st.integers(0, 2 ** 32))
    return _spec(name, horizon, children, randomise), lot_size * lots, lot_size, seed


def _plan(spec: AlgoSpec, qty: int, lot_size: int, seed: int) -> list[ChildPlan]:
    return plan_schedule(spec, parent_qty=qty, lot_size=lot_size, start=START,
                         deadline=START + timedelta(minutes=spec.horizon_minutes), seed=seed,
                         volume_profile=PROFILE)


@settings(max_examples=150, deadline=None)
@given(_plans())
def test_schedule_any_algo_sizes_whole_lots_summing_to_parent(
        plan: tuple[AlgoSpec, int, int, int]) -> None:
    spec, qty, lot_size, seed = plan
    children = _plan(spec, qty, lot_size, seed)
    assert all(c.qty > 0 and c.qty % lot_size == 0 for c in children)
    total = sum(c.qty for c in children)
    if spec.name == "pov":  # capped by participation: never more, the rest is the deadline's
        assert total <= qty
    else:
        assert total == qty
    assert [c.index for c in children] == list(range(len(children)))


@settings(max_examples=150, deadline=None)
@given(_plans())
def test_schedule_any_algo_times_within_window_and_ordered(
        plan: tuple[AlgoSpec, int, int, int]) -> None:
    spec, qty, lot_size, seed = plan
    children = _plan(spec, qty, lot_size, seed)
    deadline = START + timedelta(minutes=spec.horizon_minutes)
    times = [c.not_before for c in children]
    assert all(START <= t < deadline for t in times)
    assert times == sorted(times)


@settings(max_examples=60, deadline=None)
@given(_plans())
def test_schedule_same_seed_reproduces_plan(plan: tuple[AlgoSpec, int, int, int]) -> None:
    spec, qty, lot_size, seed = plan
    assert _plan(spec, qty, lot_size, seed) == _plan(spec, qty, lot_size, seed)


def test_schedule_other_seed_changes_randomised_plan() -> None:
    spec = _spec("twap", 60, 12, 40.0)
    assert _plan(spec, 50 * 100, 50, 1) != _plan(spec, 50 * 100, 50, 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 60), st.floats(0.01, 100.0))
def test_schedule_is_more_risk_averse_front_loads_more(children: int, aversion: float) -> None:
    def first_half(risk_aversion: float) -> int:
        spec = AlgoSpec(name="is", horizon_minutes=60, child_count=children,
                        risk_aversion=risk_aversion)
        return sum(c.qty for c in _plan(spec, 100_000, 1, 0)[: children // 2 or 1])

    assert first_half(aversion * 10.0) >= first_half(aversion) - children


def test_schedule_twap_without_randomising_is_equal_slices() -> None:
    children = _plan(_spec("twap", 30, 6, 0.0), 6 * 75 * 4, 75, 0)
    assert [c.qty for c in children] == [300] * 6
    assert [c.not_before for c in children] == [START + timedelta(minutes=5 * i)
                                                 for i in range(6)]


def test_schedule_vwap_follows_profile_weight() -> None:
    open_ = datetime(2026, 3, 2, 9, 15, tzinfo=IST)  # the U-shaped profile's heavy open
    spec = _spec("vwap", 180, 6, 0.0)
    children = plan_schedule(spec, parent_qty=6000, lot_size=1, start=open_,
                             deadline=open_ + timedelta(minutes=180), seed=0,
                             volume_profile=PROFILE)
    assert children[0].qty > children[-1].qty


def test_schedule_pov_child_within_participation_of_expected_volume() -> None:
    spec = _spec("pov", 30, 30, 0.0)
    children = _plan(spec, 10_000_000, 1, 0)
    for child in children:
        minute = child.not_before.replace(second=0)
        assert child.qty <= 0.10 * PROFILE.expected_volume(minute, minute + timedelta(minutes=1))


def test_schedule_vwap_without_profile_refused() -> None:
    with pytest.raises(VolumeProfileError, match="volume profile"):
        plan_schedule(_spec("vwap", 30, 6, 0.0), parent_qty=100, lot_size=1, start=START,
                      deadline=START + timedelta(minutes=30), seed=0)


def test_profile_without_volume_history_refused() -> None:
    with pytest.raises(VolumeProfileError, match="no volume history"):
        VolumeProfile.from_bars([START, START + timedelta(minutes=1)], [0.0, float("nan")])


def test_schedule_deadline_after_cutoff_refused() -> None:
    with pytest.raises(AlgoDeadlineError, match="after the cutoff"):
        plan_schedule(_spec("twap", 30, 6, 0.0), parent_qty=100, lot_size=1, start=START,
                      deadline=START + timedelta(minutes=30), seed=0,
                      cutoff=START + timedelta(minutes=20))


def test_schedule_parent_not_whole_lots_refused() -> None:
    with pytest.raises(AlgoParamError, match="parent_qty=101"):
        plan_schedule(_spec("twap", 30, 6, 0.0), parent_qty=101, lot_size=50, start=START,
                      deadline=START + timedelta(minutes=30), seed=0)


@pytest.mark.parametrize(("mapping", "field"), [
    ({"name": "pov", "participation_pct": 0}, "participation_pct=0"),
    ({"name": "pov", "participation_pct": 30}, "participation_pct=30"),
    ({"name": "pov"}, "participation_pct: required"),
    ({"name": "is", "risk_aversion": 0}, "risk_aversion=0"),
    ({"name": "twap", "randomise_pct": 60}, "randomise_pct=60"),
    ({"name": "twap", "horizon_minutes": 0}, "horizon_minutes=0"),
    ({"name": "twap", "horizon_minutes": 5, "child_count": 6}, "child_count=6"),
    ({"name": "twap", "slippage_guard_bps": 0}, "slippage_guard_bps=0"),
    ({"name": "twap", "on_deadline": "hold"}, "on_deadline='hold'"),
    ({"name": "twap", "risk_aversion": 1.0}, "risk_aversion=1.0: only algo 'is'"),
    ({"name": "iceberg"}, "name='iceberg'"),
    ({"name": "twap", "horizon": 30}, "unknown keys \\['horizon'\\]"),
    ({"name": "twap", "child_count": 2.5}, "child_count=2.5: must be int"),
])
def test_algo_spec_out_of_bounds_refused_naming_field(mapping: dict[str, object],
                                                      field: str) -> None:
    with pytest.raises(AlgoParamError, match=f"cfg.{field}" if "unknown" not in field
                       else field):
        AlgoSpec.from_mapping(mapping, "cfg")


def test_algo_spec_mapping_round_trips() -> None:
    spec = AlgoSpec(name="is", horizon_minutes=45, child_count=9, randomise_pct=20.0,
                    limit_offset_ticks=1, slippage_guard_bps=25.0, on_deadline="cancel",
                    risk_aversion=3.0)
    assert AlgoSpec.from_mapping(spec.to_json()) == spec
