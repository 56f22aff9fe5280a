"""The live runner's instruments: the configured master read and parsed, the contract book,
and the versions whose simulated lot or tick size the master contradicts."""

from __future__ import annotations

from datetime import date
from typing import Any

from live.contracts import ContractBook, version_contract_problems
from strategies.contracts import RollRule
from strategies.instruments import InstrumentMasterError, parse_master
from stratops.errors import LiveSetupError
from stratops.settings import Settings


def contract_book(settings: Settings) -> ContractBook:
    """The book over ``instruments.master_file`` with ``instruments.roll_days_before_expiry``;
    a missing or invalid master refuses the run (:class:`LiveSetupError`)."""
    path = settings.path(settings.instruments.master_file)
    if not path.is_file():
        raise LiveSetupError(f"instrument master {path} is missing (instruments.master_file): "
                             "run `stratops data build` or `dvc pull`, or import a Kite dump "
                             "with `stratops data import-instruments`")
    try:
        master = parse_master(path.read_text(encoding="utf-8-sig"), source=str(path))
    except (InstrumentMasterError, UnicodeDecodeError) as exc:
        raise LiveSetupError(f"instrument master refused: {exc}") from exc
    rule = RollRule(days_before_expiry=settings.instruments.roll_days_before_expiry)
    return ContractBook(master, rule)


def contract_refusals(book: ContractBook, deployed: list[Any], day: date, venues: tuple[str, ...]
                      ) -> tuple[list[Any], list[tuple[str, str]]]:
    """(versions that may trade on ``day``, (strategy, reason) of those refused): a version
    on a contract venue whose underlying is missing from the master, has no current contract,
    or simulates a lot or tick size the master contradicts is refused (the master is the
    exchange's word; resizing silently would trade what research never tested)."""
    kept, refused = [], []
    for d in deployed:
        if d.venue not in venues:
            kept.append(d)
            continue
        problems = version_contract_problems(
            book, d.symbols, day, lot_size=d.lot_size, tick_size=d.tick_size,
            symbol_sizes={s: (d.lot_for(s), d.tick_for(s)) for s in d.symbols})
        if problems:
            refused.append((d.strategy, "; ".join(problems)))
        else:
            kept.append(d)
    return kept, refused
