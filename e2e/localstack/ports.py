"""Free loopback ports, chosen when the stack starts.

Ports are drawn at random below the kernel's ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``), where the kernel never hands out ports to
outgoing connections, so a port that is free when chosen stays free until its server binds
it. A port in use is simply skipped; nothing in the stack has a fixed port.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable
from pathlib import Path

LOWEST = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP server could bind ``host:port`` right now.

    With ``SO_REUSEADDR``, as Go's and Python's servers bind: connections of a stopped server
    lingering in TIME_WAIT do not count, a listening socket does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def allocate(names: Iterable[str]) -> dict[str, int]:
    """A distinct free port for every name."""
    high = _ephemeral_low() - 1
    chosen: dict[str, int] = {}
    taken: set[int] = set()
    rng = random.SystemRandom()
    for name in names:
        for _ in range(1000):
            port = rng.randint(LOWEST, high)
            # Also free on 0.0.0.0: the Argo Rollouts controller binds all interfaces.
            if port not in taken and is_free(port) and is_free(port, "0.0.0.0"):
                break
        else:
            raise RuntimeError(f"no free TCP port in {LOWEST}-{high} after 1000 tries")
        chosen[name] = port
        taken.add(port)
    return chosen
