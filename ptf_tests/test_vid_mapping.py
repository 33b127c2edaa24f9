"""VAP classification: VIDs are local to a port, so one VN may use different VIDs per port."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet

from lib.nve_base import ACCESS1, ACCESS2, DROP_UNKNOWN_VAP, NveTest, autocleanup
from lib.packets import pkt_add_vlan, pkt_set_vlan
from lib.scenario import (VAP1, VAP2, VAP3, VID1, VID2, VM1_IP, VM1_MAC, VM2_IP, VM2_MAC, VM3_MAC,
                          VNI_BLUE, VNI_RED)


class VidPerPortTest(NveTest):
    """VM1 (port 1, VID 10) to VM2 (port 2, VID 20), same VN: the tag is rewritten to VID 20."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        inner = simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC, ip_src=VM1_IP, ip_dst=VM2_IP)
        pkt = pkt_add_vlan(inner, VID1)
        exp_pkt = pkt_set_vlan(pkt, VID2, pcp=0)
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, exp_pkt, ACCESS2)
        verify_no_other_packets(self)

        # And back, VM2 to VM1.
        back = pkt_add_vlan(simple_tcp_packet(eth_src=VM2_MAC, eth_dst=VM1_MAC), VID2)
        send_packet(self, ACCESS2, back)
        verify_packet(self, pkt_set_vlan(back, VID1, pcp=0), ACCESS1)
        verify_no_other_packets(self)


class SameVidOtherVnTest(NveTest):
    """VID 10 means BLUE on port 1 and RED on port 2: RED cannot reach a BLUE VM."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vn(VNI_RED)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID1, vap_id=VAP3, vni=VNI_RED, vm_mac=VM3_MAC)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM3_MAC, eth_dst=VM1_MAC), VID1)
        send_packet(self, ACCESS2, pkt)
        verify_no_other_packets(self)   # RED has no flood group and no FDB entry for VM1


class UnknownVidDropTest(NveTest):
    """A VID nobody signalled on that port is dropped and counted."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        before = self.drop_count(DROP_UNKNOWN_VAP)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), 99)
        send_packet(self, ACCESS1, pkt)
        verify_no_other_packets(self)
        untagged = simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC)
        send_packet(self, ACCESS1, untagged)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_UNKNOWN_VAP, before, count=2)
