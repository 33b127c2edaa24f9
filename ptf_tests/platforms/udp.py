"""PTF platform ``udp``: dataplane ports that are UDP sockets, one Ethernet frame per datagram.

The counterpart of the softswitch's ``N@udp:LPORT:PPORT`` ports; no root and no veth needed.
Each PTF port binds its own UDP socket and exchanges frames with exactly one switch port::

    softswitch -i 1@udp:20001:30001 ...          # switch port 1: bound to 20001, peer 30001
    ptf --platform-dir ptf_tests/platforms --platform udp --allow-user \\
        -i 1@udp:30001:20001 ...                 # PTF port 1: bound to 30001, peer 20001

The interface syntax is the switch's (``softswitch --help``) with a peer required:
``udp:LPORT:PPORT`` (127.0.0.1 on both sides) or ``udp:LHOST:LPORT[:PHOST]:PPORT``.
Datagrams from any address but the peer's are ignored.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from softswitch.ports.spec import PortSpecError, UdpSpec, parse_port_spec

LOGGER = logging.getLogger("dataplane.udp")

MAX_DATAGRAM = 65535
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
"""Socket receive buffer: room for bursts while the PTF thread is busy."""


Address = tuple[str, int]


def parse_interface(port_number: int, interface: str) -> tuple[Address, Address]:
    """(local, peer) of ``interface`` (``udp:...`` with a peer); ValueError otherwise."""
    try:
        spec = parse_port_spec(f"{port_number}@{interface}")
    except PortSpecError as exc:
        raise ValueError(f"PTF port {port_number}: {exc}") from None
    if not isinstance(spec, UdpSpec):
        raise ValueError(f"PTF port {port_number}: {interface!r} is not a udp:... interface")
    if spec.peer is None:
        raise ValueError(f"PTF port {port_number}: {interface!r} names no peer (udp:LPORT:PPORT)")
    return spec.local, spec.peer


class UdpDataPlanePort:
    """A PTF dataplane port over UDP (``DataPlanePortIface`` and ``DataPlanePacketSourceIface``).

    ``DataPlane`` selects on ``fileno()`` and calls ``recv()`` when the socket is readable.
    """

    _socket: socket.socket | None = None

    def __init__(
        self,
        interface_name: str,
        device_number: int,
        port_number: int,
        config: dict[str, Any] | None = None,
    ) -> None:
        """Bind the local endpoint of ``interface_name``; ``config`` is PTF's (unused)."""
        local, self.peer = parse_interface(port_number, interface_name)
        self.interface_name = interface_name
        self.device_number = device_number
        self.port_number = port_number
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind(local)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._socket = sock
        LOGGER.info(
            "port %d-%d: UDP %s:%d <-> %s:%d", device_number, port_number, *local, *self.peer
        )

    @property
    def local_address(self) -> Address:
        """The bound (host, port)."""
        host, port = self._sock.getsockname()
        return host, port

    @property
    def _sock(self) -> socket.socket:
        if self._socket is None:
            raise OSError(f"PTF port {self.port_number} is closed")
        return self._socket

    def fileno(self) -> int:
        """The socket's descriptor, for select()."""
        return self._sock.fileno()

    def get_packet_source(self) -> UdpDataPlanePort:
        """Each port is its own packet source."""
        return self

    def recv(self) -> tuple[int, int, bytes, float] | None:
        """(device, port, frame, timestamp) of a datagram from the peer; None for any other."""
        try:
            frame, source = self._sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return None
        if source != self.peer:
            LOGGER.debug("port %d: ignored datagram from %s:%d", self.port_number, *source)
            return None
        return self.device_number, self.port_number, frame, time.time()

    def send(self, packet: bytes) -> int:
        """Send one frame to the peer; the number of bytes sent."""
        return self._sock.sendto(bytes(packet), self.peer)

    def down(self) -> None:
        """A UDP port has no link to bring down."""
        LOGGER.warning("port %d: down() is not supported on UDP ports", self.port_number)

    def up(self) -> None:
        """A UDP port has no link to bring up."""
        LOGGER.warning("port %d: up() is not supported on UDP ports", self.port_number)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __del__(self) -> None:
        """PTF releases ports by dropping them (``DataPlane.kill``)."""
        self.close()


def platform_config_update(config: dict[str, Any]) -> None:
    """PTF platform hook: map ``-i [DEV-]PORT@udp:...`` to ports of ``UdpDataPlanePort``."""
    port_map = {}
    for device, port, interface in config["interfaces"]:
        parse_interface(port, interface)
        port_map[(device, port)] = interface
    if not port_map:
        raise ValueError("the udp platform needs at least one -i PORT@udp:LPORT:PPORT")
    config["port_map"] = port_map
    config["dataplane"] = {"portclass": UdpDataPlanePort}
