"""The live runner trades the session's futures contract: intents, risk proposals and
positions carry it; a missing or expired contract is refused; reconciliation compares
contracts with contracts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from live.adapters.paper import FillModel, PaperExchange
from live.contracts import ContractBook, version_contract_problems
from live.db import make_engine
from live.events import AlertRaised, OrderIntended, RiskChecked
from live.journal import open_journal
from live.risk.interface import OrderProposal, RiskDecision
from live.runner.broker_reconciliation import journal_positions
from live.runner.deployments import build
from live.runner.feed import replay_bars, replay_frame
from live.runner.runner import Runner
from live.state import LiveState, Position, state_dict
from pipelines.datasets.instrument_master import build_master
from strategies.contracts import ExpiredContractError, RollRule, UnknownUnderlyingError
from strategies.instruments import InstrumentMaster, UnknownInstrumentError
from strategies.params import get_params
from strategies.roster import get_strategy
from strategies.version_config import VersionConfig
from tests.synthetic_datasets import nse_index_1m_path

MASTER = build_master(date(2025, 1, 1), date(2025, 12, 31))
BOOK = ContractBook(MASTER, RollRule(days_before_expiry=1))
IST_0915 = datetime(2025, 3, 3, 3, 45, tzinfo=UTC)  # 09:15 Asia/Kolkata
FIRST_ENTRY = 22  # EMA cross's first entry on 2025-03-03 (see test_runner_engine)


class RecordingRisk:
    """Passes everything and keeps each proposal (a risk engine of the protocol)."""

    def __init__(self) -> None:
        self.proposals: list[OrderProposal] = []

    def check(self, proposal: OrderProposal, state: LiveState) -> RiskDecision:
        self.proposals.append(proposal)
        return RiskDecision(True, "recorded", "test")

    def remember(self, proposal: OrderProposal) -> None:
        return None


def _runner(folder: Path, book: ContractBook | None, risk: RecordingRisk) -> Runner:
    spec = get_strategy("ema_cross")
    config = VersionConfig.from_json({
        "strategy": "ema_cross", "params": get_params(spec.default_params()), "venue": "NSE",
        "cutoff": "venue", "symbols": ["NIFTY"],
        "sim": {"qty_lots": 1, "lot_size": 75, "slippage_ticks": 1.0, "tick_size": 0.05}})
    exchange = PaperExchange(make_engine(f"sqlite:///{folder / 'exchange.db'}"), seed=3,
                             fill_model=FillModel(fill="next_open", slippage_ticks=1.0,
                                                  tick_size=0.05))
    journal = open_journal(f"sqlite:///{folder / 'journal.db'}",
                           clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    return Runner(journal=journal, broker=exchange,
                  deployed=[build(config, 1, "live", 1.0, "0" * 64)], mode="live",
                  clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), risk=risk,
                  market=lambda b: exchange.on_bar(b.symbol, b.ts, b.open, b.high, b.low,
                                                   b.close),
                  contracts=book)


def _first_bars(count: int) -> list:
    frame = replay_frame(nse_index_1m_path(), ["NIFTY"], date(2025, 3, 3), date(2025, 3, 3))
    return list(replay_bars(frame))[:count]


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runner, RecordingRisk]:
    risk = RecordingRisk()
    runner = _runner(tmp_path_factory.mktemp("contract"), BOOK, risk)
    runner.recover()
    runner.run(_first_bars(FIRST_ENTRY + 3))
    return runner, risk


def _messages(runner: Runner, kind: type) -> list:
    return [m for _, m in runner.journal.read() if isinstance(m, kind)]


def test_live_intent_carries_the_session_contract(traded: tuple[Runner, RecordingRisk]
                                                  ) -> None:
    runner, _ = traded
    (intent,) = _messages(runner, OrderIntended)
    assert (intent.symbol, intent.tradingsymbol, intent.expiry) == (
        "NIFTY", "NIFTY25MARFUT", date(2025, 3, 27))
    assert intent.to_request().tradingsymbol == "NIFTY25MARFUT"


def test_risk_proposal_carries_the_contract_expiry_and_lot(
        traded: tuple[Runner, RecordingRisk]) -> None:
    _, risk = traded
    assert [(p.expiry, p.lot_size) for p in risk.proposals] == [(date(2025, 3, 27), 75)]


def test_position_carries_its_contract(traded: tuple[Runner, RecordingRisk]) -> None:
    runner, _ = traded
    pos = runner.state.positions[("ema_cross", "NIFTY")]
    assert pos.net_qty == -75
    assert (pos.tradingsymbol, pos.expiry) == ("NIFTY25MARFUT", date(2025, 3, 27))


def test_underlying_missing_from_master_denies_and_alerts(tmp_path: Path) -> None:
    only_bank = InstrumentMaster([c for c in MASTER if c.name != "NIFTY"])
    risk = RecordingRisk()
    runner = _runner(tmp_path, ContractBook(only_bank, RollRule()), risk)
    runner.recover()
    runner.run(_first_bars(FIRST_ENTRY + 3))
    assert _messages(runner, OrderIntended) == []
    assert risk.proposals == []  # never reached the risk engine: nothing to check
    (denial,) = [m for m in _messages(runner, RiskChecked) if not m.passed]
    assert denial.check == "instrument" and "'NIFTY' has no futures" in denial.reason
    assert [a.code for a in _messages(runner, AlertRaised)] == ["instrument"]


def test_book_front_contract_and_held_contract() -> None:
    roll_eve = datetime(2025, 3, 25, 4, 0, tzinfo=UTC)  # 09:30 IST; Mar expiry the 27th
    assert BOOK.for_order("NIFTY", roll_eve, None).tradingsymbol == "NIFTY25MARFUT"
    roll_day = datetime(2025, 3, 26, 4, 0, tzinfo=UTC)
    assert BOOK.for_order("NIFTY", roll_day, None).tradingsymbol == "NIFTY25APRFUT"
    # an exit trades the contract the position is in, not today's front one
    assert BOOK.for_order("NIFTY", roll_day, "NIFTY25MARFUT").tradingsymbol == \
        "NIFTY25MARFUT"


def test_book_refuses_an_expired_held_contract() -> None:
    after = datetime(2025, 3, 28, 4, 0, tzinfo=UTC)
    with pytest.raises(ExpiredContractError, match="NIFTY25MARFUT expired on 2025-03-27"):
        BOOK.for_order("NIFTY", after, "NIFTY25MARFUT")


def test_book_refuses_an_instrument_missing_from_master() -> None:
    with pytest.raises(UnknownInstrumentError, match="NFO:NIFTY24MARFUT"):
        BOOK.for_order("NIFTY", IST_0915, "NIFTY24MARFUT")
    with pytest.raises(UnknownUnderlyingError):
        BOOK.for_order("FINNIFTY", IST_0915, None)


def test_version_whose_lot_size_contradicts_the_master_is_refused() -> None:
    day = date(2025, 3, 3)
    assert version_contract_problems(BOOK, ("NIFTY",), day, lot_size=75, tick_size=0.05) == []
    (lot,) = version_contract_problems(BOOK, ("NIFTY",), day, lot_size=50, tick_size=0.05)
    assert "simulates lot size 50, the master says 75 for NIFTY25MARFUT" in lot
    (tick,) = version_contract_problems(BOOK, ("NIFTY",), day, lot_size=75, tick_size=0.1)
    assert "tick size 0.1" in tick
    (missing,) = version_contract_problems(BOOK, ("SENSEX",), day, lot_size=10,
                                           tick_size=0.05)
    assert "'SENSEX' has no futures" in missing


def test_reconciliation_keys_positions_by_contract_for_a_contract_broker() -> None:
    state = LiveState()
    state.positions[("a", "NIFTY")] = Position(net_qty=75, tradingsymbol="NIFTY25MARFUT",
                                               expiry=date(2025, 3, 27))
    state.positions[("b", "NIFTY")] = Position(net_qty=-75, tradingsymbol="NIFTY25APRFUT",
                                               expiry=date(2025, 4, 24))
    state.positions[("c", "NIFTY")] = Position(net_qty=75)  # no contract known
    assert journal_positions(state, by_contract=True) == {
        "NIFTY25MARFUT": 75, "NIFTY25APRFUT": -75, "NIFTY": 75}
    assert journal_positions(state, by_contract=False) == {"NIFTY": 75}


def test_state_of_a_history_without_contracts_keeps_its_form() -> None:
    state = LiveState()
    state.positions[("a", "NIFTY")] = Position(net_qty=75, avg_price=1.0)
    assert state_dict(state)["positions"] == {
        "a": {"NIFTY": {"net_qty": 75, "avg_price": 1.0, "realised_pnl_inr": 0.0}}}


def test_fill_reported_under_the_contract_is_journaled_under_the_order_symbol() -> None:
    from live.broker import Side
    from live.runner.execution import journal_symbol
    from live.state import OrderRecord

    order = OrderRecord(client_key="k", trace_id="t", strategy="s", symbol="NIFTY",
                        side=Side.BUY, qty=75, tradingsymbol="NIFTY25MARFUT")
    assert journal_symbol(order, "NIFTY25MARFUT") == "NIFTY"  # Kite reports the contract
    assert journal_symbol(order, "NIFTY") == "NIFTY"  # the paper exchange, the feed symbol
    assert journal_symbol(order, "NIFTY25APRFUT") == "NIFTY25APRFUT"  # not ours: a break
    assert journal_symbol(None, "NIFTY25MARFUT") == "NIFTY25MARFUT"


def test_kite_order_params_send_the_contract() -> None:
    from live.adapters.kite.parsing import place_order_kwargs
    from live.broker import OrderRequest, Side

    request = OrderRequest(client_key="so1", symbol="NIFTY", exchange="NFO", side=Side.BUY,
                           qty=75, tradingsymbol="NIFTY25MARFUT", expiry=date(2025, 3, 27))
    assert place_order_kwargs(request)["tradingsymbol"] == "NIFTY25MARFUT"


def test_contract_whose_lot_size_changed_denies_the_entry(tmp_path: Path) -> None:
    from dataclasses import replace

    revised = InstrumentMaster([replace(c, lot_size=65) if c.name == "NIFTY" else c
                                for c in MASTER])
    risk = RecordingRisk()
    runner = _runner(tmp_path, ContractBook(revised, RollRule()), risk)
    runner.recover()
    runner.run(_first_bars(FIRST_ENTRY + 3))
    assert _messages(runner, OrderIntended) == [] and risk.proposals == []
    (denial,) = [m for m in _messages(runner, RiskChecked) if not m.passed]
    assert denial.check == "instrument"
    assert "simulates lot size 75, the master says 65 for NIFTY25MARFUT" in denial.reason


def test_session_tokens_map_each_front_contract_token() -> None:
    tokens = BOOK.session_tokens(["NIFTY", "BANKNIFTY"], date(2025, 3, 3))
    assert sorted((c.name, c.tradingsymbol) for c in tokens.values()) == [
        ("BANKNIFTY", "BANKNIFTY25MARFUT"), ("NIFTY", "NIFTY25MARFUT")]
    assert all(t == c.instrument_token and MASTER.by_symbol(c.tradingsymbol) == c
               for t, c in tokens.items())
