"""BUM replication per VN: each local VAP with its own VID, head-end to each remote VTEP; split
horizon: never back out of the ingress port, and overlay traffic only to local VAPs."""

from __future__ import annotations

from ptf.mask import Mask
from ptf.testutils import (send_packet, simple_arp_packet, simple_tcp_packet,
                           verify_no_other_packets, verify_packet)
from scapy.layers.inet import UDP

from lib.nve_base import (ACCESS1, ACCESS2, ACCESS3, NETWORK1, NEXTHOP_MAC, REMOTE_VTEP_IP,
                          ROUTER_MAC, VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_set_vlan, pkt_vxlan_encap
from lib.scenario import (BROADCAST, REMOTE_VM_MAC, VAP1, VAP2, VAP3, VID1, VID2, VID3, VM1_IP,
                          VM1_MAC, VM2_MAC, VM3_MAC, VNI_BLUE)

FLOOD_GROUP = 1
REMOTE_RID = 0x8000
UNKNOWN_MAC = "52:54:00:00:99:99"


class FloodSetup(NveTest):
    """Three local VMs of BLUE on three ports and one remote VTEP, in one flood group."""

    def add_flooding_vn(self) -> None:
        self.add_local_vtep_entry()
        self.add_vn(VNI_BLUE, flood_group=FLOOD_GROUP)
        for port, vid, vap, vm_mac in ((ACCESS1, VID1, VAP1, VM1_MAC), (ACCESS2, VID2, VAP2, VM2_MAC),
                                       (ACCESS3, VID3, VAP3, VM3_MAC)):
            self.add_vm(port=port, vid=vid, vap_id=vap, vni=VNI_BLUE, vm_mac=vm_mac)
            self.add_flood_replica_vap_entry(vap, vid, vap)
        self.add_flood_replica_vtep_entry(REMOTE_RID, REMOTE_VTEP_IP)
        self.add_multicast_group(FLOOD_GROUP, [(ACCESS1, VAP1), (ACCESS2, VAP2), (ACCESS3, VAP3),
                                               (NETWORK1, REMOTE_RID)])

    def expect_flood_from_vm1(self, pkt, inner) -> None:
        verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_packet(self, pkt_set_vlan(pkt, VID3, pcp=0), ACCESS3)
        exp_vxlan_pkt = pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac=ROUTER_MAC,
                                        dst_mac=NEXTHOP_MAC, src_ip=VTEP_IP,
                                        dst_ip=REMOTE_VTEP_IP)
        mask = Mask(exp_vxlan_pkt)
        mask.set_do_not_care_packet(UDP, "sport")   # flow-entropy hash
        verify_packet(self, mask, NETWORK1)
        verify_no_other_packets(self)               # nothing back out of ACCESS1


class FloodBroadcastTest(FloodSetup):
    """An ARP broadcast from VM1 reaches VM2 and VM3 with their VIDs and the remote VTEP."""

    @autocleanup
    def runTest(self) -> None:
        self.add_flooding_vn()
        inner = simple_arp_packet(eth_src=VM1_MAC, hw_snd=VM1_MAC, ip_snd=VM1_IP,
                                  ip_tgt="192.168.10.2")
        pkt = pkt_add_vlan(inner, VID1)
        send_packet(self, ACCESS1, pkt)
        self.expect_flood_from_vm1(pkt, inner)


class FloodUnknownUnicastTest(FloodSetup):
    """A frame to an unknown MAC floods like a broadcast."""

    @autocleanup
    def runTest(self) -> None:
        self.add_flooding_vn()
        inner = simple_tcp_packet(eth_src=VM1_MAC, eth_dst=UNKNOWN_MAC)
        pkt = pkt_add_vlan(inner, VID1)
        send_packet(self, ACCESS1, pkt)
        self.expect_flood_from_vm1(pkt, inner)


class FloodFromNetworkTest(FloodSetup):
    """BUM from the overlay goes to every local VAP and is never tunnelled again."""

    @autocleanup
    def runTest(self) -> None:
        self.add_flooding_vn()
        inner = simple_arp_packet(eth_src=REMOTE_VM_MAC, hw_snd=REMOTE_VM_MAC, eth_dst=BROADCAST)
        pkt = pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac="02:00:00:00:fe:01",
                              dst_mac=ROUTER_MAC, src_ip=REMOTE_VTEP_IP, dst_ip=VTEP_IP,
                              sport=50002)
        send_packet(self, NETWORK1, pkt)
        for port, vid in ((ACCESS1, VID1), (ACCESS2, VID2), (ACCESS3, VID3)):
            verify_packet(self, pkt_add_vlan(inner, vid), port)
        verify_no_other_packets(self)


class FloodNoGroupTest(NveTest):
    """A VN without a flood group drops BUM instead of sending it anywhere."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE, flood_group=0)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        pkt = pkt_add_vlan(simple_arp_packet(eth_src=VM1_MAC, hw_snd=VM1_MAC), VID1)
        send_packet(self, ACCESS1, pkt)
        verify_no_other_packets(self)


class FloodSamePortOtherVapTest(NveTest):
    """Two VMs of one VN behind one port (VIDs 10 and 40): a broadcast from one reaches the other
    on that same port with its own VID, and never comes back to the sender's VAP."""

    @autocleanup
    def runTest(self) -> None:
        vm4_mac, vid4, vap4 = "52:54:00:00:00:04", 40, 4
        self.add_vn(VNI_BLUE, flood_group=FLOOD_GROUP)
        for port, vid, vap, vm_mac in ((ACCESS1, VID1, VAP1, VM1_MAC), (ACCESS1, vid4, vap4, vm4_mac),
                                       (ACCESS2, VID2, VAP2, VM2_MAC)):
            self.add_vm(port=port, vid=vid, vap_id=vap, vni=VNI_BLUE, vm_mac=vm_mac)
            self.add_flood_replica_vap_entry(vap, vid, vap)
        self.add_multicast_group(FLOOD_GROUP, [(ACCESS1, VAP1), (ACCESS1, vap4), (ACCESS2, VAP2)])
        pkt = pkt_add_vlan(simple_arp_packet(eth_src=VM1_MAC, hw_snd=VM1_MAC), VID1)
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, pkt_set_vlan(pkt, vid4, pcp=0), ACCESS1)
        verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)
