/* The NVE program for the Tofino Native Architecture (tna.p4: Pipeline, Switch).
 *
 * The same data plane as p4src/nve.p4 with the same control-plane schema: the controls, their
 * instance names, tables, keys, actions and counters are those of the v1model program, so their
 * P4Info names are too (tests/test_tna_schema.py compares the two P4Infos). The pipeline order:
 *   ingress: parse -> PortRole -> LookupInit -> Punt -> Vap (access) | TunnelDecap (network)
 *            -> Vn -> Acl -> Fdb -> traffic manager (unicast, or the VN's multicast group)
 *   egress:  Replica -> PcpMarking -> TunnelEncap -> deparse
 *
 * Shared with the v1model program, unchanged: include/defines.p4, headers.p4, metadata.p4 and
 * every feature control in include/control (their counters come from the NVE_COUNTER and
 * NVE_DIRECT_COUNTER macros of each architecture). TNA-only, in this directory: this
 * file, arch.p4 (counters, CPU port), metadata.p4 (bridged metadata), parser.p4 (parsers,
 * checksums, deparsers) and sizes.p4 (hardware table sizes).
 *
 * Where v1model and TNA differ, in this file:
 *   mark_to_drop          -> drop_ctl, set first and cleared by a positive forwarding decision
 *   egress_spec           -> ucast_egress_port; mcast_grp -> mcast_grp_a (the VN's flood group)
 *   egress_rid            -> eg_intr_md.egress_rid: the replica's RID (P4Runtime replica instance)
 *   hash(crc16)           -> Hash<bit<16>>(CRC16) for the VXLAN source port
 *   packet_length         -> eg_intr_md.pkt_length in egress (ingress has no packet length)
 *   user metadata         -> bridged to egress in front of the frame (metadata.p4)
 *   packet-out            -> sent straight to its port with bypass_egress, as v1model's egress
 *                            leaves it untouched
 */
#include <core.p4>
#include <tna.p4>

#include "arch.p4"
#include "../include/defines.p4"
#include "sizes.p4"
#include "../include/headers.p4"
#include "../include/metadata.p4"
#include "metadata.p4"
#include "parser.p4"
#include "../include/control/port_role.p4"
#include "../include/control/lookup_init.p4"
#include "../include/control/punt.p4"
#include "../include/control/vap.p4"
#include "../include/control/tunnel_decap.p4"
#include "../include/control/vn.p4"
#include "../include/control/acl.p4"
#include "../include/control/fdb.p4"
#include "../include/control/replica.p4"
#include "../include/control/pcp.p4"
#include "../include/control/tunnel_encap.p4"

const bit<3>  DROP_CTL_DROP = 1;   // drop_ctl bit 0: no unicast, multicast or resubmit
const bit<16> ETH_FCS_LEN   = 4;   // counted in eg_intr_md.pkt_length

