"""Hot standby for ``stratops live run``: the runner put under the journal's leader lease
(``live.ha``), leading at once or (``--standby``) following the journal until it leads."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from stratops.errors import LiveSetupError
from stratops.live_ops import journal_url
from stratops.settings import Settings

if TYPE_CHECKING:
    from live.lease import LeaderLease


def lease_name(mode: str) -> str:
    """One lease per mode (each mode has its own journal database)."""
    return f"runner-{mode}"


def take_lead(settings: Settings, mode: str, runner: Any, *, standby: bool,
              say: Any) -> LeaderLease | None:
    """Fence ``runner`` by the lease and lead (``standby``: follow the journal until the
    lease is free); ``say`` prints a line. None when ``live.ha.enabled`` is off (and
    ``--standby`` was not asked for: that is refused)."""
    from live.lease import LeaderLease, LeaseConfigError, lease_holder
    from live.standby import Standby, fence_runner

    ha = settings.live.ha
    if not ha.enabled:
        if standby:
            raise LiveSetupError("--standby needs live.ha.enabled=true (and a PostgreSQL "
                                 "live.journal_url): README, Hot standby (PostgreSQL)")
        return None
    url = journal_url(settings, mode)
    holder = ha.holder or f"{socket.gethostname()}:{os.getpid()}"
    try:
        lease = LeaderLease(url, name=lease_name(mode), holder=holder,
                            ttl_seconds=ha.lease_ttl_seconds)
    except LeaseConfigError as exc:
        raise LiveSetupError(f"live.ha: {exc}") from exc
    fence_runner(runner, lease)
    follower = Standby(runner, lease, poll_seconds=ha.poll_seconds)
    if standby:
        current = lease_holder(lease_name(mode), url)
        say(f"standby {holder}: following the {mode} journal; lease "
            f"{'never taken' if current is None else f'epoch {current[0]} of {current[1]}'}")
        taken = follower.follow_until_leader()
    else:
        found = follower.lead_now()
        if found is None:
            current = lease_holder(lease_name(mode), url)
            lease.close(release=False)
            raise LiveSetupError(f"{mode}: the leader lease is held by "
                                 f"{current[1] if current else '?'} (epoch "
                                 f"{current[0] if current else '?'}); start this instance "
                                 "with --standby")
        taken = found
    deposed = taken.acquired.previous_holder
    say(f"{holder} leads {mode} at lease epoch {taken.acquired.epoch}"
        + (f" (took over from {deposed}; ready {taken.takeover_seconds:.2f} s after taking the "
           "lease)" if deposed
           else ""))
    return lease
