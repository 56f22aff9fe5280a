"""A SYNTHETIC instrument master in Kite's instruments-dump format (NIFTY, BANKNIFTY futures).

No network here, so no real dump: this writes a clearly labelled stand-in, deterministic
(no randomness at all) for the period of the repo's data
(2025) and the live service (2026). What is real and what is not:

* **Real rules.** Monthly index futures expire on the last Thursday of the month up to the
  August 2025 series and on the last Tuesday from the September 2025 series (NSE's change of
  expiry day, 2025-09-01); an expiry that falls on a holiday moves to the previous trading
  day (pandas-market-calendars ``XNSE``). Tick size 0.05. Tradingsymbols follow Kite's form
  ``NIFTY25JANFUT``; exchange ``NFO``, segment ``NFO-FUT``; index rows ``NIFTY 50`` (token
  256265) and ``NIFTY BANK`` (260105) with segment ``INDICES``, as in Kite's dump.
* **Illustrative.** Lot sizes NIFTY 75 and BANKNIFTY 35 for every expiry, the values the
  synthetic bars use (:mod:`pipelines.datasets.synthetic_nse`); NSE revises lot sizes from
  time to time, so check a real dump before trading. Instrument and exchange tokens of the
  futures are made up (``instrument_token = exchange_token * 256 + 2``, Kite's NFO layout).
  A real dump lists only the contracts listed that day; this one holds every month in range.

Run ``python -m pipelines.datasets.instrument_master --out data/instruments/kite_instruments.csv``
(the file is validated like an imported dump, :mod:`pipelines.datasets.master_validation`).
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

from strategies.files import atomic_write
from strategies.instruments import Contract, InstrumentMaster
from strategies.venues import trading_days

#: (underlying, lot size (illustrative, as the synthetic bars), first exchange token).
FUTURES = (("NIFTY", 75, 52000), ("BANKNIFTY", 35, 53000))
TICK_SIZE = 0.05
NFO_SEGMENT_ID = 2
#: Kite's index rows: (tradingsymbol, instrument_token, exchange_token, underlying).
INDEX_ROWS = (("NIFTY 50", 256265, 1001, "NIFTY"), ("NIFTY BANK", 260105, 1016, "BANKNIFTY"))
TUESDAY_FROM = date(2025, 9, 1)  # monthly index expiries moved from Thursday to Tuesday
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def monthly_expiry(year: int, month: int) -> date:
    """NSE's monthly index-futures expiry: the last Thursday (to Aug 2025) or Tuesday (from
    Sep 2025) of the month, moved to the previous trading day when that is a holiday."""
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last_day = first_next - timedelta(days=1)
    weekday = 1 if date(year, month, 1) >= TUESDAY_FROM else 3
    target = last_day - timedelta(days=(last_day.weekday() - weekday) % 7)
    sessions = trading_days("NSE", target - timedelta(days=14), target)
    if len(sessions) == 0:
        raise ValueError(f"no NSE session in the two weeks up to {target}")
    return date.fromisoformat(str(sessions[-1].date()))


def futures_symbol(underlying: str, expiry_month: date) -> str:
    """Kite's monthly futures tradingsymbol: ``NIFTY25JANFUT``."""
    return f"{underlying}{expiry_month.year % 100:02d}{MONTHS[expiry_month.month - 1]}FUT"


def build_master(start: date, end: date) -> InstrumentMaster:
    """The synthetic master: the index rows, then each underlying's monthly futures expiring
    from ``start``'s month to ``end``'s month."""
    rows = [Contract(tradingsymbol=sym, instrument_token=token, exchange_token=ex_token,
                     name=sym, expiry=None, strike=0.0, tick_size=0.0, lot_size=0,
                     instrument_type="EQ", segment="INDICES", exchange="NSE")
            for sym, token, ex_token, _ in INDEX_ROWS]
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = year + month // 12, month % 12 + 1
    for underlying, lot, first_token in FUTURES:
        for k, (y, m) in enumerate(months):
            ex_token = first_token + k
            rows.append(Contract(
                tradingsymbol=futures_symbol(underlying, date(y, m, 1)),
                instrument_token=ex_token * 256 + NFO_SEGMENT_ID, exchange_token=ex_token,
                name=underlying, expiry=monthly_expiry(y, m), strike=0.0, tick_size=TICK_SIZE,
                lot_size=lot, instrument_type="FUT", segment="NFO-FUT", exchange="NFO"))
    return InstrumentMaster(rows, source="synthetic instrument master")


def main(argv: list[str] | None = None) -> int:
    """Write the SYNTHETIC Kite-format instrument master CSV."""
    parser = argparse.ArgumentParser(description="Write a SYNTHETIC Kite instruments dump.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 12, 31))
    args = parser.parse_args(argv)
    text = build_master(args.start, args.end).to_csv()
    from pipelines.datasets.master_validation import validate_master  # imports GX (~2 s)

    validate_master(text, name=args.out.stem, source=str(args.out))  # refused: not written
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
