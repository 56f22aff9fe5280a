"""Signal governance artifacts: causal regime features (truncation), the stored classifier
and drift reference (digest-checked, no pickle), and every bad input refused by name."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from strategies.drift import DriftLimits, DriftReferenceError, RegimeDriftReference
from strategies.regime_features import (
    DRIFT_FEATURES,
    FEATURE_NAMES,
    TAIL_BARS,
    WARMUP_BARS,
    regime_feature_matrix,
)
from strategies.regime_model import (
    MANIFEST,
    MODEL_FILE,
    REFERENCE_FILE,
    SignalGovernanceError,
    UnseenRegimeError,
    load_governance,
    sha256_file,
)
from tests.regime_stubs import governance, governance_copy, nifty_bars, trained


class Sneaky:
    """A type no allow-list names: loading it would run its module's code."""

    def __init__(self) -> None:
        self.payload = "anything"


@pytest.fixture(scope="module")
def march() -> tuple[np.ndarray, ...]:
    bars = nifty_bars(date(2025, 3, 3), date(2025, 3, 7))
    return bars.open, bars.high, bars.low, bars.close, bars.session


def test_regime_features_truncating_future_bars_changes_no_past_row(march: tuple) -> None:
    full = regime_feature_matrix(*march)
    cut = 900
    truncated = regime_feature_matrix(*(a[:cut] for a in march))
    np.testing.assert_array_equal(truncated, full[:cut])


def test_regime_features_warm_up_rows_are_nan_and_later_rows_complete(march: tuple) -> None:
    full = regime_feature_matrix(*march)
    assert np.isnan(full[: WARMUP_BARS - 1]).any(axis=1).all()
    assert not np.isnan(full[2 * 375:]).any()


def test_regime_read_last_from_a_tail_equals_the_research_row(march: tuple) -> None:
    gov = governance()
    full = regime_feature_matrix(*march)
    regimes, probs = gov.model.classify(full)
    for t in (800, 1100, len(full) - 1):
        tail = gov.model.read_last(*(a[max(0, t + 1 - TAIL_BARS): t + 1] for a in march))
        assert (tail.regime, tail.probability) == (regimes[t], probs[t])


def test_regime_classifier_truncation_changes_no_past_regime_or_probability(
        march: tuple) -> None:
    model = governance().model
    regimes, probs = model.classify(regime_feature_matrix(*march))
    cut = 1000
    r_cut, p_cut = model.classify(regime_feature_matrix(*(a[:cut] for a in march)))
    np.testing.assert_array_equal(r_cut, regimes[:cut])
    np.testing.assert_array_equal(p_cut, probs[:cut])


def test_regime_reading_with_a_nan_feature_is_unknown_and_names_it() -> None:
    row = np.ones(len(FEATURE_NAMES))
    row[2] = np.nan
    reading = governance().model.read(row)
    assert reading.regime == "unknown" and FEATURE_NAMES[2] in str(reading.problem)


def test_regime_probability_of_a_regime_never_seen_in_training_is_refused() -> None:
    model = governance().model
    reading = model.read(np.ones(len(FEATURE_NAMES)))
    with pytest.raises(UnseenRegimeError, match="'crash' was never seen in training"):
        model.probability_of(reading, "crash")


def test_governance_study_reports_oos_accuracy_of_every_candidate() -> None:
    study = trained()[1]
    assert set(study.balanced_accuracy) == {"hgb", "logistic"}
    assert study.metrics()["regime_bacc"] == max(study.balanced_accuracy.values())


def test_governance_classifier_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["features"] = [*FEATURE_NAMES[:-1], "volume_ratio"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SignalGovernanceError, match=r"trained on features .*volume_ratio"):
        load_governance(folder)


def test_governance_estimator_with_other_feature_count_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    x = np.random.default_rng(0).normal(size=(60, 3))
    other = LogisticRegression().fit(x, np.repeat(["trend", "chop", "high_vol"], 20))
    (folder / MODEL_FILE).write_bytes(sio.dumps(other))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = sha256_file(folder / MODEL_FILE)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SignalGovernanceError, match="takes 3 features, the version declares 8"):
        load_governance(folder)


def test_governance_missing_reference_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    (folder / REFERENCE_FILE).unlink()
    with pytest.raises(SignalGovernanceError, match="drift reference is missing"):
        load_governance(folder)


def test_governance_altered_reference_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    text = (folder / REFERENCE_FILE).read_text()
    (folder / REFERENCE_FILE).write_text(text.replace("0.1", "0.2", 1))
    with pytest.raises(SignalGovernanceError, match=r"sha256 .* the drift reference was altered"):
        load_governance(folder)


def test_governance_skops_file_naming_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    (folder / MODEL_FILE).write_bytes(sio.dumps(Sneaky()))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = sha256_file(folder / MODEL_FILE)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SignalGovernanceError, match="refuses untrusted types"):
        load_governance(folder)


def test_governance_unknown_class_in_manifest_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["classes"] = ["trend", "crash"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SignalGovernanceError, match=r"unknown \['crash'\]"):
        load_governance(folder)


def _reference(rng: np.random.Generator) -> RegimeDriftReference:
    sample = np.abs(rng.normal(size=(4000, len(DRIFT_FEATURES))))
    return RegimeDriftReference.from_samples(sample, np.full(4000, "trend"), DRIFT_FEATURES,
                                             ["trend"])


def test_drift_same_distribution_stays_under_the_default_limits() -> None:
    rng = np.random.default_rng(1)
    reading = _reference(rng).measure(np.abs(rng.normal(size=(400, 2))), np.full(400, "trend"))
    assert reading.breaches(0.25, 0.14) == []


def test_drift_scaled_distribution_breaches_ks_and_psi() -> None:
    rng = np.random.default_rng(2)
    reading = _reference(rng).measure(1.5 * np.abs(rng.normal(size=(400, 2))),
                                      np.full(400, "trend"))
    found = " ".join(reading.breaches(0.25, 0.14))
    assert "abs_return_bps ks" in found and "range_bps psi" in found


def test_drift_reference_json_without_regimes_is_refused() -> None:
    with pytest.raises(DriftReferenceError, match="no by_regime table"):
        RegimeDriftReference.from_json({"features": []}, "drift_reference.json")


def test_drift_reference_with_a_nan_value_is_refused() -> None:
    data = _reference(np.random.default_rng(3)).to_json()
    data["by_regime"]["trend"]["features"][0]["quantiles"][5] = float("nan")
    with pytest.raises(DriftReferenceError, match=r"features\[0\] malformed"):
        RegimeDriftReference.from_json(data, "drift_reference.json")


def test_drift_limits_out_of_range_are_refused() -> None:
    with pytest.raises(DriftReferenceError, match=r"max_ks=1\.5"):
        DriftLimits(max_psi=0.3, max_ks=1.5)


def test_governance_skops_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    (folder / MODEL_FILE).write_bytes(b"not a zip archive")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = sha256_file(folder / MODEL_FILE)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SignalGovernanceError, match="not a skops file"):
        load_governance(folder)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=899))
def test_regime_features_any_prefix_equals_the_full_matrix_rows(seed: int, cut: int) -> None:
    rng = np.random.default_rng(seed)
    n = 900
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 1e-3, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 1e-3, n))
    session = np.repeat(np.arange(3), 300)
    full = regime_feature_matrix(open_, high, low, close, session)
    part = regime_feature_matrix(open_[:cut], high[:cut], low[:cut], close[:cut],
                                 session[:cut])
    np.testing.assert_array_equal(part, full[:cut])
