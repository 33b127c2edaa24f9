"""VXLAN encapsulation toward a remote VTEP."""

from __future__ import annotations

from ptf.mask import Mask
from ptf.testutils import dp_poll, send_packet, simple_tcp_packet, verify_no_other_packets
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from lib.nve_base import (ACCESS1, DROP_NO_ROUTE, NETWORK1, NEXTHOP_MAC, REMOTE_VTEP_IP,
                          ROUTER_MAC, VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_vxlan_encap
from lib.scenario import REMOTE_VM_IP, REMOTE_VM_MAC, VAP1, VID1, VM1_IP, VM1_MAC, VNI_BLUE


def vxlan_mask(exp_pkt):
    """Only the UDP source port is free: it is the flow-entropy hash (RFC 7348)."""
    mask = Mask(exp_pkt)
    mask.set_do_not_care_packet(UDP, "sport")
    return mask


class EncapKnownRemoteTest(NveTest):
    """A VM's frame to a MAC behind a remote VTEP leaves the network port in VXLAN, untagged."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_fdb_remote_entry(VNI_BLUE, REMOTE_VM_MAC, REMOTE_VTEP_IP)
        self.add_underlay_route_entry("10.0.2.0", 24, NETWORK1)

        sports = set()
        for tcp_sport in (1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007):
            inner = simple_tcp_packet(eth_src=VM1_MAC, eth_dst=REMOTE_VM_MAC, ip_src=VM1_IP,
                                      ip_dst=REMOTE_VM_IP, tcp_sport=tcp_sport)
            pkt = pkt_add_vlan(inner, VID1)
            exp_vxlan_pkt = pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac=ROUTER_MAC,
                                            dst_mac=NEXTHOP_MAC, src_ip=VTEP_IP,
                                            dst_ip=REMOTE_VTEP_IP)
            send_packet(self, ACCESS1, pkt)
            result = dp_poll(self, port_number=NETWORK1, exp_pkt=vxlan_mask(exp_vxlan_pkt),
                             timeout=2)
            self.assertTrue(isinstance(result, self.dataplane.PollSuccess),
                            f"no VXLAN packet on port {NETWORK1} for TCP source {tcp_sport}")
            got = Ether(result.packet)
            sport = got[UDP].sport
            self.assertGreaterEqual(sport, 0xC000, "entropy port outside the dynamic range")
            self.assertEqual(got[IP].len, len(inner) + 50 - 14)
            sports.add(sport)
            # The same flow always hashes to the same port.
            send_packet(self, ACCESS1, pkt)
            again = dp_poll(self, port_number=NETWORK1, exp_pkt=vxlan_mask(exp_vxlan_pkt),
                            timeout=2)
            self.assertEqual(Ether(again.packet)[UDP].sport, sport)
        self.assertGreater(len(sports), 1, "all flows got one source port: no entropy")
        verify_no_other_packets(self)


class EncapNoRouteTest(NveTest):
    """Without an underlay route to the remote VTEP the frame is dropped and counted."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_fdb_remote_entry(VNI_BLUE, REMOTE_VM_MAC, REMOTE_VTEP_IP)
        before = self.drop_count(DROP_NO_ROUTE)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=REMOTE_VM_MAC), VID1)
        send_packet(self, ACCESS1, pkt)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_NO_ROUTE, before)
