#ifndef NVE_TNA_METADATA_P4
#define NVE_TNA_METADATA_P4

#include "../include/defines.p4"
#include "../include/metadata.p4"

// On Tofino, ingress and egress are separate pipelines: user metadata does not survive the
// traffic manager. What egress needs of ingress's decisions travels in front of the frame in this
// header, which the ingress deparser emits and the egress parser extracts (never sent on a wire).
header nve_bridged_t {
    port_t   ingress_port;   // split horizon (Replica), packet_in.ingress_port
    bit<1>   from_network;
    bit<3>   fwd_kind;       // FWD_*
    bit<3>   pcp;            // network PCP (PcpMarking)
    bit<4>   _pad0;
    bit<12>  fwd_vid;        // unicast to a local VAP: that port's VID for the VN
    bit<16>  out_vap_id;
    bit<24>  vni;
    bit<16>  entropy;        // VXLAN source port hash
    bit<32>  tunnel_src_ip;  // unicast to a remote VTEP: set by underlay_route
    bit<32>  tunnel_dst_ip;
    bit<48>  tunnel_src_mac;
    bit<48>  tunnel_dst_mac;
}   // 31 bytes

// The user metadata of both gresses. The shared controls see only `nve`, the v1model program's
// local_metadata_t; the rest is what TNA needs around it.
struct nve_tna_metadata_t {
    local_metadata_t nve;
    nve_bridged_t    bridged;
    bool             malformed;              // IPv4 version or IHL the NVE cannot parse
    bool             ipv4_checksum_ok;       // set by the ingress parser when it parsed IPv4
    bool             inner_ipv4_checksum_ok;
}

#endif
