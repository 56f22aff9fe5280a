"""Great Expectations suites per dataset kind, and the readable report of a validation.

One suite per kind (intraday OHLCV, daily OHLCV, close-only daily), built from declarative
GX Core expectations over the bar rows and the per-session table of
:mod:`pipelines.datasets.validation_frames`. A failed expectation is reported with how many
rows failed and example rows with their source line numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from pipelines.datasets.gx_import import gc_paused, import_gx
from pipelines.datasets.schema import KIND_CLOSE_ONLY, KIND_DAILY, KIND_INTRADAY, KINDS
from pipelines.datasets.validation_frames import build_validation_frames


class ValidationConfig(BaseModel):
    """Thresholds of the suites (setting ``validation.*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_jump_pct: dict[str, float] = Field(
        default_factory=lambda: {KIND_INTRADAY: 8.0, KIND_DAILY: 70.0, KIND_CLOSE_ONLY: 70.0},
        description="largest close-to-close move (percent) before a bar counts as an outlier",
    )
    min_session_completeness: float = Field(0.9, ge=0.0, le=1.0)
    min_complete_sessions_share: float = Field(0.95, ge=0.0, le=1.0)
    examples: int = Field(5, ge=1, le=100)


@dataclass(frozen=True, slots=True)
class Rule:
    """One human-named rule: a GX Core expectation (its type and keyword arguments) checked on
    a batch. Declared as data so every caller (import, ``data validate``, the Dagster check)
    runs the same
    rule without importing Great Expectations (see :func:`validate_bars`)."""

    name: str
    batch: str  # "rows" or "sessions"
    expectation: str  # GX expectation type, e.g. "expect_column_values_to_not_be_null"
    kwargs: dict[str, Any]

    def to_gx(self) -> Any:
        """The GX Core expectation object for this rule."""
        gxe = import_gx().expectations
        cls = "".join(part.title() for part in self.expectation.split("_"))
        return getattr(gxe, cls)(**self.kwargs)


def _rule(name: str, batch: str, expectation: str, **kwargs: Any) -> Rule:
    return Rule(name, batch, expectation, kwargs)


@dataclass(slots=True)
class RuleOutcome:
    """The result of one rule: counts and example failing rows (with their lines)."""

    name: str
    expectation: str
    passed: bool
    failed: int
    checked: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    observed: Any = None


@dataclass(slots=True)
class ValidationReport:
    """All rule outcomes for one dataset plus the session-completeness summary."""

    dataset: str
    kind: str
    rows: int
    outcomes: list[RuleOutcome]
    sessions: int = 0
    missing_bars: int = 0
    incomplete_sessions: int = 0

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def failures(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if not o.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "kind": self.kind, "rows": self.rows,
            "passed": self.passed, "sessions": self.sessions,
            "missing_bars": self.missing_bars, "incomplete_sessions": self.incomplete_sessions,
            "rules": [
                {"name": o.name, "expectation": o.expectation, "passed": o.passed,
                 "failed": o.failed, "checked": o.checked, "examples": o.examples}
                for o in self.outcomes
            ],
        }

    def render(self, *, verbose: bool = False) -> str:
        """Plain-text report: failed rules with example rows (every rule when ``verbose``)."""
        head = "PASSED" if self.passed else f"FAILED ({len(self.failures)} rule(s))"
        out = [
            f"{self.dataset} [{self.kind}] {self.rows} rows: {head}",
            f"  sessions {self.sessions}, missing bars {self.missing_bars}, "
            f"incomplete sessions {self.incomplete_sessions}",
        ]
        shown = self.outcomes if verbose else self.failures
        if not verbose:
            out.append(f"  {len(self.outcomes) - len(self.failures)} of {len(self.outcomes)} "
                       "rules passed (--verbose lists them)")
        for o in shown:
            mark = "ok  " if o.passed else "FAIL"
            counts = f"{o.failed}/{o.checked} failing" if o.checked else "table-level"
            out.append(f"  {mark} {o.name}: {counts} [{o.expectation}]")
            if not o.passed and o.observed is not None and not o.examples:
                out.append(f"       observed: {o.observed}")
            for example in o.examples if not o.passed else []:
                out.append("       " + ", ".join(f"{k}={_fmt(v)}" for k, v in example.items()))
        return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def suite_rules(kind: str, *, has_volume: bool, config: ValidationConfig) -> list[Rule]:
    """The rules of the suite for ``kind``, in report order."""
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")
    between, pair = "expect_column_values_to_be_between", \
        "expect_column_pair_values_a_to_be_greater_than_b"
    max_jump = config.max_jump_pct.get(kind, 100.0)
    rules = [
        _rule("schema: columns present", "rows", "expect_table_columns_to_match_set",
              column_set=["ts", "symbol", "open", "high", "low", "close", "volume"],
              exact_match=False),
        _rule("schema: ts is a timestamp", "rows", "expect_column_values_to_be_of_type",
              column="ts", type_="Timestamp"),
        *(_rule(f"schema: {c} is float64", "rows", "expect_column_values_to_be_of_type",
                column=c, type_="float64") for c in ("open", "high", "low", "close", "volume")),
        *(_rule(f"no nulls: {c}", "rows", "expect_column_values_to_not_be_null", column=c)
          for c in ("ts", "symbol", "open", "high", "low", "close", "volume")
          if c != "volume" or has_volume),
        *(_rule(f"prices > 0: {c}", "rows", between, column=c, min_value=0, strict_min=True)
          for c in ("open", "high", "low", "close")),
        _rule("high >= open", "rows", pair, column_A="high", column_B="open", or_equal=True),
        _rule("high >= close", "rows", pair, column_A="high", column_B="close", or_equal=True),
        _rule("low <= open", "rows", pair, column_A="open", column_B="low", or_equal=True),
        _rule("low <= close", "rows", pair, column_A="close", column_B="low", or_equal=True),
        _rule("unique (symbol, ts)", "rows", "expect_compound_columns_to_be_unique",
              column_list=["symbol", "ts"]),
        _rule("ts strictly increasing per symbol", "rows", between, column="ts_step_s",
              min_value=0, strict_min=True),
        _rule("bars inside the venue's sessions", "rows", "expect_column_values_to_be_in_set",
              column="in_session", value_set=[True]),
        _rule(f"no jumps above {max_jump}%", "rows", between, column="jump_pct",
              max_value=max_jump),
        _rule(f"session completeness >= {config.min_session_completeness:.0%} in "
              f"{config.min_complete_sessions_share:.0%} of sessions", "sessions", between,
              column="completeness", min_value=config.min_session_completeness,
              mostly=config.min_complete_sessions_share),
    ]
    if has_volume:
        rules.append(_rule("volume >= 0", "rows", between, column="volume", min_value=0))
    return rules


@contextmanager
def _quiet_gx() -> Iterator[None]:
    logger = logging.getLogger("great_expectations")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


_EXAMPLE_KEYS = {"rows": ["line", "symbol", "ts"], "sessions": ["symbol", "session"]}


def _expectation_id(result: Any) -> str | None:
    """The id of the expectation a result is for (GX types the configuration optional)."""
    config = result.expectation_config
    if config is None:
        raise RuntimeError("Great Expectations returned a result without its expectation")
    identifier: str | None = config.id
    return identifier


def _outcome(rule: Rule, result: Any, limit: int) -> RuleOutcome:
    res = result.result or {}
    examples = [
        {k: v for k, v in row.items()} for row in (res.get("unexpected_index_list") or [])[:limit]
        if isinstance(row, dict)
    ]
    checked = int(res.get("element_count") or 0)
    failed = int(res.get("unexpected_count") or (0 if result.success else 1))
    if rule.name.startswith("schema:") and not result.success:
        failed = max(failed, 1)
    return RuleOutcome(
        name=rule.name, expectation=result.expectation_config.type, passed=bool(result.success),
        failed=failed, checked=checked, examples=examples, observed=res.get("observed_value")
        or res.get("details"),
    )


def validate_bars(
    frame: pd.DataFrame, *, name: str, kind: str, venue: str, timeframe: str, has_volume: bool,
    config: ValidationConfig | None = None, run_suite: Callable[..., list[RuleOutcome]]
    | None = None,
) -> ValidationReport:
    """Run the suite for ``kind`` on ``frame`` (normalised schema, optional ``line`` column)
    in a Great Expectations ephemeral context (``data import``, ``data validate`` and the
    Dagster blocking check alike). ``run_suite``: where :func:`run_gx_suite` runs (``data
    import`` passes its forked worker's, :mod:`pipelines.datasets.gx_worker`)."""
    config = config or ValidationConfig()
    frames = build_validation_frames(frame, venue=venue, timeframe=timeframe)
    rules = suite_rules(kind, has_volume=has_volume, config=config)
    outcomes = (run_suite or run_gx_suite)(frames.rows, frames.sessions, rules, name=name,
                                           kind=kind, config=config)
    sessions = frames.sessions
    return ValidationReport(
        dataset=name, kind=kind, rows=len(frame), outcomes=outcomes, sessions=len(sessions),
        missing_bars=int(sessions["missing_bars"].sum()) if len(sessions) else 0,
        incomplete_sessions=int((sessions["completeness"] < 1.0).sum()) if len(sessions) else 0,
    )


def run_gx_suite(rows: pd.DataFrame, sessions: pd.DataFrame, rules: list[Rule], *, name: str,
                 kind: str, config: ValidationConfig) -> list[RuleOutcome]:
    """The rules on the two batches (bar rows, sessions) in a GX ephemeral context."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    outcomes: list[RuleOutcome] = []
    with _quiet_gx(), gc_paused():  # GX builds a large object graph per run; see gx_import
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas(f"{name}_source")
        for batch_name, data in (("rows", rows), ("sessions", sessions)):
            batch_rules = [(r, r.to_gx()) for r in rules if r.batch == batch_name]
            suite = context.suites.add(gx.ExpectationSuite(
                name=f"{kind}.{batch_name}", expectations=[e for _, e in batch_rules]))
            asset = source.add_dataframe_asset(f"{name}_{batch_name}")
            batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
                batch_parameters={"dataframe": data})
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": _EXAMPLE_KEYS[batch_name],
                "partial_unexpected_count": config.examples,
            })
            by_id = {e.id: r for r, e in batch_rules}
            outcomes += [_outcome(by_id[_expectation_id(res)], res, config.examples)
                         for res in result.results]
    order = {r.name: i for i, r in enumerate(rules)}
    outcomes.sort(key=lambda o: order[o.name])
    return outcomes
