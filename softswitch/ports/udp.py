"""UDP port backend: each switch port is a UDP socket, each datagram one Ethernet frame."""

from __future__ import annotations

import logging
import socket

from softswitch.ports.socketport import SocketPort

LOGGER = logging.getLogger(__name__)

_MAX_DATAGRAM = 65535


class UdpPort(SocketPort):
    """A switch port that receives datagrams on ``local`` and sends them to ``peer``.

    With ``peer`` None, frames go to the source address of the latest received datagram.
    """

    def __init__(self, number: int, local: tuple[str, int], peer: tuple[str, int] | None) -> None:
        """Bind a UDP socket to ``local`` (port 0 picks a free port)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(local)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        super().__init__(number, sock)
        self.peer = peer
        self._learn_peer = peer is None
        LOGGER.info(
            "port %d: UDP %s:%d -> %s",
            number,
            *self.local_address,
            "last sender" if peer is None else f"{peer[0]}:{peer[1]}",
        )

    @property
    def local_address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self.sock.getsockname()
        return host, port

    def receive(self) -> bytes | None:
        """Read one datagram; learns the peer when no fixed peer is configured."""
        data, source = self.sock.recvfrom(_MAX_DATAGRAM)
        if self._learn_peer:
            self.peer = source
        return data

    def send(self, frame: bytes) -> None:
        """Send ``frame`` as one datagram to the peer (dropped while no peer is known)."""
        if self.peer is None:
            LOGGER.debug("port %d: no UDP peer yet, frame dropped", self.number)
            return
        self.sock.sendto(frame, self.peer)
