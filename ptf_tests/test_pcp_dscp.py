"""Network PCP (REQ-5): the PCP the network chose replaces the VM's own; it becomes the DSCP."""

from __future__ import annotations

from ptf.mask import Mask
from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet
from scapy.layers.inet import UDP

from lib.nve_base import (ACCESS1, ACCESS2, NETWORK1, NEXTHOP_MAC, REMOTE_VTEP_IP, ROUTER_MAC,
                          VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_set_vlan, pkt_vxlan_encap
from lib.scenario import REMOTE_VM_MAC, VAP1, VAP2, VID1, VID2, VM1_MAC, VM2_MAC, VNI_BLUE

NETWORK_PCP = 3
NETWORK_DSCP = 24


class PcpOverwriteLocalTest(NveTest):
    """VM1 tags PCP 7; the NVE delivers it to VM2 with the network PCP 3."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC,
                    pcp=NETWORK_PCP)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), VID1, pcp=7)
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=NETWORK_PCP), ACCESS2)
        verify_no_other_packets(self)


class PcpToDscpEncapTest(NveTest):
    """Toward the overlay the network PCP is mapped to the outer DSCP; the VM's PCP is ignored."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC,
                    pcp=NETWORK_PCP)
        self.add_fdb_remote_entry(VNI_BLUE, REMOTE_VM_MAC, REMOTE_VTEP_IP)
        self.add_underlay_route_entry("10.0.2.0", 24, NETWORK1)
        self.add_pcp_to_dscp_entry(NETWORK_PCP, NETWORK_DSCP)
        self.add_pcp_to_dscp_entry(7, 56)
        inner = simple_tcp_packet(eth_src=VM1_MAC, eth_dst=REMOTE_VM_MAC)
        pkt = pkt_add_vlan(inner, VID1, pcp=7)
        exp_vxlan_pkt = pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac=ROUTER_MAC,
                                        dst_mac=NEXTHOP_MAC, src_ip=VTEP_IP,
                                        dst_ip=REMOTE_VTEP_IP, dscp=NETWORK_DSCP)
        mask = Mask(exp_vxlan_pkt)
        mask.set_do_not_care_packet(UDP, "sport")   # flow-entropy hash
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, mask, NETWORK1)
        verify_no_other_packets(self)
