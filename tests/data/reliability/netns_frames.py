"""Run inside a network namespace: send frames on one interface, print (hex, one per line) the
802.1Q-tagged frame that arrives on another within a second. Used by the bmv2 switch-restart test.

    python netns_frames.py --send h4 --capture h1 FRAME_HEX...
"""

from __future__ import annotations

import argparse
import select
import socket
import struct
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
AUXDATA = struct.Struct("IIIHHHH")      # struct tpacket_auxdata


def with_vlan_tag(data: bytes, ancillary: list[tuple[int, int, bytes]]) -> bytes:
    """The kernel strips a received frame's 802.1Q tag into the auxdata: put it back."""
    for level, kind, raw in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(raw) >= AUXDATA.size:
            status, _, _, _, _, tci, tpid = AUXDATA.unpack_from(raw)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--send", required=True)
    parser.add_argument("--capture", required=True)
    parser.add_argument("--wait", type=float, default=1.0)
    parser.add_argument("frames", nargs="*")
    args = parser.parse_args()
    capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    capture.bind((args.capture, 0))
    capture.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    capture.setblocking(False)
    send = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    send.bind((args.send, 0))
    for frame in args.frames:
        send.send(bytes.fromhex(frame))
    deadline = time.monotonic() + args.wait
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([capture], [], [], left)
        if not ready:
            break
        data, ancillary, _, meta = capture.recvmsg(65535, socket.CMSG_SPACE(AUXDATA.size))
        data = with_vlan_tag(data, ancillary)
        # What the switch sent us, 802.1Q-tagged (not its LLDP or ECP frames).
        if meta[2] != socket.PACKET_OUTGOING and data[12:14] == b"\x81\x00":
            print(data.hex(), flush=True)
            break


if __name__ == "__main__":
    main()
