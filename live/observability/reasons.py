"""Bounded label values for metrics: a broker's free-text rejection reason becomes one of a
few classes, so a label never grows with the text a broker sends."""

from __future__ import annotations

# (class, words any of which in the lower-cased reason selects it), first match wins
REJECT_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("margin", ("margin", "insufficient fund", "funds")),
    ("rate_limit", ("rate", "throttl", "too many")),
    ("price", ("price band", "circuit", "band", "price", "trigger", "ltp")),
    ("quantity", ("freeze", "quantity", "lot", "qty")),
    ("session", ("market closed", "closed", "session", "after market", "amo", "square")),
    ("connection", ("unavailable", "connection", "timeout", "network")),
)
OTHER = "other"
REJECT_REASONS: tuple[str, ...] = (*(name for name, _ in REJECT_CLASSES), OTHER)


def reject_class(reason: str) -> str:
    """The class of a broker's rejection ``reason`` (one of :data:`REJECT_REASONS`)."""
    text = reason.lower()
    for name, words in REJECT_CLASSES:
        if any(word in text for word in words):
            return name
    return OTHER
