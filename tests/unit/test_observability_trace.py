"""A trade's timeline (``stratops trace show``) and its OpenTelemetry spans, from a real
runner's journal: one session of the synthetic NSE day, ema_cross on the paper exchange."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from live.adapters.paper import FillModel, PaperExchange
from live.bus import Envelope
from live.db import make_engine
from live.events import OrderFilled, OrderIntended, SignalRaised, TradeExited
from live.journal import Journal, open_journal
from live.observability.timeline import (
    TraceNotFoundError,
    closing_trace,
    timeline,
    trace_steps,
)
from live.observability.tracing import SpanEmitter, otel_span_id, otel_trace_id
from live.runner.deployments import build
from live.runner.feed import replay_bars, replay_frame
from live.runner.runner import Runner
from strategies.version_config import VersionConfig
from stratops.cli import main
from tests.doubles import PassThroughRisk
from tests.serve_days import strategy_config
from tests.synthetic_datasets import nse_index_1m_path

DAY = date(2025, 3, 3)


class Session:
    def __init__(self, journal: Journal, spans: list[ReadableSpan], folder: Path) -> None:
        self.journal, self.spans, self.folder = journal, spans, folder
        messages = [m for _, m in journal.read()]
        filled = {m.trace_id for m in messages if isinstance(m, OrderFilled)}
        self.trace = next(m.trace_id for m in messages
                          if isinstance(m, OrderIntended) and m.trace_id in filled)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    folder = tmp_path_factory.mktemp("trace")
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    deployed = build(VersionConfig.from_json(strategy_config()), 1, "live", 1.0, "0" * 64)
    journal = open_journal(f"sqlite:///{folder / 'live.db'}", clock=lambda: datetime.now(UTC))
    runner = Runner(journal=journal, broker=exchange, deployed=[deployed], mode="live",
                    clock=lambda: datetime.now(UTC), risk=PassThroughRisk(),
                    market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                     b.close))
    exporter = InMemorySpanExporter()
    emitter = SpanEmitter(SimpleSpanProcessor(exporter), service_name="test")
    emitter.attach(journal.head()[0])
    runner.bus.subscribe_all(emitter)
    runner.observer = emitter
    runner.recover()
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], DAY, DAY).iloc[:200]
    runner.run(replay_bars(frame))  # flat out: no idle turn, the spans wait
    assert exporter.get_finished_spans() == ()
    emitter.flush()  # as Observability.close does
    yield Session(journal, list(exporter.get_finished_spans()), folder)


def test_trace_steps_of_a_filled_entry_run_signal_risk_order_fill_in_seq_order(
        session: Session) -> None:
    steps = trace_steps(session.journal, session.trace)
    names = [s.name for s in steps]
    assert names[0] == "signal"
    for earlier, later in (("signal", "risk"), ("risk", "order.intent"),
                           ("order.intent", "order.submit"), ("order.submit", "fill")):
        assert names.index(earlier) < names.index(later), names
    assert [s.seq for s in steps] == sorted(s.seq for s in steps)
    assert {s.message.trace_id for s in steps} == {session.trace}


def test_closing_trace_of_an_entry_is_the_later_trace_that_exited_its_position(
        session: Session) -> None:
    entry = trace_steps(session.journal, session.trace)
    closing = closing_trace(session.journal, entry)
    assert closing is not None and closing != session.trace
    steps = trace_steps(session.journal, closing)
    exited = [s.message for s in steps if isinstance(s.message, TradeExited)]
    assert exited and exited[0].strategy == "ema_cross" and exited[0].symbol == "NIFTY"
    assert steps[0].seq > max(s.seq for s in entry if s.name == "fill")
    assert isinstance(steps[0].message, SignalRaised)
    assert closing_trace(session.journal, steps) is None  # an exit closes nothing later


def test_trace_steps_of_an_unknown_id_raise_naming_it(session: Session) -> None:
    with pytest.raises(TraceNotFoundError, match="trNOPE"):
        trace_steps(session.journal, "trNOPE")


def test_timeline_latencies_are_differences_of_the_journal_times(session: Session) -> None:
    rows = timeline(trace_steps(session.journal, session.trace))
    assert rows[0].record_since_prev_ms == rows[0].event_since_first_ms == 0
    for before, row in itertools.pairwise(rows):
        expected = (row.step.ts_record - before.step.ts_record).total_seconds() * 1e3
        assert row.record_since_prev_ms == pytest.approx(expected)
        assert row.record_since_first_ms == pytest.approx(
            before.record_since_first_ms + row.record_since_prev_ms)
    fill = next(r for r in rows if r.step.name == "fill")
    assert "@" in fill.detail and fill.event_since_first_ms >= 0


def test_spans_of_a_trace_chain_each_step_to_the_previous_under_the_derived_id(
        session: Session) -> None:
    trace_int = otel_trace_id(session.trace)
    spans = [s for s in session.spans if s.context.trace_id == trace_int]
    steps = trace_steps(session.journal, session.trace)
    assert [s.name for s in spans] == [s.name for s in steps]
    assert [s.context.span_id for s in spans] == [otel_span_id(session.trace, s.seq)
                                                  for s in steps]
    assert spans[0].parent is None
    for parent, child in itertools.pairwise(spans):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id
        assert child.start_time == parent.end_time <= child.end_time


def test_spans_of_a_replayed_journal_have_the_same_ids(session: Session) -> None:
    exporter = InMemorySpanExporter()
    emitter = SpanEmitter(SimpleSpanProcessor(exporter), service_name="replay")
    for seq, message in session.journal.read():
        emitter(Envelope(message.KIND, f"replay:{seq}", (message,)))
        emitter.tick(bar=True)  # a bar's turn builds nothing
    assert exporter.get_finished_spans() == ()
    emitter.tick(bar=False)  # an idle turn builds them all
    again = {(s.context.trace_id, s.context.span_id, s.name, s.start_time, s.end_time)
             for s in exporter.get_finished_spans()}
    live = {(s.context.trace_id, s.context.span_id, s.name, s.start_time, s.end_time)
            for s in session.spans}
    assert live and again == live


def test_trace_show_cli_prints_the_timeline_and_refuses_an_unknown_id(
        session: Session, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STRATOPS_LIVE__JOURNAL_URL", f"sqlite:///{session.folder}/{{mode}}.db")
    assert main(["trace", "show", session.trace, "--mode", "live", "--json"]) == 0
    shown = capsys.readouterr().out
    assert '"step": "fill"' in shown and f"{otel_trace_id(session.trace):032x}" in shown
    assert '"closed_by": {' in shown and '"step": "exit"' in shown
    assert main(["trace", "show", "trNOPE", "--mode", "live"]) == 2
    assert "error: trace 'trNOPE': no journal entry carries it" in capsys.readouterr().err
