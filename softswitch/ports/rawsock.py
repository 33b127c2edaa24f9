"""Linux AF_PACKET port backend: a switch port bound to a network interface (needs root)."""

from __future__ import annotations

import logging
import socket
import struct

from softswitch.ports.socketport import SocketPort

LOGGER = logging.getLogger(__name__)

_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_AUXDATA = 8
_PACKET_OUTGOING = 4
_TP_STATUS_VLAN_VALID = 0x10
_TP_STATUS_VLAN_TPID_VALID = 0x40
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
_MAX_FRAME = 65536


class RawPort(SocketPort):
    """A switch port that sends and receives whole Ethernet frames on a Linux interface.

    VLAN tags stripped by the kernel (VLAN offload) are put back from the packet auxdata,
    as libpcap does, so the pipeline sees frames exactly as on the wire.
    """

    def __init__(self, number: int, interface: str) -> None:
        """Open an AF_PACKET socket bound to ``interface``."""
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        try:
            sock.setsockopt(_SOL_PACKET, _PACKET_AUXDATA, 1)
            sock.bind((interface, 0))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        super().__init__(number, sock)
        self.interface = interface
        LOGGER.info("port %d: interface %s", number, interface)

    def receive(self) -> bytes | None:
        """Read one incoming frame; frames this host sent on the interface are ignored."""
        data, ancdata, _flags, address = self.sock.recvmsg(
            _MAX_FRAME, socket.CMSG_SPACE(_AUXDATA.size)
        )
        if address[2] == _PACKET_OUTGOING:
            return None
        for level, kind, payload in ancdata:
            if level == _SOL_PACKET and kind == _PACKET_AUXDATA and len(payload) >= _AUXDATA.size:
                return _restore_vlan(data, payload)
        return data

    def send(self, frame: bytes) -> None:
        """Transmit one frame on the interface."""
        self.sock.send(frame)


def _restore_vlan(frame: bytes, auxdata: bytes) -> bytes:
    status, _len, _snaplen, _mac, _net, tci, tpid = _AUXDATA.unpack_from(auxdata)
    if not status & _TP_STATUS_VLAN_VALID or len(frame) < 12:
        return frame
    if not status & _TP_STATUS_VLAN_TPID_VALID:
        tpid = 0x8100
    return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]
