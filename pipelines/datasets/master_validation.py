"""The instrument master's validation: the strict parser, then a Great Expectations suite.

:func:`strategies.instruments.parse_master` refuses a file that is not a Kite dump (header,
field types, duplicates, lot/tick, a FUT without expiry). The GX suite then checks what only
the whole table shows: unique tokens and symbols, every future on an NSE session with a
positive lot and tick, one future per underlying and expiry, futures on NFO. The DVC stage
that builds the synthetic master and ``stratops data import-instruments`` both run
:func:`validate_master`; a refused master is never stored.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines.datasets.gx_import import gc_paused, import_gx
from pipelines.datasets.validation import (
    Rule,
    RuleOutcome,
    ValidationReport,
    _expectation_id,
    _outcome,
    _quiet_gx,
)
from strategies.errors import RefusedError
from strategies.instruments import InstrumentMaster, parse_master
from strategies.venues import trading_days

KIND = "instrument_master"
BETWEEN = "expect_column_values_to_be_between"


class MasterRejectedError(RefusedError, ValueError):
    """The master failed its expectation suite; carries the report. Nothing was written."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.render())
        self.report = report


def master_rules() -> list[Rule]:
    """The suite's rules on the futures rows (index and other rows only need uniqueness)."""
    return [
        Rule("unique instrument_token", "all", "expect_column_values_to_be_unique",
             {"column": "instrument_token"}),
        Rule("unique exchange:tradingsymbol", "all", "expect_column_values_to_be_unique",
             {"column": "key"}),
        Rule("futures: lot_size > 0", "futures", BETWEEN,
             {"column": "lot_size", "min_value": 0, "strict_min": True}),
        Rule("futures: tick_size > 0", "futures", BETWEEN,
             {"column": "tick_size", "min_value": 0, "strict_min": True}),
        Rule("futures: expiry present", "futures", "expect_column_values_to_not_be_null",
             {"column": "expiry"}),
        Rule("futures: expiry is an NSE session", "futures",
             "expect_column_values_to_be_in_set",
             {"column": "expiry_is_session", "value_set": [True]}),
        Rule("futures: exchange NFO", "futures", "expect_column_values_to_be_in_set",
             {"column": "exchange", "value_set": ["NFO"]}),
        Rule("futures: one per underlying and expiry", "futures",
             "expect_compound_columns_to_be_unique", {"column_list": ["name", "expiry"]}),
    ]


def master_frames(master: InstrumentMaster) -> dict[str, pd.DataFrame]:
    """The two batches: every row (``all``) and the futures rows with their derived columns."""
    rows = pd.DataFrame({
        "line": range(2, len(master) + 2),
        "tradingsymbol": [c.tradingsymbol for c in master],
        "key": [f"{c.exchange}:{c.tradingsymbol}" for c in master],
        "instrument_token": [c.instrument_token for c in master],
        "name": [c.name for c in master],
        "expiry": [c.expiry.isoformat() if c.expiry else None for c in master],
        "lot_size": [c.lot_size for c in master],
        "tick_size": [c.tick_size for c in master],
        "exchange": [c.exchange for c in master],
        "is_future": [c.is_future for c in master],
    })
    futures = rows[rows["is_future"]].reset_index(drop=True)
    futures["expiry_is_session"] = _on_sessions(futures["expiry"])
    return {"all": rows, "futures": futures}


def _on_sessions(expiries: pd.Series) -> list[bool]:
    days = [date.fromisoformat(e) for e in expiries.dropna()]
    if not days:
        return [False] * len(expiries)
    sessions = {d.date() for d in trading_days("NSE", min(days) - timedelta(days=1),
                                                max(days))}
    return [e is not None and date.fromisoformat(e) in sessions for e in expiries]


def run_master_suite(frames: dict[str, pd.DataFrame], rules: list[Rule], *, name: str,
                     examples: int = 5) -> list[RuleOutcome]:
    """The rules on their batches in a GX ephemeral context (like the bar suites)."""
    gx = import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    outcomes: list[RuleOutcome] = []
    with _quiet_gx(), gc_paused():
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas(f"{name}_source")
        for batch_name, data in frames.items():
            batch_rules = [(r, r.to_gx()) for r in rules if r.batch == batch_name]
            suite = context.suites.add(gx.ExpectationSuite(
                name=f"{KIND}.{batch_name}", expectations=[e for _, e in batch_rules]))
            asset = source.add_dataframe_asset(f"{name}_{batch_name}")
            batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
                batch_parameters={"dataframe": data})
            result = batch.validate(suite, result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": ["line", "tradingsymbol"],
                "partial_unexpected_count": examples,
            })
            by_id = {e.id: r for r, e in batch_rules}
            outcomes += [_outcome(by_id[_expectation_id(res)], res, examples)
                         for res in result.results]
    order = {r.name: i for i, r in enumerate(rules)}
    outcomes.sort(key=lambda o: order[o.name])
    return outcomes


def validate_master(text: str, *, name: str, source: str) -> tuple[InstrumentMaster,
                                                                   ValidationReport]:
    """Parse ``text`` (a Kite dump) and run the suite; raises
    :class:`~strategies.instruments.InstrumentMasterError` (a structural problem) or
    :class:`MasterRejectedError` (a failed rule)."""
    master = parse_master(text, source=source)
    frames = master_frames(master)
    outcomes = run_master_suite(frames, master_rules(), name=name)
    report = ValidationReport(dataset=name, kind=KIND, rows=len(master), outcomes=outcomes)
    if not report.passed:
        raise MasterRejectedError(report)
    return master, report
