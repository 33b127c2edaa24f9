/* P4 network virtualization edge (NVE): VMs on access ports, VXLAN on network ports.
 * The pipeline in order: parse -> PortRole -> LookupInit -> Punt -> Vap (access) | TunnelDecap (network)
 * -> Vn -> Acl -> Fdb -> replication -> Replica -> PcpMarking -> TunnelEncap -> deparse.
 * v1model specifics (standard_metadata, mark_to_drop, hash) stay in this file, parser.p4 and checksum.p4.
 */
#include <core.p4>
#include <v1model.p4>

// Counters of the shared controls, v1model flavour (p4src/tna/arch.p4 has the TNA one). v1model
// counts a direct counter on every hit; the count() calls the shared actions make for TNA do nothing.
#define NVE_COUNTER(name, size) counter(size, CounterType.packets_and_bytes) name
#define NVE_DIRECT_COUNTER(name) direct_counter(CounterType.packets_and_bytes) name

#include "include/defines.p4"
#include "include/sizes.p4"
#include "include/headers.p4"
#include "include/metadata.p4"
#include "include/parser.p4"
#include "include/checksum.p4"
#include "include/control/port_role.p4"
#include "include/control/lookup_init.p4"
#include "include/control/punt.p4"
#include "include/control/vap.p4"
#include "include/control/tunnel_decap.p4"
#include "include/control/vn.p4"
#include "include/control/acl.p4"
#include "include/control/fdb.p4"
#include "include/control/replica.p4"
#include "include/control/pcp.p4"
#include "include/control/tunnel_encap.p4"

control NveIngress(inout headers_t hdr,
                   inout local_metadata_t meta,
                   inout standard_metadata_t standard_metadata) {

    counter(NUM_DROP_REASONS, CounterType.packets_and_bytes) ingress_drops;

    PortRole()    port_role;
    LookupInit()  lookup_init;
    Punt()        punt;
    Vap()         vap;
    TunnelDecap() tunnel_decap;
    Vn()          vn;
    Acl()         acl;
    Fdb()         fdb;

    apply {
        if (hdr.packet_out.isValid()) {
            // From the controller: out of the port it names, untouched.
            standard_metadata.egress_spec = hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
        } else {
            mark_to_drop(standard_metadata);   // only a positive decision below forwards
            meta.lkp.ingress_port = standard_metadata.ingress_port;
            port_role.apply(meta);
            if (meta.drop_reason != DROP_NONE) {
                // a port without a role: nothing else to look at
            } else if (standard_metadata.parser_error != error.NoError
                    || standard_metadata.checksum_error == 1) {
                meta.drop_reason = DROP_MALFORMED;
            } else {
                lookup_init.apply(hdr, meta);
                punt.apply(meta);
            }
            if (meta.drop_reason == DROP_NONE && meta.punt == 0) {
                if (meta.from_network == 1) {
                    tunnel_decap.apply(hdr, meta);
                } else {
                    vap.apply(meta);
                    meta.tunnel.tenant_len = (bit<16>)standard_metadata.packet_length;
                    if (hdr.vlan.isValid()) {
                        meta.tunnel.tenant_len = meta.tunnel.tenant_len - VLAN_HDR_LEN;
                    }
                    hash(meta.tunnel.entropy, HashAlgorithm.crc16, 16w0,
                         { meta.lkp.eth_dst, meta.lkp.eth_src, meta.lkp.eth_type,
                           meta.lkp.ipv4_src, meta.lkp.ipv4_dst, meta.lkp.ip_proto,
                           meta.lkp.l4_sport, meta.lkp.l4_dport },
                         32w65536);
                }
            }
            if (meta.drop_reason == DROP_NONE && meta.punt == 0) {
                vn.apply(meta);
            }
            if (meta.drop_reason == DROP_NONE && meta.punt == 0) {
                acl.apply(meta);
            }
            if (meta.drop_reason == DROP_NONE && meta.punt == 0) {
                fdb.apply(meta);
            }

            if (meta.drop_reason != DROP_NONE) {
                ingress_drops.count((bit<32>)meta.drop_reason);
            } else if (meta.fwd.kind == FWD_CPU) {
                standard_metadata.egress_spec = CPU_PORT;
            } else if (meta.fwd.kind == FWD_FLOOD) {
                if (meta.fwd.flood_group == 0) {
                    meta.drop_reason = DROP_NO_FLOOD_GROUP;
                    ingress_drops.count((bit<32>)meta.drop_reason);
                } else {
                    standard_metadata.mcast_grp = meta.fwd.flood_group;
                }
            } else if (meta.fwd.kind == FWD_LOCAL || meta.fwd.kind == FWD_REMOTE) {
                standard_metadata.egress_spec = meta.fwd.port;
            }
        }
    }
}

control NveEgress(inout headers_t hdr,
                  inout local_metadata_t meta,
                  inout standard_metadata_t standard_metadata) {

    counter(NUM_DROP_REASONS, CounterType.packets_and_bytes) egress_drops;

    Replica()     replica;
    PcpMarking()  pcp_marking;
    TunnelEncap() tunnel_encap;

    apply {
        if (standard_metadata.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = standard_metadata.ingress_port;
            hdr.packet_in._pad = 0;
        } else if (meta.fwd.kind != FWD_NONE) {
            if (meta.fwd.kind == FWD_FLOOD) {
                replica.apply(standard_metadata.egress_port, standard_metadata.egress_rid, meta);
            }
            if (meta.drop_reason == DROP_NONE) {
                pcp_marking.apply(hdr, meta);
                if (meta.fwd.kind == FWD_REMOTE) {
                    tunnel_encap.apply(hdr, meta);
                }
            } else {
                egress_drops.count((bit<32>)meta.drop_reason);
                mark_to_drop(standard_metadata);
            }
        }
    }
}

V1Switch(NveParser(),
         NveVerifyChecksum(),
         NveIngress(),
         NveEgress(),
         NveComputeChecksum(),
         NveDeparser()) main;
