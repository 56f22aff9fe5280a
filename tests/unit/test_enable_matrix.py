"""The regime enable matrix: the rule per regime, the nested study (each fold's matrix from
its inner walk-forward's OOS trades only; the governed stream is the test trades it enables), the
stored matrix (digest-checked, classes checked) and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.research.enable_matrix import (
    MatrixStudy,
    governed_trades,
    learn_matrix,
    nested_learning_trades,
    regime_cell,
    study_enable_matrix,
)
from pipelines.research.gates import MatrixGates, MatrixRule
from strategies.ema_cross import SPEC
from strategies.enable_matrix import (
    MATRIX_FILE,
    EnableMatrix,
    EnableMatrixError,
    RegimeCell,
    matrix_from_json,
)
from strategies.regime_model import SignalGovernanceError, add_enable_matrix, load_governance
from tests.regime_stubs import governance, governance_copy
from tests.unit.test_fold_trades import COMBOS, CONFIG, _bars, _frame, _table

RULE = MatrixRule(min_trades=5, min_mean_net_return=0.0, max_p_value=0.2)
GATES = MatrixGates(rules=(RULE, MatrixRule(min_trades=3, max_p_value=0.5)), inner_folds=2)


def test_rule_enables_only_enough_significant_positive_trades() -> None:
    rng = np.random.default_rng(7)
    good = 0.002 + 0.001 * rng.standard_normal(30)
    assert regime_cell(good, RULE).enabled
    assert not regime_cell(good[:4], RULE).enabled  # too few
    assert not regime_cell(-good, RULE).enabled  # negative mean
    noisy = 0.0001 + 0.01 * rng.standard_normal(30)
    cell = regime_cell(noisy, RULE)
    assert cell.p_value > 0.2 and not cell.enabled  # not significant
    empty = regime_cell(np.array([]), RULE)
    assert (empty.enabled, empty.trades, empty.p_value) == (False, 0, 1.0)


@pytest.fixture(scope="module")
def study() -> tuple[MatrixStudy, pd.DataFrame]:
    bars = _bars(_frame())
    from tests.regime_stubs import labels_for
    report, table, classifiers = _table(bars, labels_for(bars))
    out = study_enable_matrix(SPEC, bars, CONFIG, report, classifiers, governance().model,
                              GATES, combos=COMBOS)
    inner = nested_learning_trades(SPEC, bars, CONFIG, report, classifiers, combos=COMBOS,
                                   n_inner=2, select="sharpe")
    return out, table, report, inner


def test_each_fold_matrix_is_learned_from_its_inner_oos_trades_only(study: tuple) -> None:
    result, _, report, inner = study
    assert result.problems() == []
    assert set(inner["window"]) == {"inner"} and len(inner) > 0
    assert result.metrics["matrix.inner_trades"] == len(inner)
    for fold, matrix in result.fold_matrices.items():
        rows = inner[inner["fold"] == fold]
        assert matrix == learn_matrix(rows, result.classes, RULE, "ema_cross")
        outer = report.folds[fold]
        assert (rows["entry_ts"] >= pd.Timestamp(outer.train[0])).all()
        assert (rows["exit_ts"] <= pd.Timestamp(outer.train[1])).all()
        assert pd.Timestamp(result.learned_until[fold]) < pd.Timestamp(
            result.test_start[fold])


def test_governed_stream_is_the_test_trades_its_fold_enables(study: tuple) -> None:
    result, table, _, _ = study
    kept = governed_trades(table, result.fold_matrices)
    test = table[table["window"] == "test"]
    expected = sum(result.fold_matrices[int(f)].enabled(str(r))
                   for f, r in zip(test["fold"], test["regime"], strict=True))
    assert len(kept) == expected == result.metrics["governed.oos_trades"]
    assert result.metrics["matrix.rules_tried"] == 2
    per_regime = sum(result.metrics[f"matrix.oos.{r}.trades"] for r in (*result.classes,
                                                                          "unknown"))
    assert per_regime == len(test)
    for regime in result.classes:
        assert f"matrix.final.{regime}.enabled" in result.metrics
    assert set(result.final.cells) == set(governance().model.classes)


def test_study_round_trips_through_json(study: tuple) -> None:
    result, _, _, _ = study
    again = MatrixStudy.from_json(json.loads(json.dumps(result.to_json())))
    assert again.final == result.final and again.fold_matrices == result.fold_matrices
    assert again.metrics == pytest.approx(result.metrics, nan_ok=True)


def _matrix(strategy: str = "ema_cross") -> EnableMatrix:
    return EnableMatrix(strategy, {"chop": RegimeCell(False, 12, -0.001, -1.0, 0.8),
                                   "trend": RegimeCell(True, 40, 0.002, 2.5, 0.01)},
                        RULE.model_dump())


def test_stored_matrix_is_loaded_with_its_digest_checked(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    before = load_governance(folder).digest
    after = add_enable_matrix(folder, _matrix())
    loaded = load_governance(folder, "ema_cross")
    assert loaded.digest == after != before
    assert loaded.matrix == _matrix() and loaded.matrix.enabled_regimes() == ("trend",)
    with pytest.raises(EnableMatrixError, match="of strategy 'ema_cross', the version is of"):
        load_governance(folder, "range_breakout")
    text = (folder / MATRIX_FILE).read_text().replace('"enabled": false', '"enabled": true')
    (folder / MATRIX_FILE).write_text(text)
    with pytest.raises(SignalGovernanceError, match="enable matrix was altered"):
        load_governance(folder)
    (folder / MATRIX_FILE).unlink()
    with pytest.raises(SignalGovernanceError, match="enable matrix is missing"):
        load_governance(folder)


def test_matrix_bad_input_is_refused_with_the_value_named() -> None:
    good = _matrix().to_json()
    classes = ("chop", "trend")
    assert matrix_from_json(good, "m", strategy="ema_cross", classes=classes) == _matrix()
    unknown = json.loads(json.dumps(good))
    unknown["regimes"]["crash"] = unknown["regimes"]["chop"]
    with pytest.raises(EnableMatrixError, match=r"names regime\(s\) \['crash'\] the classif"):
        matrix_from_json(unknown, "m", strategy=None, classes=classes)
    with pytest.raises(EnableMatrixError, match=r"no decision for .* \['high_vol'\]"):
        matrix_from_json(good, "m", strategy=None, classes=(*classes, "high_vol"))
    bad = json.loads(json.dumps(good))
    bad["regimes"]["trend"]["p_value"] = 1.5
    with pytest.raises(EnableMatrixError, match=r"regimes.trend.p_value = 1.5"):
        matrix_from_json(bad, "m", strategy=None, classes=classes)
    bad["regimes"]["trend"]["p_value"], bad["regimes"]["trend"]["enabled"] = 0.01, "yes"
    with pytest.raises(EnableMatrixError, match="enabled = 'yes'"):
        matrix_from_json(bad, "m", strategy=None, classes=classes)
    with pytest.raises(EnableMatrixError, match="not an enable matrix"):
        matrix_from_json([], "m", strategy=None, classes=classes)


def test_a_matrix_naming_an_unknown_regime_cannot_be_stored(tmp_path: Path) -> None:
    folder = governance_copy(tmp_path)
    crash = EnableMatrix("ema_cross", {**_matrix().cells,
                                       "crash": RegimeCell(True, 40, 0.01, 3.0, 0.001)}, {})
    with pytest.raises(EnableMatrixError, match="crash"):
        add_enable_matrix(folder, crash)
    assert not (folder / MATRIX_FILE).exists()
    assert load_governance(folder).matrix is None


def test_a_report_without_its_trial_matrix_gets_no_governed_dsr() -> None:
    from dataclasses import replace as dc_replace

    from tests.regime_stubs import labels_for
    bars = _bars(_frame())
    report, _, classifiers = _table(bars, labels_for(bars))
    bare = dc_replace(report, trials=pd.DataFrame())  # as a report stored without it
    out = study_enable_matrix(SPEC, bars, CONFIG, bare, classifiers, governance().model,
                              GATES, combos=COMBOS)
    assert "governed.dsr_probability" not in out.metrics  # the gate check fails closed
    assert out.metrics["governed.oos_trades"] >= 0
