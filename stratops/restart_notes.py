"""What a restart settled before trading, in words, for the operator.

A runner that starts on an existing journal reconciles it with the broker first
(:func:`live.runner.broker_reconciliation.reconcile`): every order whose answer was lost in
a crash is asked about by status query and settled - confirmed or rejected as the broker
has it, sent now if it never reached the broker and its bar is still the latest, or closed
as stale. Each
settlement is an ``OrderSubmitted`` entry the startup appended; these notes read them back
from the journal (only the entries after ``after_seq``, the head before the restart).
"""

from __future__ import annotations

from typing import Any

from live.events import OrderSubmitted

#: How execution (live/runner/execution.py) words each kind of settlement, and what it means.
_SETTLEMENTS = (
    ("settled by status query", "the exchange has it: not sent again"),
    ("sent after restart", "the exchange had no order and its bar is the latest: sent once"),
    ("stale", "the exchange never had it and the market moved on: closed, not sent late"),
)


def restart_notes(journal: Any, after_seq: int, orders: dict[str, Any]) -> list[str]:
    """One line per order the startup reconciliation settled (entries after ``after_seq``).

    ``orders``: the folded state's orders by client key (for the strategy and symbol)."""
    notes = []
    for _, message in journal.read(after_seq + 1):
        if not isinstance(message, OrderSubmitted):
            continue
        meaning = next((m for prefix, m in _SETTLEMENTS if message.reason.startswith(prefix)),
                       None)
        if meaning is None:
            continue
        order = orders.get(message.client_key)
        who = f"{order.strategy} {order.symbol} " if order is not None else ""
        notes.append(f"restart: {who}order {message.client_key} was in doubt; "
                     f"{message.reason} ({meaning})")
    return notes
