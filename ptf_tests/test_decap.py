"""VXLAN decapsulation on network ports: only for our VTEP address and a known VNI."""

from __future__ import annotations

from ptf.testutils import send_packet, simple_tcp_packet, verify_no_other_packets, verify_packet

from lib.nve_base import (ACCESS2, DROP_UNKNOWN_VNI, DROP_UNKNOWN_VTEP, NETWORK1, OTHER_VTEP_IP,
                          REMOTE_VTEP_IP, ROUTER_MAC, VTEP_IP, NveTest, autocleanup)
from lib.packets import pkt_add_vlan, pkt_vxlan_encap
from lib.scenario import (REMOTE_VM_IP, REMOTE_VM_MAC, VAP2, VID2, VM2_IP, VM2_MAC, VNI_BLUE,
                          VNI_RED)


def overlay_frame(dst_ip: str = VTEP_IP, vni: int = VNI_BLUE, dscp: int = 0):
    """A remote VM's frame to VM2 as the remote VTEP sends it, and the tenant frame inside."""
    inner = simple_tcp_packet(eth_src=REMOTE_VM_MAC, eth_dst=VM2_MAC, ip_src=REMOTE_VM_IP,
                              ip_dst=VM2_IP)
    pkt = pkt_vxlan_encap(inner, vni=vni, src_mac="02:00:00:00:fe:01", dst_mac=ROUTER_MAC,
                          src_ip=REMOTE_VTEP_IP, dst_ip=dst_ip, dscp=dscp, sport=50000)
    return pkt, inner


class DecapKnownVniTest(NveTest):
    """VXLAN to our VTEP in a known VNI reaches the local VM, tagged with its port's VID."""

    @autocleanup
    def runTest(self) -> None:
        self.add_local_vtep_entry()
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        self.add_dscp_to_pcp_entry(dscp=46, pcp=5)
        pkt, inner = overlay_frame(dscp=46)
        exp_pkt = pkt_add_vlan(inner, VID2, pcp=5)
        send_packet(self, NETWORK1, pkt)
        verify_packet(self, exp_pkt, ACCESS2)
        verify_no_other_packets(self)


class DecapUnknownVniTest(NveTest):
    """A VNI this NVE does not serve is dropped and counted."""

    @autocleanup
    def runTest(self) -> None:
        self.add_local_vtep_entry()
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        before = self.drop_count(DROP_UNKNOWN_VNI)
        pkt, _ = overlay_frame(vni=VNI_RED)
        send_packet(self, NETWORK1, pkt)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_UNKNOWN_VNI, before)


class DecapUnknownVtepTest(NveTest):
    """VXLAN addressed to another VTEP is not ours to open: dropped and counted."""

    @autocleanup
    def runTest(self) -> None:
        self.add_local_vtep_entry()
        self.add_vn(VNI_BLUE)
        self.add_vm(port=ACCESS2, vid=VID2, vap_id=VAP2, vni=VNI_BLUE, vm_mac=VM2_MAC)
        before = self.drop_count(DROP_UNKNOWN_VTEP)
        pkt, _ = overlay_frame(dst_ip=OTHER_VTEP_IP)
        send_packet(self, NETWORK1, pkt)
        verify_no_other_packets(self)
        self.assert_dropped(DROP_UNKNOWN_VTEP, before)
