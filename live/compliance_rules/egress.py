"""The static egress IP check of SEBI's algo framework: a broker accepts API orders only
from the IP address it whitelisted for the client, so the runner checks, before it starts,
that its egress address is that one (a mismatch holds the start: orders sent from another
address would be rejected - or, worse, accepted from an unapproved host).

The egress address is the local address the OS picks to reach the broker's API host: a UDP
socket is *connected* to it (no packet is sent) and its own address read back. Behind NAT
this is the private address, so the expected value is then a probe's answer
(``preopen.egress_probe_host`` pointing at a host that sees our public address).
"""

from __future__ import annotations

import ipaddress
import socket

from strategies.errors import RefusedError

EGRESS = "egress_ip"  # the check / alert name


class EgressCheckError(RefusedError, OSError):
    """The egress address could not be determined, or is not the whitelisted one."""


def egress_address(host: str, port: int, timeout_seconds: float = 2.0) -> str:
    """The local address this machine uses to reach ``host``:``port``.

    Raises
    ------
    EgressCheckError
        ``host`` does not resolve or no route reaches it.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout_seconds)
            sock.connect(address)
            return str(sock.getsockname()[0])
    except (OSError, IndexError) as exc:
        raise EgressCheckError(f"cannot determine the egress address towards {host}:{port}: "
                               f"{exc}") from exc


def require_egress(expected: str, host: str, port: int) -> str:
    """The egress address towards ``host``:``port`` when it is ``expected``.

    Raises
    ------
    EgressCheckError
        It cannot be determined or differs from ``expected`` (the message names both).
    """
    detected = egress_address(host, port)
    if ipaddress.ip_address(detected) != ipaddress.ip_address(expected):
        raise EgressCheckError(
            f"egress address {detected} (towards {host}:{port}) is not the broker-whitelisted "
            f"static IP {expected} (compliance.yaml algo.static_egress_ip): orders would come "
            "from an unapproved address; held")
    return detected
