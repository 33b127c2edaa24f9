"""Only MACs signalled for a VAP may send through it."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet

from lib.nve_base import ACCESS1, ACCESS2, DROP_SPOOFED_SOURCE, NveTest, autocleanup
from lib.packets import pkt_add_vlan, pkt_set_vlan
from lib.scenario import VAP1, VAP2, VID1, VID2, VM1_MAC, VM2_MAC, VM3_MAC, VNI_BLUE


class SpoofedSourceDropTest(NveTest):
    """VM1's VAP forwards VM1's MAC and drops (and counts) a frame claiming VM3's MAC."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        good = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), VID1)
        send_packet(self, ACCESS1, good)
        verify_packet(self, pkt_set_vlan(good, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)

        before = self.drop_count(DROP_SPOOFED_SOURCE)
        spoofed = pkt_add_vlan(simple_tcp_packet(eth_src=VM3_MAC, eth_dst=VM2_MAC), VID1)
        send_packet(self, ACCESS1, spoofed)
        verify_no_other_packets(self)
        # VM2's own MAC is allowed on VM2's VAP only, not on VM1's.
        stolen = pkt_add_vlan(simple_tcp_packet(eth_src=VM2_MAC, eth_dst=VM1_MAC), VID1)
        send_packet(self, ACCESS1, stolen)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_SPOOFED_SOURCE, before, count=2)
