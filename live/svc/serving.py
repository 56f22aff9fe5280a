"""The services' serve loop: poll until a stretch without work, beating at each turn."""

from __future__ import annotations

from collections.abc import Callable


def serve_polls(poll: Callable[[float], int], *, idle_exit_seconds: float | None,
                idle_slice_seconds: float, beat: Callable[[], None] | None) -> None:
    """Call ``poll(idle_slice_seconds)`` (how much it handled) until ``idle_exit_seconds``
    pass without work after the first (``None``: forever); ``beat`` (the heartbeat) before
    each call."""
    idle_seconds, heard = 0.0, False
    while idle_exit_seconds is None or not heard or idle_seconds < idle_exit_seconds:
        if beat is not None:
            beat()
        handled = poll(idle_slice_seconds)
        heard = heard or handled > 0
        idle_seconds = 0.0 if handled else idle_seconds + idle_slice_seconds
