"""The playbooks a runner loads (``governance.playbooks_file``; README, Playbooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stratops.settings import Settings

if TYPE_CHECKING:
    from live.playbooks.spec import Playbooks


def runner_playbooks(settings: Settings) -> Playbooks | None:
    """``playbooks.yaml`` validated for a runner (None when the file does not exist)."""
    from live.playbooks.spec import load_playbooks
    from strategies.roster import STRATEGIES

    path = settings.path(settings.governance.playbooks_file)
    if not path.is_file():
        return None
    return load_playbooks(path, set(STRATEGIES), {v.name for v in settings.live.venues})
