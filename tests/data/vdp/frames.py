"""Send or capture raw Ethernet frames on an interface; run inside a namespace with `ip netns exec`.

    python frames.py send IFACE HEX [HEX ...]
    python frames.py capture IFACE SECONDS      # prints "ready", then one hex frame per line

Plain sockets only (no scapy) so that it starts fast. Capture sees frames the interface receives
(not the ones it sends).
"""

from __future__ import annotations

import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
AUXDATA = struct.Struct("=IIIHHHH")          # struct tpacket_auxdata


def send(interface: str, frames: list[str]) -> None:
    """Transmit each hex frame once."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.bind((interface, 0))
        for frame in frames:
            sock.send(bytes.fromhex(frame))


def capture(interface: str, seconds: float) -> None:
    """Print every frame received for `seconds`, with the VLAN tag the kernel took off put back
    (as libpcap does)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.bind((interface, 0))
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, ancdata, _flags, address = sock.recvmsg(65536, socket.CMSG_SPACE(20))
            except TimeoutError:
                break
            if address[2] == PACKET_OUTGOING:
                continue
            for level, kind, aux in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= AUXDATA.size:
                    status, _len, _snap, _mac, _net, tci, tpid = AUXDATA.unpack_from(aux)
                    if status & TP_STATUS_VLAN_VALID:
                        tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                        data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
            print(data.hex(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3:])
    else:
        capture(sys.argv[2], float(sys.argv[3]))
