"""Malformed IPv4 (bad version, IHL < 5, bad checksum) and truncated frames are dropped and counted;
well-formed IPv4 with options is forwarded."""

from __future__ import annotations

from ptf.testutils import (send_packet, simple_tcp_packet, simple_udp_packet,
                           verify_no_other_packets, verify_packet)
from scapy.layers.inet import IP, IPOption_NOP
from scapy.layers.l2 import Ether

from lib.nve_base import (ACCESS1, ACCESS2, DROP_MALFORMED, NETWORK1, REMOTE_VTEP_IP, ROUTER_MAC,
                          VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_set_vlan, pkt_vxlan_encap
from lib.scenario import VAP1, VAP2, VID1, VID2, VM1_MAC, VM2_MAC, VNI_BLUE


def with_ip_fields(pkt, **fields) -> bytes:
    """The frame with IPv4 header fields overwritten, checksum left as scapy computed it first."""
    frame = Ether(bytes(pkt))
    for name, value in fields.items():
        setattr(frame[IP], name, value)
    return bytes(frame)


class MalformedSetup(NveTest):
    def add_two_vms(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)

    def tcp(self):
        return pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), VID1)


class BadIpv4DropTest(MalformedSetup):
    """Bad checksum, version 6 in an IPv4 frame and IHL 4 are each dropped as malformed."""

    @autocleanup
    def runTest(self) -> None:
        self.add_two_vms()
        good = self.tcp()
        send_packet(self, ACCESS1, good)
        verify_packet(self, pkt_set_vlan(good, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)

        before = self.drop_count(DROP_MALFORMED)
        checksum = Ether(bytes(good))[IP].chksum
        bad_frames = [
            with_ip_fields(good, chksum=checksum ^ 0x5A5A),
            with_ip_fields(good, version=6),
            with_ip_fields(good, ihl=4),
        ]
        for frame in bad_frames:
            send_packet(self, ACCESS1, frame)
            verify_no_other_packets(self)
        self.assert_dropped(DROP_MALFORMED, before, count=len(bad_frames))


class TruncatedFrameDropTest(MalformedSetup):
    """A frame that ends inside its IPv4 header is dropped as malformed."""

    @autocleanup
    def runTest(self) -> None:
        self.add_two_vms()
        before = self.drop_count(DROP_MALFORMED)
        send_packet(self, ACCESS1, bytes(self.tcp())[:14 + 4 + 12])
        verify_no_other_packets(self)
        self.assert_dropped(DROP_MALFORMED, before)


class Ipv4OptionsTest(MalformedSetup):
    """IPv4 with options is parsed past them (checksum included) and forwarded unchanged."""

    @autocleanup
    def runTest(self) -> None:
        self.add_two_vms()
        inner = simple_udp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC,
                                  ip_options=[IPOption_NOP()] * 8)
        self.assertEqual(Ether(bytes(inner))[IP].ihl, 7)
        pkt = pkt_add_vlan(inner, VID1)
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)

        before = self.drop_count(DROP_MALFORMED)
        checksum = Ether(bytes(pkt))[IP].chksum
        send_packet(self, ACCESS1, with_ip_fields(pkt, chksum=checksum ^ 1))
        verify_no_other_packets(self)
        self.assert_dropped(DROP_MALFORMED, before)


class BadOuterChecksumDropTest(MalformedSetup):
    """VXLAN whose outer IPv4 checksum is wrong is dropped before decapsulation."""

    @autocleanup
    def runTest(self) -> None:
        self.add_two_vms()
        self.add_local_vtep_entry()
        inner = simple_tcp_packet(eth_src="52:54:00:00:01:01", eth_dst=VM2_MAC)
        pkt = pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac="02:00:00:00:fe:01", dst_mac=ROUTER_MAC,
                              src_ip=REMOTE_VTEP_IP, dst_ip=VTEP_IP, sport=50003)
        send_packet(self, NETWORK1, pkt)
        verify_packet(self, pkt_add_vlan(inner, VID2), ACCESS2)
        before = self.drop_count(DROP_MALFORMED)
        checksum = Ether(bytes(pkt))[IP].chksum
        send_packet(self, NETWORK1, with_ip_fields(pkt, chksum=checksum ^ 0xFFFF))
        verify_no_other_packets(self)
        self.assert_dropped(DROP_MALFORMED, before)
