"""Per-VN ACL, both directions: from a VAP, and decapsulated toward a VAP."""

from __future__ import annotations

from ptf.testutils import (send_packet, simple_tcp_packet, simple_udp_packet,
                           verify_no_other_packets, verify_packet)

from lib.nve_base import (ACCESS1, ACCESS2, DIR_FROM_VAP, DIR_TO_VAP, DROP_ACL_DENY, NETWORK1,
                          REMOTE_VTEP_IP, ROUTER_MAC, VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_set_vlan, pkt_vxlan_encap
from lib.scenario import (REMOTE_VM_IP, REMOTE_VM_MAC, VAP1, VAP2, VID1, VID2, VM1_IP, VM1_MAC,
                          VM2_IP, VM2_MAC, VNI_BLUE)

SSH, HTTP, DNS = 22, 80, 53


class AclDenyTcpPortTest(NveTest):
    """A deny rule on TCP port 22 from VAPs drops SSH; HTTP goes through the permit-all rule."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        self.add_acl_entry(100, False, vni=VNI_BLUE, direction=DIR_FROM_VAP, ip_proto=6,
                           l4_dport=SSH)

        http = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC, ip_src=VM1_IP,
                                              ip_dst=VM2_IP, tcp_dport=HTTP), VID1)
        send_packet(self, ACCESS1, http)
        verify_packet(self, pkt_set_vlan(http, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)

        before = self.drop_count(DROP_ACL_DENY)
        ssh = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC, ip_src=VM1_IP,
                                             ip_dst=VM2_IP, tcp_dport=SSH), VID1)
        send_packet(self, ACCESS1, ssh)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_ACL_DENY, before)


class AclDefaultDenyTest(NveTest):
    """A VN with no ACL rule at all denies everything (the table misses to deny)."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE, permit_all=False)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        before = self.drop_count(DROP_ACL_DENY)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), VID1)
        send_packet(self, ACCESS1, pkt)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_ACL_DENY, before)


class AclDenyToVapTest(NveTest):
    """A to-VAP rule drops decapsulated DNS toward the VM; the same rule ignores from-VAP DNS."""

    @autocleanup
    def runTest(self) -> None:
        self.add_local_vtep_entry()
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        self.add_acl_entry(100, False, vni=VNI_BLUE, direction=DIR_TO_VAP, ip_proto=17,
                           l4_dport=DNS)

        def from_overlay(dport: int):
            inner = simple_udp_packet(eth_src=REMOTE_VM_MAC, eth_dst=VM2_MAC, ip_src=REMOTE_VM_IP,
                                      ip_dst=VM2_IP, udp_dport=dport)
            return inner, pkt_vxlan_encap(inner, vni=VNI_BLUE, src_mac="02:00:00:00:fe:01",
                                          dst_mac=ROUTER_MAC, src_ip=REMOTE_VTEP_IP,
                                          dst_ip=VTEP_IP, sport=50001)

        before = self.drop_count(DROP_ACL_DENY)
        _, dns = from_overlay(DNS)
        send_packet(self, NETWORK1, dns)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_ACL_DENY, before)

        inner, other = from_overlay(DNS + 1)
        send_packet(self, NETWORK1, other)
        verify_packet(self, pkt_add_vlan(inner, VID2), ACCESS2)
        verify_no_other_packets(self)

        local_dns = pkt_add_vlan(simple_udp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC,
                                                   udp_dport=DNS), VID1)
        send_packet(self, ACCESS1, local_dns)
        verify_packet(self, pkt_set_vlan(local_dns, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)
