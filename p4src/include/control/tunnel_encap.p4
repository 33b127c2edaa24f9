#ifndef NVE_TUNNEL_ENCAP_P4
#define NVE_TUNNEL_ENCAP_P4

#include "../headers.p4"
#include "../metadata.p4"

// VXLAN encapsulation (RFC 7348) toward a remote VTEP: the encap_* headers go in front of the
// frame as received. The tenant frame goes untagged: its VID means nothing beyond the access port.
control TunnelEncap(inout headers_t hdr, inout local_metadata_t meta) {
    apply {
        if (hdr.vlan.isValid()) {
            hdr.ethernet.ether_type = hdr.vlan.ether_type;
            hdr.vlan.setInvalid();
        }

        hdr.encap_vxlan.setValid();
        hdr.encap_vxlan.flags = VXLAN_FLAGS_I;
        hdr.encap_vxlan.reserved = 0;
        hdr.encap_vxlan.vni = meta.vap.vni;
        hdr.encap_vxlan.reserved2 = 0;

        hdr.encap_udp.setValid();
        hdr.encap_udp.src_port = VXLAN_SPORT_BASE | (meta.tunnel.entropy & VXLAN_SPORT_MASK);
        hdr.encap_udp.dst_port = UDP_PORT_VXLAN;
        hdr.encap_udp.length = meta.tunnel.tenant_len + VXLAN_HDR_LEN + UDP_HDR_LEN;
        hdr.encap_udp.checksum = 0;

        hdr.encap_ipv4.setValid();
        hdr.encap_ipv4.version = 4;
        hdr.encap_ipv4.ihl = 5;
        hdr.encap_ipv4.dscp = meta.tunnel.dscp;
        hdr.encap_ipv4.ecn = 0;
        hdr.encap_ipv4.total_len = hdr.encap_udp.length + IPV4_HDR_LEN;
        hdr.encap_ipv4.identification = 0;
        hdr.encap_ipv4.flags = 0;
        hdr.encap_ipv4.frag_offset = 0;
        hdr.encap_ipv4.ttl = VXLAN_TTL;
        hdr.encap_ipv4.protocol = IP_PROTO_UDP;
        hdr.encap_ipv4.hdr_checksum = 0;   // computed in NveComputeChecksum
        hdr.encap_ipv4.src_addr = meta.tunnel.src_ip;
        hdr.encap_ipv4.dst_addr = meta.tunnel.dst_ip;

        hdr.encap_ethernet.setValid();
        hdr.encap_ethernet.dst_addr = meta.tunnel.dst_mac;
        hdr.encap_ethernet.src_addr = meta.tunnel.src_mac;
        hdr.encap_ethernet.ether_type = ETHERTYPE_IPV4;
    }
}

#endif
