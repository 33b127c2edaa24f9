"""Network namespace primitives: `ip` commands, entering a namespace from Python, sysctls and
interface offloads. Every command names its namespace (`ip -n NS`), so nothing here ever acts on
the namespace this process runs in.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# Legacy ethtool ioctls (still mapped onto the netdev features by the kernel).
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017
ETHTOOL_SSG = 0x00000019
ETHTOOL_STSO = 0x0000001F
ETHTOOL_SGSO = 0x00000024


class NetnsError(RuntimeError):
    """An `ip` command failed, or namespaces cannot be used here."""


def available() -> str | None:
    """None when this process can build a namespace lab, else the reason it cannot."""
    if os.geteuid() != 0:
        return "not root (network namespaces and veth pairs need root)"
    if shutil.which("ip") is None:
        return "iproute2 'ip' is not installed"
    if shutil.which("bridge") is None:
        return "iproute2 'bridge' is not installed"
    return None


def run(args: Sequence[str], *, check: bool = True, input_text: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a command; NetnsError with its stderr when it fails and `check`."""
    proc = subprocess.run(list(args), capture_output=True, text=True, input=input_text,
                          check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def ip(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip -n NS ARGS`."""
    return run(["ip", "-n", ns, *args], check=check)


def ip_batch(ns: str, commands: Sequence[str]) -> None:
    """Several `ip` commands in namespace `ns` with one process."""
    if commands:
        run(["ip", "-n", ns, "-batch", "-"], input_text="\n".join(commands) + "\n")


def exists(ns: str) -> bool:
    """True when namespace `ns` exists."""
    return (NETNS_DIR / ns).exists()


def existing() -> list[str]:
    """Every named network namespace."""
    proc = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def add(ns: str) -> None:
    """Create namespace `ns` with its loopback up and IPv6 off (no router solicitations or
    MLD reports to muddle the lab's traffic)."""
    run(["ip", "netns", "add", ns])
    ip(ns, "link", "set", "lo", "up")
    with enter(ns):
        for key in ("all", "default"):
            write_sysctl(f"net/ipv6/conf/{key}/disable_ipv6", "1")


def delete(ns: str) -> None:
    """Delete namespace `ns` (its interfaces go with it); nothing when it does not exist."""
    if exists(ns):
        run(["ip", "netns", "del", ns], check=False)


def pids(ns: str) -> list[int]:
    """Processes running in namespace `ns`."""
    proc = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


@contextlib.contextmanager
def enter(ns: str) -> Iterator[None]:
    """Run the block in namespace `ns` (this thread only); sockets opened inside stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(NETNS_DIR / ns, os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise NetnsError(f"setns({ns}): {os.strerror(err)}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:   # pragma: no cover - cannot fail back
                raise NetnsError("setns back to our own namespace failed")
    finally:
        os.close(own)


def write_sysctl(key: str, value: str) -> None:
    """Write /proc/sys/KEY in the current namespace (use inside `enter`)."""
    Path("/proc/sys", key).write_text(value)


def disable_offloads(interface: str) -> None:
    """Checksum, scatter-gather and segmentation offloads off on `interface` (use inside `enter`).

    A software switch reads frames with AF_PACKET as the sender's kernel left them: with TX
    checksum offload on a veth, TCP and UDP checksums are not filled in yet, and the receiver
    behind the switch would drop the segments. As `ethtool -K IF tx off sg off tso off gso off`.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for command in (ETHTOOL_SGSO, ETHTOOL_STSO, ETHTOOL_SSG, ETHTOOL_STXCSUM):
            value = struct.pack("II", command, 0)
            buf = ctypes.create_string_buffer(value)
            ifreq = struct.pack("16sP", interface.encode(), ctypes.addressof(buf))
            with contextlib.suppress(OSError):
                fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
