"""Counters: per VAP in both directions, per ACL rule, drops by reason."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet

from controlplane.p4rt import p4names as P
from lib.nve_base import ACCESS1, ACCESS2, DROP_ACL_DENY, NveTest, autocleanup
from lib.packets import pkt_add_vlan, pkt_set_vlan
from lib.scenario import VAP1, VAP2, VID1, VID2, VM1_MAC, VM2_MAC, VNI_BLUE


class VapCountersTest(NveTest):
    """VM1 -> VM2 counts in VAP1's rx and VAP2's tx (packets and bytes), not in VAP1's tx."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        rx1 = self.client.read_counter(P.VAP_RX, VAP1)
        tx2 = self.client.read_counter(P.VAP_TX, VAP2)
        tx1 = self.client.read_counter(P.VAP_TX, VAP1)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC, pktlen=200), VID1)
        for _ in range(3):
            send_packet(self, ACCESS1, pkt)
            verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)
        self.assert_counter(lambda: self.client.read_counter(P.VAP_RX, VAP1)[0], rx1[0] + 3,
                            "vap_rx packets of VAP1")
        self.assertEqual(self.client.read_counter(P.VAP_RX, VAP1)[1], rx1[1] + 3 * len(pkt))
        self.assert_counter(lambda: self.client.read_counter(P.VAP_TX, VAP2)[0], tx2[0] + 3,
                            "vap_tx packets of VAP2")
        self.assertEqual(self.client.read_counter(P.VAP_TX, VAP2)[1], tx2[1] + 3 * len(pkt))
        self.assertEqual(self.client.read_counter(P.VAP_TX, VAP1), tx1,
                         "nothing was sent toward VAP1")


class AclRuleCounterTest(NveTest):
    """Each ACL rule counts the frames it matched; the deny rule's count equals the drops."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE, permit_all=False)
        permit_all = self.add_acl_entry(1, True, vni=VNI_BLUE)
        deny_ssh = self.add_acl_entry(100, False, vni=VNI_BLUE, ip_proto=6, l4_dport=22)
        self.add_vm(port=ACCESS1, vid=VID1, vap_id=VAP1, vni=VNI_BLUE, vm_mac=VM1_MAC)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        drops_before = self.drop_count(DROP_ACL_DENY)
        for dport, times in ((80, 2), (22, 3)):
            pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC,
                                                 tcp_dport=dport), VID1)
            for _ in range(times):
                send_packet(self, ACCESS1, pkt)
                if dport == 80:
                    verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)
        self.assert_counter(lambda: self.client.read_direct_counter(permit_all)[0], 2,
                            "permit-all rule")
        self.assert_counter(lambda: self.client.read_direct_counter(deny_ssh)[0], 3,
                            "deny-ssh rule")
        self.assert_dropped(DROP_ACL_DENY, drops_before, count=3)
