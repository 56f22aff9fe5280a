"""The executor's intents by client key (every ``OrderIntended`` journaled or folded), kept
in intent order. Intents restored from a state snapshot (:mod:`~live.runner.fold_memory`)
stay journal records until one is asked for: a restart decodes the few it reads (in-doubt
orders, slices, fills), not the tens of thousands a long journal holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from live.events import OrderIntended, from_record_trusted, to_record


class IntentBook:
    """``client key -> OrderIntended``, with records restored from a snapshot decoded on
    first use (the snapshot's body passed its content hash; the journal's trusted decoder
    falls back to the validating one on anything unexpected)."""

    def __init__(self) -> None:
        self._by_key: dict[str, OrderIntended | dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __setitem__(self, key: str, intent: OrderIntended) -> None:
        self._by_key[key] = intent

    def get(self, key: str) -> OrderIntended | None:
        """The intent journaled under ``key`` (None: none)."""
        found = self._by_key.get(key)
        if isinstance(found, dict):
            found = self._by_key[key] = _intent(found)
        return found

    def records(self) -> list[dict[str, Any]]:
        """Every intent as its journal record, in intent order (a snapshot's part)."""
        return [v if isinstance(v, dict) else to_record(v) for v in self._by_key.values()]

    def restore(self, records: Iterable[Any]) -> None:
        """Take :meth:`records` back (after the ones already held).

        Raises
        ------
        ValueError
            A record that is not an ``OrderIntended`` record with a client key.
        """
        taken: dict[str, dict[str, Any]] = {}
        for record in records:
            fields = record.get("fields") if isinstance(record, dict) else None
            key = fields.get("client_key") if isinstance(fields, dict) else None
            if record.get("kind") != OrderIntended.KIND or not isinstance(key, str):
                raise ValueError(f"an intent record is not an {OrderIntended.KIND} with a "
                                 f"client key: {str(record)[:120]}")
            taken[key] = record
        self._by_key.update(taken)


def _intent(record: dict[str, Any]) -> OrderIntended:
    message = from_record_trusted(record)
    if not isinstance(message, OrderIntended):
        raise ValueError(f"an intent record decodes to a {type(message).__name__}")
    return message