control NveIngress(inout headers_t hdr,
                   inout nve_tna_metadata_t md,
                   in ingress_intrinsic_metadata_t ig_intr_md,
                   in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
                   inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
                   inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {

    NVE_COUNTER(ingress_drops, NUM_DROP_REASONS);
    Hash<bit<16>>(HashAlgorithm_t.CRC16) entropy_hash;

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
            ig_tm_md.ucast_egress_port = hdr.packet_out.egress_port;
            ig_tm_md.bypass_egress = 1;
            hdr.packet_out.setInvalid();
        } else {
            ig_dprsr_md.drop_ctl = DROP_CTL_DROP;   // only a positive decision below forwards
            md.nve.lkp.ingress_port = ig_intr_md.ingress_port;
            port_role.apply(md.nve);
            if (md.nve.drop_reason != DROP_NONE) {
                // a port without a role: nothing else to look at
            } else if (ig_prsr_md.parser_err != PARSER_ERROR_OK || md.malformed
                    || (hdr.ipv4.isValid() && !md.ipv4_checksum_ok)
                    || (hdr.inner_ipv4.isValid() && !md.inner_ipv4_checksum_ok)) {
                md.nve.drop_reason = DROP_MALFORMED;
            } else {
                lookup_init.apply(hdr, md.nve);
                punt.apply(md.nve);
            }
            if (md.nve.drop_reason == DROP_NONE && md.nve.punt == 0) {
                if (md.nve.from_network == 1) {
                    tunnel_decap.apply(hdr, md.nve);
                } else {
                    vap.apply(md.nve);
                    // tenant_len: egress computes it, Tofino ingress has no packet length
                    md.nve.tunnel.entropy = entropy_hash.get(
                        { md.nve.lkp.eth_dst, md.nve.lkp.eth_src, md.nve.lkp.eth_type,
                          md.nve.lkp.ipv4_src, md.nve.lkp.ipv4_dst, md.nve.lkp.ip_proto,
                          md.nve.lkp.l4_sport, md.nve.lkp.l4_dport });
                }
            }
            if (md.nve.drop_reason == DROP_NONE && md.nve.punt == 0) {
                vn.apply(md.nve);
            }
            if (md.nve.drop_reason == DROP_NONE && md.nve.punt == 0) {
                acl.apply(md.nve);
            }
            if (md.nve.drop_reason == DROP_NONE && md.nve.punt == 0) {
                fdb.apply(md.nve);
            }

            if (md.nve.drop_reason != DROP_NONE) {
                ingress_drops.count((bit<32>)md.nve.drop_reason);
            } else if (md.nve.fwd.kind == FWD_CPU) {
                ig_tm_md.ucast_egress_port = NVE_TNA_CPU_PORT;
                ig_dprsr_md.drop_ctl = 0;
            } else if (md.nve.fwd.kind == FWD_FLOOD) {
                if (md.nve.fwd.flood_group == 0) {
                    md.nve.drop_reason = DROP_NO_FLOOD_GROUP;
                    ingress_drops.count((bit<32>)md.nve.drop_reason);
                } else {
                    // The PRE copies the frame to each (port, RID) node of the group; egress
                    // sees the node's RID in egress_rid. Split horizon is Replica's (egress), so
                    // no PRE pruning: rid 0 matches no node (replica ids start at 1).
                    ig_tm_md.mcast_grp_a = md.nve.fwd.flood_group;
                    ig_tm_md.rid = 0;
                    ig_dprsr_md.drop_ctl = 0;
                }
            } else if (md.nve.fwd.kind == FWD_LOCAL || md.nve.fwd.kind == FWD_REMOTE) {
                ig_tm_md.ucast_egress_port = md.nve.fwd.port;
                ig_dprsr_md.drop_ctl = 0;
            }

            // What egress needs to know (dropped frames never reach the deparser's output).
            md.bridged.setValid();
            md.bridged.ingress_port = md.nve.lkp.ingress_port;
            md.bridged.from_network = md.nve.from_network;
            md.bridged.fwd_kind = md.nve.fwd.kind;
            md.bridged.pcp = md.nve.vap.pcp;
            md.bridged._pad0 = 0;
            md.bridged.fwd_vid = md.nve.fwd.vid;
            md.bridged.out_vap_id = md.nve.fwd.out_vap_id;
            md.bridged.vni = md.nve.vap.vni;
            md.bridged.entropy = md.nve.tunnel.entropy;
            md.bridged.tunnel_src_ip = md.nve.tunnel.src_ip;
            md.bridged.tunnel_dst_ip = md.nve.tunnel.dst_ip;
            md.bridged.tunnel_src_mac = md.nve.tunnel.src_mac;
            md.bridged.tunnel_dst_mac = md.nve.tunnel.dst_mac;
        }
    }
}

control NveEgress(inout headers_t hdr,
                  inout nve_tna_metadata_t md,
                  in egress_intrinsic_metadata_t eg_intr_md,
                  in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
                  inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
                  inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {

    NVE_COUNTER(egress_drops, NUM_DROP_REASONS);

    Replica()     replica;
    PcpMarking()  pcp_marking;
    TunnelEncap() tunnel_encap;

    apply {
        // Ingress's decisions, as v1model's egress finds them in its metadata.
        md.nve.lkp.ingress_port = md.bridged.ingress_port;
        md.nve.from_network = md.bridged.from_network;
        md.nve.fwd.kind = md.bridged.fwd_kind;
        md.nve.vap.pcp = md.bridged.pcp;
        md.nve.fwd.vid = md.bridged.fwd_vid;
        md.nve.fwd.out_vap_id = md.bridged.out_vap_id;
        md.nve.vap.vni = md.bridged.vni;
        md.nve.tunnel.entropy = md.bridged.entropy;
        md.nve.tunnel.src_ip = md.bridged.tunnel_src_ip;
        md.nve.tunnel.dst_ip = md.bridged.tunnel_dst_ip;
        md.nve.tunnel.src_mac = md.bridged.tunnel_src_mac;
        md.nve.tunnel.dst_mac = md.bridged.tunnel_dst_mac;

        if (eg_intr_md.egress_port == NVE_TNA_CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = md.nve.lkp.ingress_port;
            hdr.packet_in._pad = 0;
        } else if (md.nve.fwd.kind != FWD_NONE) {
            if (md.nve.fwd.kind == FWD_FLOOD) {
                replica.apply(eg_intr_md.egress_port, eg_intr_md.egress_rid, md.nve);
            }
            if (md.nve.drop_reason == DROP_NONE) {
                pcp_marking.apply(hdr, md.nve);
                if (md.nve.fwd.kind == FWD_REMOTE) {
                    // The frame as received (pkt_length: as it entered ingress, FCS included),
                    // without its 802.1Q tag, which TunnelEncap removes.
                    md.nve.tunnel.tenant_len = eg_intr_md.pkt_length - ETH_FCS_LEN;
                    if (hdr.vlan.isValid()) {
                        md.nve.tunnel.tenant_len = md.nve.tunnel.tenant_len - VLAN_HDR_LEN;
                    }
                    tunnel_encap.apply(hdr, md.nve);
                }
            } else {
                egress_drops.count((bit<32>)md.nve.drop_reason);
                eg_dprsr_md.drop_ctl = DROP_CTL_DROP;
            }
        }
    }
}

Pipeline(NveIngressParser(),
         NveIngress(),
         NveIngressDeparser(),
         NveEgressParser(),
         NveEgress(),
         NveEgressDeparser()) pipe;

Switch(pipe) main;
