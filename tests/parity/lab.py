"""bmv2 ``simple_switch_grpc`` in a private network namespace, wired to raw sockets.

The namespace holds one veth pair per switch port: ``sw<N>`` is given to bmv2 as port N, and
the test reads and writes ``h<N>`` through an AF_PACKET socket opened inside the namespace
(from a short-lived thread that ``setns()`` into it; the socket stays in that namespace). IPv6
is off in the namespace, so the kernel sends nothing on its own.

bmv2 serves P4Runtime on a unix socket, reachable from our namespace; its Thrift server listens
inside the namespace only.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from controlplane.toolchain import find_tool, toolchain_prefix

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
AUXDATA = struct.Struct("IIIHHHH")
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33   # not exported by the socket module
SOCKET_BUFFER = 8 * 1024 * 1024
START_TIMEOUT = 30.0



def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to create a network namespace with veth pairs"
    if find_tool("simple_switch_grpc") is None:
        return ("bmv2 simple_switch_grpc not found on PATH or under "
                f"{toolchain_prefix()}/bin")
    if shutil.which("ip") is None:
        return "iproute2 'ip' is not installed"
    return None


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class Netns:
    """A network namespace of our own with veth pairs ``sw<N>``/``h<N>``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.exec_prefix = ["ip", "netns", "exec", name]

    def create(self, ports: Sequence[int]) -> None:
        """Create the namespace, turn IPv6 off, and add one veth pair per port."""
        _run("ip", "netns", "add", self.name)
        for key in ("all", "default"):
            _run(*self.exec_prefix, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
        _run("ip", "-n", self.name, "link", "set", "lo", "up")
        for port in ports:
            _run("ip", "-n", self.name, "link", "add", f"sw{port}", "type", "veth",
                 "peer", "name", f"h{port}")
            for end in (f"sw{port}", f"h{port}"):
                _run("ip", "-n", self.name, "link", "set", end, "mtu", "9000", "up")

    def delete(self) -> None:
        """Remove the namespace and everything in it."""
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

    def packet_sockets(self, interfaces: Sequence[str]) -> dict[str, socket.socket]:
        """Non-blocking AF_PACKET sockets bound to ``interfaces`` of this namespace."""
        opened: dict[str, socket.socket] = {}
        failure: list[OSError] = []

        def open_inside() -> None:
            try:
                _enter_netns(self.name)
                for name in interfaces:
                    opened[name] = _packet_socket(name)
            except OSError as exc:  # handed to the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=open_inside, name=f"setns-{self.name}")
        thread.start()
        thread.join()
        if failure:
            for sock in opened.values():
                sock.close()
            raise failure[0]
        return opened


def _enter_netns(name: str) -> None:
    """Move the calling thread into network namespace ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def _packet_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)
    sock.bind((interface, 0))
    sock.setblocking(False)
    return sock


class Wire:
    """The host ends of the veth pairs: send a frame into a switch port, read what it sent.

    Linux strips the 802.1Q tag of received frames into packet metadata; it is put back, as
    libpcap (and so bmv2) does, so that frames are read exactly as they were on the wire.
    """

    def __init__(self, sockets: dict[int, socket.socket]) -> None:
        self.sockets = sockets

    def send(self, port: int, frame: bytes) -> None:
        """Put ``frame`` on the wire of switch port ``port``."""
        self.sockets[port].send(frame)

    def receive(self, port: int) -> list[bytes]:
        """Every frame switch port ``port`` sent that is waiting in its socket (non-blocking)."""
        sock = self.sockets[port]
        frames: list[bytes] = []
        while True:
            try:
                data, ancillary, _flags, address = sock.recvmsg(65535, socket.CMSG_SPACE(64))
            except BlockingIOError:
                return frames
            if address[2] != PACKET_OUTGOING:
                frames.append(_with_vlan_tag(data, ancillary))

    def close(self) -> None:
        """Close every socket."""
        for sock in self.sockets.values():
            sock.close()


def _with_vlan_tag(data: bytes, ancillary: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with the VLAN tag the kernel moved into PACKET_AUXDATA put back."""
    for level, kind, payload in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= AUXDATA.size:
            status, _, _, _, _, tci, tpid = AUXDATA.unpack_from(payload)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


@dataclass
class Bmv2:
    """A running simple_switch_grpc and its P4Runtime address."""

    grpc_addr: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        """Terminate the switch, killing it if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_bmv2(netns: Netns, ports: Sequence[int], cpu_port: int, device_id: int,
               workdir: Path) -> Bmv2:
    """Start simple_switch_grpc without a program; returns once its gRPC socket accepts."""
    binary = find_tool("simple_switch_grpc")
    assert binary is not None
    socket_path = workdir / "p4runtime.sock"
    log_path = workdir / "simple_switch_grpc.log"
    command = [*netns.exec_prefix, binary, "--no-p4", "--device-id", str(device_id),
               "--notifications-addr", f"ipc://{workdir}/notifications.ipc",
               *[arg for port in ports for arg in ("-i", f"{port}@sw{port}")],
               "--", "--cpu-port", str(cpu_port), "--grpc-server-addr", f"unix:{socket_path}"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    switch = Bmv2(f"unix:{socket_path}", process, log_path)
    try:
        _wait_for_unix_socket(socket_path, process)
    except BaseException:
        switch.stop()
        raise
    return switch


def _wait_for_unix_socket(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"simple_switch_grpc exited with {process.returncode}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(str(path)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"simple_switch_grpc did not listen on {path} within {START_TIMEOUT} s")


@dataclass
class Lab:
    """bmv2 and the wire to its data ports."""

    bmv2: Bmv2
    wire: Wire


@contextmanager
def bmv2_lab(ports: Sequence[int], cpu_port: int, device_id: int) -> Iterator[Lab]:
    """A namespace with veth pairs for ``ports``, bmv2 on them, and raw sockets on the other
    ends; everything is removed on exit."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nve-parity-")))
        netns = Netns(f"nve-parity-{os.getpid()}")
        stack.callback(netns.delete)
        netns.create(ports)
        sockets = netns.packet_sockets([f"h{port}" for port in ports])
        wire = Wire({port: sockets[f"h{port}"] for port in ports})
        stack.callback(wire.close)
        bmv2 = start_bmv2(netns, ports, cpu_port, device_id, workdir)
        stack.callback(bmv2.stop)
        yield Lab(bmv2, wire)
