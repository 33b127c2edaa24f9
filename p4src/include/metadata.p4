#ifndef NVE_METADATA_P4
#define NVE_METADATA_P4

#include "defines.p4"

// Normalised fields of the tenant frame, filled once by LookupInit; the ACL and FDB match only these.
struct lookup_t {
    port_t  ingress_port;
    bit<48> eth_dst;
    bit<48> eth_src;
    bit<16> eth_type;    // after any 802.1Q tag
    bit<12> vlan_id;     // 0 when untagged
    bit<32> ipv4_src;
    bit<32> ipv4_dst;
    bit<8>  ip_proto;
    bit<16> l4_sport;
    bit<16> l4_dport;
}

// The VAP (or, after decap, the VN) the frame belongs to.
struct vap_meta_t {
    bit<16> vap_id;
    bit<24> vni;
    bit<3>  pcp;         // network PCP (REQ-5), never the VM's own
}

struct fwd_meta_t {
    bit<3>  kind;        // FWD_*
    port_t  port;
    bit<12> vid;         // the egress port's VID for the VN
    bit<16> out_vap_id;
    bit<16> flood_group;
}

struct tunnel_meta_t {
    bit<32> src_ip;
    bit<32> dst_ip;
    bit<48> src_mac;
    bit<48> dst_mac;
    bit<16> entropy;     // hash of the tenant headers (RFC 7348 source port)
    bit<16> tenant_len;  // length of the tenant frame once its 802.1Q tag is removed
    bit<6>  dscp;
}

struct local_metadata_t {
    lookup_t      lkp;
    vap_meta_t    vap;
    fwd_meta_t    fwd;
    tunnel_meta_t tunnel;
    bit<1>        from_network;   // arrived on a network (underlay) port
    bit<1>        direction;      // DIR_FROM_VAP or DIR_TO_VAP
    bit<1>        punt;
    bit<16>       rx_eth_type;    // ethertype of the frame as received, after any 802.1Q tag
    drop_reason_t drop_reason;
}

#endif
