#ifndef NVE_TUNNEL_ENCAP_P4
#define NVE_TUNNEL_ENCAP_P4

#include <v1model.p4>
#include "../headers.p4"
#include "../metadata.p4"

// VXLAN encapsulation (RFC 7348) toward a remote VTEP. The tenant frame goes untagged: its VID
// means nothing beyond the access port.
control TunnelEncap(inout headers_t hdr, inout local_metadata_t meta) {
    apply {
        if (hdr.inner_vlan.isValid()) {
            hdr.inner_ethernet.ether_type = hdr.inner_vlan.ether_type;
            hdr.inner_vlan.setInvalid();
        }

        hdr.vxlan.setValid();
        hdr.vxlan.flags = VXLAN_FLAGS_I;
        hdr.vxlan.reserved = 0;
        hdr.vxlan.vni = meta.vap.vni;
        hdr.vxlan.reserved2 = 0;

        hdr.outer_udp.setValid();
        hdr.outer_udp.src_port = VXLAN_SPORT_BASE | (meta.tunnel.entropy & VXLAN_SPORT_MASK);
        hdr.outer_udp.dst_port = UDP_PORT_VXLAN;
        hdr.outer_udp.length = meta.tunnel.tenant_len + VXLAN_HDR_LEN + UDP_HDR_LEN;
        hdr.outer_udp.checksum = 0;

        hdr.outer_ipv4.setValid();
        hdr.outer_ipv4.version = 4;
        hdr.outer_ipv4.ihl = 5;
        hdr.outer_ipv4.dscp = meta.tunnel.dscp;
        hdr.outer_ipv4.ecn = 0;
        hdr.outer_ipv4.total_len = hdr.outer_udp.length + IPV4_HDR_LEN;
        hdr.outer_ipv4.identification = 0;
        hdr.outer_ipv4.flags = 0;
        hdr.outer_ipv4.frag_offset = 0;
        hdr.outer_ipv4.ttl = VXLAN_TTL;
        hdr.outer_ipv4.protocol = IP_PROTO_UDP;
        hdr.outer_ipv4.hdr_checksum = 0;   // computed in NveComputeChecksum
        hdr.outer_ipv4.src_addr = meta.tunnel.src_ip;
        hdr.outer_ipv4.dst_addr = meta.tunnel.dst_ip;

        hdr.outer_ethernet.setValid();
        hdr.outer_ethernet.dst_addr = meta.tunnel.dst_mac;
        hdr.outer_ethernet.src_addr = meta.tunnel.src_mac;
        hdr.outer_ethernet.ether_type = ETHERTYPE_IPV4;
    }
}

#endif
