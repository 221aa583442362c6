"""Which machine a worker address is on: a command recorded there can be ended here only if it is this one."""

from __future__ import annotations

import socket

import psutil


def worker_host(address: str) -> str:
    """'tcp://10.0.0.5:40001' -> '10.0.0.5' ('[::1]:1' -> '::1')."""
    rest = address.split("://", 1)[-1]
    host = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return host.strip("[]")


def is_local_host(host: str) -> bool:
    """True if `host` is this machine, where a recorded pid can be checked and ended directly."""
    if host in ("localhost", socket.gethostname()) or host.startswith("127.") or host == "::1":
        return True
    try:
        return any(addr.address.split("%")[0] == host for addrs in psutil.net_if_addrs().values()
                   for addr in addrs)
    except OSError:
        return False
