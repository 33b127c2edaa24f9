#ifndef NVE_LOOKUP_INIT_P4
#define NVE_LOOKUP_INIT_P4

#include "../headers.p4"
#include "../metadata.p4"

// Copies the tenant frame's fields into meta.lkp once, so that later stages never look at raw
// headers and behave the same for frames from a VM (the frame as received) and frames from the
// overlay (the frame inside VXLAN).
control LookupInit(in headers_t hdr, inout local_metadata_t meta) {
    apply {
        // What the punt table matches: the ethertype of the frame as it arrived.
        meta.rx_eth_type = hdr.vlan.isValid() ? hdr.vlan.ether_type : hdr.ethernet.ether_type;
        if (meta.from_network == 1) {
            meta.lkp.eth_dst = hdr.inner_ethernet.dst_addr;
            meta.lkp.eth_src = hdr.inner_ethernet.src_addr;
            meta.lkp.eth_type = hdr.inner_ethernet.ether_type;
            if (hdr.inner_vlan.isValid()) {
                meta.lkp.eth_type = hdr.inner_vlan.ether_type;
                meta.lkp.vlan_id = hdr.inner_vlan.vid;
            }
            if (hdr.inner_ipv4.isValid()) {
                meta.lkp.ipv4_src = hdr.inner_ipv4.src_addr;
                meta.lkp.ipv4_dst = hdr.inner_ipv4.dst_addr;
                meta.lkp.ip_proto = hdr.inner_ipv4.protocol;
            }
            if (hdr.inner_l4_ports.isValid()) {
                meta.lkp.l4_sport = hdr.inner_l4_ports.src_port;
                meta.lkp.l4_dport = hdr.inner_l4_ports.dst_port;
            }
        } else {
            meta.lkp.eth_dst = hdr.ethernet.dst_addr;
            meta.lkp.eth_src = hdr.ethernet.src_addr;
            meta.lkp.eth_type = meta.rx_eth_type;
            if (hdr.vlan.isValid()) {
                meta.lkp.vlan_id = hdr.vlan.vid;
            }
            if (hdr.ipv4.isValid()) {
                meta.lkp.ipv4_src = hdr.ipv4.src_addr;
                meta.lkp.ipv4_dst = hdr.ipv4.dst_addr;
                meta.lkp.ip_proto = hdr.ipv4.protocol;
            }
            if (hdr.tcp_ports.isValid()) {
                meta.lkp.l4_sport = hdr.tcp_ports.src_port;
                meta.lkp.l4_dport = hdr.tcp_ports.dst_port;
            } else if (hdr.udp.isValid()) {
                meta.lkp.l4_sport = hdr.udp.src_port;
                meta.lkp.l4_dport = hdr.udp.dst_port;
            }
        }
    }
}

#endif
