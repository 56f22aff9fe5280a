"""Deliberate crashes for the crash tests: ``STRATOPS_CRASH_AT=<point>:<n>`` SIGKILLs the
process the n-th time it reaches ``point`` (before_intent, after_intent, after_submit,
after_ack, after_fill, after_modify - a trailing stop moved at the broker, not yet
journaled). Off unless the variable is set; a real kill, not an exception, so nothing gets
to clean up."""

from __future__ import annotations

import os
import signal

ENV = "STRATOPS_CRASH_AT"
POINTS = ("before_intent", "after_intent", "after_submit", "after_ack", "after_fill",
          "after_modify")


class CrashPoints:
    def __init__(self, spec: str | None = None) -> None:
        spec = os.environ.get(ENV) if spec is None else spec
        self.point, self.after, self.seen = None, 0, 0
        if spec:
            point, _, count = spec.partition(":")
            if point not in POINTS or not count.isdigit() or int(count) < 1:
                raise ValueError(f"{ENV}={spec!r}: use <point>:<n>, point in {POINTS}")
            self.point, self.after = point, int(count)

    def hit(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen == self.after:
            os.kill(os.getpid(), signal.SIGKILL)
