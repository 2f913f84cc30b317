"""Keeping a run's traffic on this machine. A local Ray cluster listens on every interface
(Ray 2.60 binds its servers to the wildcard address, whatever node IP it is given), so
tests and benchmarks run it inside a network namespace whose only interface is loopback:
there the wildcard is loopback, and nothing can reach or be reached from elsewhere."""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import os
import socket
import struct
from pathlib import Path

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_TCP_STATES = {"01": "ESTABLISHED", "0A": "LISTEN"}


def isolate_network() -> None:
    """Moves this process into a new network namespace whose one interface is loopback (up):
    whatever it starts afterwards (a local Ray cluster, its actors) can reach and be reached
    from 127.0.0.1 only. Linux, as root (CAP_SYS_ADMIN). Call it from the main thread before
    anything opens sockets: a namespace belongs to a thread and what it starts later, so
    threads started before keep the old one. Does nothing where loopback is already the
    only interface."""
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            msg = f"isolate_network: unshare(CLONE_NEWNET) failed: {os.strerror(err)} (needs root)"
            raise OSError(err, msg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def network_endpoints() -> list[tuple[str, str, str, str]]:
    """Every TCP and UDP socket in this thread's network namespace, of any process, as
    (protocol, state, local address, remote address), addresses as "ip:port" (from
    /proc/thread-self/net)."""
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/thread-self/net") / proto
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            state = _TCP_STATES.get(fields[3], fields[3]) if proto.startswith("tcp") else "-"
            out.append((proto, state, _address(fields[1]), _address(fields[2])))
    return out


def is_local(address: str) -> bool:
    """Whether an "ip:port" of network_endpoints is loopback or the wildcard (which, in a
    namespace with loopback alone, is loopback too)."""
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0].strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _address(hex_address: str) -> str:
    """/proc/net's "HEXIP:HEXPORT" (the IP as native-endian 32-bit words) as "ip:port"."""
    ip_hex, port_hex = hex_address.split(":")
    words = bytes.fromhex(ip_hex)
    raw = b"".join(words[i : i + 4][::-1] for i in range(0, len(words), 4))
    ip = ipaddress.ip_address(raw)
    return f"[{ip}]:{int(port_hex, 16)}" if ip.version == 6 else f"{ip}:{int(port_hex, 16)}"
