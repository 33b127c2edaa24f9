"""Inactive VAPs (pre-associated, suspended, emigrated) drop and count; active ones forward."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet

from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Entry
from lib.nve_base import ACCESS1, ACCESS2, DROP_INACTIVE_VAP, NveTest, autocleanup
from lib.packets import pkt_add_vlan, pkt_set_vlan
from lib.scenario import VAP1, VAP2, VID1, VID2, VM1_MAC, VM2_MAC, VNI_BLUE


class InactiveVapDropTest(NveTest):
    """An inactive VAP drops (counted); switching it to active makes the same frame go through."""

    @autocleanup
    def runTest(self) -> None:
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        inactive = self.add_port_vlan_to_vni_entry(ACCESS1, VID1, VAP1, VNI_BLUE, active=False)
        self.add_vap_src_mac_entry(VAP1, VM1_MAC)
        pkt = pkt_add_vlan(simple_tcp_packet(eth_src=VM1_MAC, eth_dst=VM2_MAC), VID1)

        before = self.drop_count(DROP_INACTIVE_VAP)
        send_packet(self, ACCESS1, pkt)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_INACTIVE_VAP, before)
        rx_before = self.client.read_counter(P.VAP_RX, VAP1)[0]

        active = Entry(P.PORT_VLAN_TO_VNI, inactive.match, P.SET_VAP,
                       {P.SET_VAP_VAP_ID: VAP1, P.SET_VAP_VNI: VNI_BLUE, P.SET_VAP_PCP: 0})
        self.modify(active, previous=inactive)
        send_packet(self, ACCESS1, pkt)
        verify_packet(self, pkt_set_vlan(pkt, VID2, pcp=0), ACCESS2)
        verify_no_other_packets(self)
        self.assert_counter(lambda: self.client.read_counter(P.VAP_RX, VAP1)[0], rx_before + 1,
                            "vap_rx of VAP1")
        self.assertEqual(self.drop_count(DROP_INACTIVE_VAP), before + 1)
