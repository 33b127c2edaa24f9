"""Port backends of the software switch.

All backends implement ``Ports``: raw Linux interfaces (AF_PACKET), UDP sockets on
loopback (no root needed), and in-memory ports for tests.
"""

from __future__ import annotations

from softswitch.ports.base import Deliver, Ports
from softswitch.ports.memory import MemoryPorts
from softswitch.ports.rawsock import RawPort
from softswitch.ports.socketport import SocketPort, SocketPorts
from softswitch.ports.spec import (
    PORT_SYNTAX,
    PortSpec,
    PortSpecError,
    RawSpec,
    UdpSpec,
    parse_port_spec,
)
from softswitch.ports.udp import UdpPort

__all__ = [
    "PORT_SYNTAX",
    "Deliver",
    "MemoryPorts",
    "PortSpec",
    "PortSpecError",
    "Ports",
    "RawPort",
    "RawSpec",
    "SocketPort",
    "SocketPorts",
    "UdpPort",
    "UdpSpec",
    "open_ports",
    "parse_port_spec",
]


def open_ports(specs: list[PortSpec]) -> SocketPorts:
    """Open a socket port for every spec; on failure, the ports opened so far are closed."""
    opened: list[SocketPort] = []
    try:
        for spec in specs:
            match spec:
                case RawSpec(number, interface):
                    opened.append(RawPort(number, interface))
                case UdpSpec(number, local, peer):
                    opened.append(UdpPort(number, local, peer))
        return SocketPorts(opened)
    except BaseException:
        for port in opened:
            port.close()
        raise
