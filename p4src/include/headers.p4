#ifndef NVE_HEADERS_P4
#define NVE_HEADERS_P4

#include "defines.p4"

// Controller headers: carried between the switch and the controller on the CPU port.
@controller_header("packet_in")
header packet_in_t {
    port_t  ingress_port;
    bit<7>  _pad;
}

@controller_header("packet_out")
header packet_out_t {
    port_t  egress_port;
    bit<7>  _pad;
}

header ethernet_t {
    bit<48> dst_addr;
    bit<48> src_addr;
    bit<16> ether_type;
}

header vlan_t {
    bit<3>  pcp;
    bit<1>  dei;
    bit<12> vid;
    bit<16> ether_type;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<6>  dscp;
    bit<2>  ecn;
    bit<16> total_len;
    bit<16> identification;
    bit<3>  flags;
    bit<13> frag_offset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdr_checksum;
    bit<32> src_addr;
    bit<32> dst_addr;
}

// IPv4 options: up to 40 bytes (IHL 15).
header ipv4_options_t {
    varbit<320> options;
}

header udp_t {
    bit<16> src_port;
    bit<16> dst_port;
    bit<16> length;
    bit<16> checksum;
}

header vxlan_t {
    bit<8>  flags;
    bit<24> reserved;
    bit<24> vni;
    bit<8>  reserved2;
}

// The first four bytes of TCP or UDP: all the tenant's L4 header the NVE looks at.
header l4_ports_t {
    bit<16> src_port;
    bit<16> dst_port;
}

// The frame as it arrived is parsed into the unprefixed headers: on an access port that is the
// tenant frame; on a network port it is the underlay, and the tenant frame is in inner_*.
// encap_* are the underlay headers the NVE pushes in front of a tenant frame (TunnelEncap).
struct headers_t {
    packet_in_t    packet_in;
    packet_out_t   packet_out;
    ethernet_t     encap_ethernet;
    ipv4_t         encap_ipv4;
    udp_t          encap_udp;
    vxlan_t        encap_vxlan;
    ethernet_t     ethernet;
    vlan_t         vlan;
    ipv4_t         ipv4;
    ipv4_options_t ipv4_options;
    l4_ports_t     tcp_ports;
    udp_t          udp;
    vxlan_t        vxlan;
    ethernet_t     inner_ethernet;
    vlan_t         inner_vlan;
    ipv4_t         inner_ipv4;
    ipv4_options_t inner_ipv4_options;
    l4_ports_t     inner_l4_ports;
}

#endif
