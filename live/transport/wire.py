"""An envelope on the wire: the journal's own record form (:func:`live.events.to_record`)
in JSON, with the message id, the publisher and its sequence number as NATS headers
(``Nats-Msg-Id`` is JetStream's de-duplication key). Anything that does not decode to a
valid envelope is poison (:class:`PoisonMessageError`): parked, never retried."""

from __future__ import annotations

import json
from collections.abc import Mapping

from live.bus import Envelope
from live.events import EventDecodeError, from_record, to_record
from strategies.errors import StratopsError

MSG_ID = "Nats-Msg-Id"
PUBLISHER = "Stratops-Publisher"
SEQ = "Stratops-Seq"
TOPIC = "Stratops-Topic"


class PoisonMessageError(StratopsError, ValueError):
    """A bus message that is not a valid envelope (undecodable, or failing validation)."""


def encode(envelope: Envelope, publisher: str, seq: int) -> tuple[bytes, dict[str, str]]:
    """The payload and headers of ``envelope`` as message ``seq`` of ``publisher``."""
    payload = json.dumps([to_record(m) for m in envelope.messages],
                         separators=(",", ":")).encode()
    return payload, {MSG_ID: envelope.message_id, PUBLISHER: publisher, SEQ: str(seq),
                     TOPIC: envelope.topic}


def decode(payload: bytes, headers: Mapping[str, str] | None) -> tuple[Envelope, str, int]:
    """(envelope, publisher, sequence) of a received message.

    Raises
    ------
    PoisonMessageError
        Missing headers, a bad sequence, undecodable JSON, an invalid record, or messages
        whose kind is not the envelope's topic.
    """
    h = dict(headers or {})
    missing = [k for k in (MSG_ID, PUBLISHER, SEQ, TOPIC) if not h.get(k)]
    if missing:
        raise PoisonMessageError(f"missing headers {missing}")
    if not h[SEQ].isdigit() or int(h[SEQ]) < 1:
        raise PoisonMessageError(f"header {SEQ}={h[SEQ]!r}: not a sequence number")
    try:
        records = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessageError(f"{h[MSG_ID]}: undecodable payload: {exc}") from None
    if not isinstance(records, list) or not records:
        raise PoisonMessageError(f"{h[MSG_ID]}: payload is not a non-empty list of records")
    try:
        messages = tuple(from_record(r) for r in records)
    except EventDecodeError as exc:
        raise PoisonMessageError(f"{h[MSG_ID]}: {exc}") from None
    if h[TOPIC] != messages[0].KIND:
        raise PoisonMessageError(f"{h[MSG_ID]}: first message {messages[0].KIND} on topic "
                                 f"{h[TOPIC]}")
    return Envelope(h[TOPIC], h[MSG_ID], messages), h[PUBLISHER], int(h[SEQ])
