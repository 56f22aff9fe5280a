"""What the canary -> live evidence says about the canary's size: a canary not smaller than
live (a 1-lot version) ran at full size, and the approval must say so."""

from __future__ import annotations


def size_note(canary_qty: int, live_qty: int, lot_size: int) -> str:
    """What the promotion evidence must say when the canary was not smaller than live: the
    minimum lot already equals the live size (a 1-lot version), so the policy's capital
    fraction could not reduce it and the canary ran at full size."""
    if canary_qty < live_qty:
        return ""
    lots = live_qty // max(lot_size, 1)
    return (f"canary traded at the live size ({canary_qty} units = {lots} lot(s)): the "
            "minimum lot already equals the live size, so the canary was not reduced to "
            "policy.yaml stages.canary.capital_fraction")
