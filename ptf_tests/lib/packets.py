"""Named packet transforms: expected packets are built from sent ones with these, never by hand."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet

VXLAN_PORT = 4789


def pkt_add_vlan(pkt: Packet, vid: int, pcp: int = 0) -> Packet:
    """The frame with an 802.1Q tag (vid, pcp) inserted after the Ethernet header."""
    eth = pkt[Ether]
    payload = eth.payload.copy()
    tagged = Ether(dst=eth.dst, src=eth.src, type=0x8100) / Dot1Q(
        vlan=vid, prio=pcp, type=eth.type) / payload
    return Ether(bytes(tagged))


def pkt_remove_vlan(pkt: Packet) -> Packet:
    """The frame without its (outermost) 802.1Q tag."""
    eth = pkt[Ether]
    tag = pkt[Dot1Q]
    untagged = Ether(dst=eth.dst, src=eth.src, type=tag.type) / tag.payload.copy()
    return Ether(bytes(untagged))


def pkt_set_vlan(pkt: Packet, vid: int, pcp: int) -> Packet:
    """The frame tagged with (vid, pcp), replacing any tag it had."""
    if Dot1Q in pkt:
        pkt = pkt_remove_vlan(pkt)
    return pkt_add_vlan(pkt, vid, pcp)


def pkt_vxlan_encap(inner: Packet, *, vni: int, src_mac: str, dst_mac: str, src_ip: str,
                    dst_ip: str, dscp: int = 0, sport: int = 0) -> Packet:
    """inner carried in VXLAN as our NVE sends it: TTL 64, id 0, UDP checksum 0."""
    outer = (Ether(src=src_mac, dst=dst_mac)
             / IP(src=src_ip, dst=dst_ip, tos=dscp << 2, ttl=64, id=0, flags=0)
             / UDP(sport=sport, dport=VXLAN_PORT, chksum=0)
             / VXLAN(vni=vni, flags=0x08)
             / inner.copy())
    return Ether(bytes(outer))


def pkt_vxlan_decap(pkt: Packet) -> Packet:
    """The tenant frame inside a VXLAN packet."""
    return Ether(bytes(pkt[VXLAN].payload))
