"""Evaluate the suite's GX Core expectations in vectorised pandas, with GX's semantics.

``data import`` validates a file before anything is stored; importing Great Expectations
costs 2-4 s of a command that should take about one. This module evaluates the *same*
declarative rules (:class:`pipelines.datasets.validation.Rule`: expectation type and keyword
arguments) the way GX's pandas execution engine does:

- column-map expectations ignore null values (``expect_column_values_to_not_be_null`` aside);
  ``checked`` is the row count, ``failed`` the unexpected count, and ``mostly`` passes when the
  share of non-null values that are expected is at least ``mostly``;
- a column pair is ignored only when both values are missing (a NaN on one side fails);
- compound uniqueness flags every row of a duplicated group, ignoring all-missing rows;
- type checks compare the column's dtype, or each non-null value when the column is object;
- a rule that cannot be evaluated (a missing column, an incomparable type) fails with
  ``failed=1, checked=0``, like GX's exception results.

``tests/unit/test_rule_engine.py`` checks both engines give identical outcomes on every
fixture of the validation tests. An expectation type not listed here is an error, so a rule
added to the suite cannot silently skip this engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipelines.datasets.validation import Rule, RuleOutcome


class _Unevaluable(Exception):
    """The rule cannot be evaluated on this batch (GX reports an exception)."""


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise _Unevaluable(f"column {name!r} is missing")
    return frame[name]


def _not_null(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray, None]:
    return _column(frame, kw["column"]).isna().to_numpy(), None


def _between(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray, None]:
    col = _column(frame, kw["column"])
    present = col.notna().to_numpy()
    values = col.to_numpy()
    ok = np.ones(len(col), dtype=bool)
    low, high = kw.get("min_value"), kw.get("max_value")
    try:
        with np.errstate(invalid="ignore"):  # NaN compares False; nulls are masked below
            if low is not None:
                ok &= (values > low) if kw.get("strict_min") else (values >= low)
            if high is not None:
                ok &= (values < high) if kw.get("strict_max") else (values <= high)
    except TypeError as exc:
        raise _Unevaluable(f"column {kw['column']!r} is not comparable: {exc}") from exc
    return present & ~ok, None


def _in_set(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray, None]:
    col = _column(frame, kw["column"])
    return (col.notna() & ~col.isin(kw["value_set"])).to_numpy(), None


def _pair(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray, None]:
    a, b = _column(frame, kw["column_A"]), _column(frame, kw["column_B"])
    both_missing = (a.isna() & b.isna()).to_numpy()
    try:
        ok = (a >= b) if kw.get("or_equal") else (a > b)
    except TypeError as exc:
        raise _Unevaluable(f"columns {kw['column_A']!r}, {kw['column_B']!r}: {exc}") from exc
    return ~both_missing & ~ok.to_numpy(dtype=bool, na_value=False), None


def _unique(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray, None]:
    cols = [_column(frame, c) for c in kw["column_list"]]
    sub = pd.concat(cols, axis=1)
    all_missing = sub.isna().all(axis=1).to_numpy()
    return ~all_missing & sub.duplicated(keep=False).to_numpy(), None


def _type_matches(expected: str) -> tuple[type, ...]:
    try:
        return (np.dtype(expected).type,)
    except TypeError:
        found = getattr(pd, expected, None)
        return (found,) if isinstance(found, type) else ()


def _of_type(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[np.ndarray | None, Any]:
    col = _column(frame, kw["column"])
    types = _type_matches(kw["type_"])
    if col.dtype == object and kw["type_"] not in ("object", "object_", "O"):
        return np.array([v is not None and v == v and not isinstance(v, types)
                         for v in col.to_numpy()], dtype=bool), None
    return None, col.dtype.type


def _columns_match(frame: pd.DataFrame, kw: dict[str, Any]) -> tuple[None, Any]:
    return None, sorted(str(c) for c in frame.columns)


_MAP: dict[str, Callable[[pd.DataFrame, dict[str, Any]], tuple[Any, Any]]] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair,
    "expect_compound_columns_to_be_unique": _unique,
    "expect_column_values_to_be_of_type": _of_type,
    "expect_table_columns_to_match_set": _columns_match,
}


def _example_columns(rule: Rule) -> list[str]:
    kw = rule.kwargs
    if "column" in kw:
        return [kw["column"]]
    if "column_A" in kw:
        return [kw["column_A"], kw["column_B"]]
    return list(kw.get("column_list", []))


def evaluate(rule: Rule, frame: pd.DataFrame, keys: list[str], limit: int) -> RuleOutcome:
    """The outcome of ``rule`` on ``frame``; examples carry ``keys`` (e.g. line, symbol, ts)
    and the checked column values of the first ``limit`` failing rows."""
    from pipelines.datasets.validation import RuleOutcome

    check = _MAP.get(rule.expectation)
    if check is None:
        raise ValueError(f"rule {rule.name!r}: expectation {rule.expectation!r} has no pandas "
                         f"evaluation; known: {sorted(_MAP)}")
    base = {"name": rule.name, "expectation": rule.expectation}
    try:
        unexpected, observed = check(frame, rule.kwargs)
    except _Unevaluable as exc:
        return RuleOutcome(**base, passed=False, failed=1, checked=0, observed=str(exc))
    if rule.expectation == "expect_table_columns_to_match_set":
        missing = sorted(set(rule.kwargs["column_set"]) - set(observed))
        return RuleOutcome(**base, passed=not missing, failed=1 if missing else 0, checked=0,
                           observed=observed)
    if unexpected is None:  # a dtype-level type check
        passed = observed in _type_matches(rule.kwargs["type_"])
        return RuleOutcome(**base, passed=passed, failed=0 if passed else 1, checked=0,
                           observed=observed.__name__)
    failed = int(unexpected.sum())
    mostly = rule.kwargs.get("mostly")
    if mostly is None or rule.expectation == "expect_column_values_to_not_be_null":
        passed = failed == 0
    else:
        nonnull = int(_column(frame, rule.kwargs["column"]).notna().sum())
        passed = nonnull == 0 or (nonnull - failed) / nonnull >= mostly
    cols = [c for c in _example_columns(rule) if c not in keys]
    picked = frame.loc[unexpected, cols + [k for k in keys if k in frame.columns]].head(limit)
    examples = [dict(zip(picked.columns, row, strict=True))
                for row in picked.itertuples(index=False, name=None)]
    return RuleOutcome(**base, passed=passed, failed=failed, checked=len(frame),
                       examples=examples, observed=None)
