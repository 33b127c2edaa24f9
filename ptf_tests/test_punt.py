"""Punt of LLDP and ECP to the controller (packet-in), and packet-out from it."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet
from scapy.layers.l2 import Ether

from lib.nve_base import ACCESS1, ACCESS2, ACCESS3, NETWORK1, NveTest, autocleanup

ETHERTYPE_LLDP = 0x88CC
ETHERTYPE_ECP = 0x8940
NEAREST_BRIDGE = "01:80:c2:00:00:0e"
NEAREST_CUSTOMER_BRIDGE = "01:80:c2:00:00:00"


def control_frame(eth_type: int, dst: str) -> bytes:
    """An Ethernet frame of `eth_type` with a recognisable payload, padded to 64 bytes."""
    frame = Ether(src="52:54:00:aa:bb:cc", dst=dst, type=eth_type) / (b"\x02\x07nve-ptf" * 5)
    return bytes(frame)


class PuntLldpEcpTest(NveTest):
    """LLDP and ECP frames reach the controller unchanged, with the port they came in on."""

    @autocleanup
    def runTest(self) -> None:
        self.add_punt_entry(ETHERTYPE_LLDP)
        self.add_punt_entry(ETHERTYPE_ECP)
        for port, eth_type, dst in ((ACCESS1, ETHERTYPE_LLDP, NEAREST_BRIDGE),
                                    (ACCESS3, ETHERTYPE_ECP, NEAREST_CUSTOMER_BRIDGE),
                                    (NETWORK1, ETHERTYPE_LLDP, NEAREST_BRIDGE)):
            frame = control_frame(eth_type, dst)
            send_packet(self, port, frame)
            got = self.client.packet_in(timeout=3)
            self.assertIsNotNone(got, f"no packet-in for ethertype {eth_type:#x} on port {port}")
            payload, metadata = got
            self.assertEqual(payload, frame)
            self.assertEqual(metadata["ingress_port"], port)
        verify_no_other_packets(self)


class PuntOnlyListedTest(NveTest):
    """Without a punt entry the controller sees nothing (the frame is data, and here unknown)."""

    @autocleanup
    def runTest(self) -> None:
        self.add_punt_entry(ETHERTYPE_LLDP)
        send_packet(self, ACCESS1, control_frame(0x88B5, NEAREST_BRIDGE))
        self.assertIsNone(self.client.packet_in(timeout=1))
        verify_no_other_packets(self)


class PacketOutTest(NveTest):
    """A packet-out leaves the port it names exactly as the controller wrote it."""

    @autocleanup
    def runTest(self) -> None:
        for port in (ACCESS2, NETWORK1):
            frame = bytes(simple_tcp_packet(eth_src="02:00:00:00:01:01", eth_dst="52:54:00:00:00:02",
                                            tcp_sport=port))
            self.client.packet_out(frame, egress_port=port)
            verify_packet(self, frame, port)
        verify_no_other_packets(self)
