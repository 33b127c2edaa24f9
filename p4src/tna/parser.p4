#ifndef NVE_TNA_PARSER_P4
#define NVE_TNA_PARSER_P4

#include "arch.p4"
#include "../include/headers.p4"
#include "metadata.p4"

/* Parsers and deparsers of the TNA program. The ingress parser follows p4src/include/parser.p4
 * state for state (same headers, same structure-based parse, same tenant/underlay split) with
 * three Tofino differences:
 *   - it starts with Tofino's intrinsic and port metadata and recognises the CPU port by number;
 *   - IPv4 version and IHL are checked by select instead of verify(): a bad value sets
 *     md.malformed, which ingress turns into DROP_MALFORMED as v1model does with parser_error;
 *   - IPv4 header checksums (outer and tenant, options included) are verified by the parser's
 *     Checksum units, the v1model program's NveVerifyChecksum.
 * The egress parser re-parses only what egress rewrites (Ethernet and 802.1Q of the tenant frame),
 * behind the bridged metadata.
 */

parser NveIngressParser(packet_in packet,
                        out headers_t hdr,
                        out nve_tna_metadata_t md,
                        out ingress_intrinsic_metadata_t ig_intr_md) {

    Checksum() ipv4_checksum;
    Checksum() inner_ipv4_checksum;

    state start {
        md = { ... };   // all zero / false / invalid, as v1model initialises user metadata
        packet.extract(ig_intr_md);
        packet.advance(PORT_METADATA_SIZE);
        transition select(ig_intr_md.ingress_port) {
            NVE_TNA_CPU_PORT : parse_packet_out;
            default          : parse_ethernet;
        }
    }

    // A frame from the controller: sent as is, nothing past the controller header is parsed.
    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition accept;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_VLAN : parse_vlan;
            ETHERTYPE_IPV4 : parse_ipv4;
            default        : accept;
        }
    }

    state parse_vlan {
        packet.extract(hdr.vlan);
        transition select(hdr.vlan.ether_type) {
            ETHERTYPE_IPV4 : parse_ipv4;
            default        : accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        ipv4_checksum.add(hdr.ipv4);
        transition select(hdr.ipv4.version, hdr.ipv4.ihl) {
            (4, 5)         : check_ipv4;
            (4, 0 &&& 0xC) : malformed;           // IHL 0..3
            (4, 4)         : malformed;
            (4, _)         : parse_ipv4_options;  // IHL 6..15
            default        : malformed;           // not IPv4 version 4
        }
    }

    state parse_ipv4_options {
        packet.extract(hdr.ipv4_options, ((bit<32>)hdr.ipv4.ihl - 5) * 32);
        ipv4_checksum.add(hdr.ipv4_options);
        transition check_ipv4;
    }

    // Only first fragments carry the L4 ports.
    state check_ipv4 {
        md.ipv4_checksum_ok = ipv4_checksum.verify();
        transition select(hdr.ipv4.frag_offset, hdr.ipv4.protocol) {
            (0, IP_PROTO_TCP) : parse_tcp_ports;
            (0, IP_PROTO_UDP) : parse_udp;
            default           : accept;
        }
    }

    state parse_tcp_ports {
        packet.extract(hdr.tcp_ports);
        transition accept;
    }

    state parse_udp {
        packet.extract(hdr.udp);
        transition select(hdr.udp.dst_port) {
            UDP_PORT_VXLAN : parse_vxlan;
            default        : accept;
        }
    }

    state parse_vxlan {
        packet.extract(hdr.vxlan);
        transition parse_inner_ethernet;
    }

    state parse_inner_ethernet {
        packet.extract(hdr.inner_ethernet);
        transition select(hdr.inner_ethernet.ether_type) {
            ETHERTYPE_VLAN : parse_inner_vlan;
            ETHERTYPE_IPV4 : parse_inner_ipv4;
            default        : accept;
        }
    }

    state parse_inner_vlan {
        packet.extract(hdr.inner_vlan);
        transition select(hdr.inner_vlan.ether_type) {
            ETHERTYPE_IPV4 : parse_inner_ipv4;
            default        : accept;
        }
    }

    state parse_inner_ipv4 {
        packet.extract(hdr.inner_ipv4);
        inner_ipv4_checksum.add(hdr.inner_ipv4);
        transition select(hdr.inner_ipv4.version, hdr.inner_ipv4.ihl) {
            (4, 5)         : check_inner_ipv4;
            (4, 0 &&& 0xC) : malformed;
            (4, 4)         : malformed;
            (4, _)         : parse_inner_ipv4_options;
            default        : malformed;
        }
    }

    state parse_inner_ipv4_options {
        packet.extract(hdr.inner_ipv4_options, ((bit<32>)hdr.inner_ipv4.ihl - 5) * 32);
        inner_ipv4_checksum.add(hdr.inner_ipv4_options);
        transition check_inner_ipv4;
    }

    state check_inner_ipv4 {
        md.inner_ipv4_checksum_ok = inner_ipv4_checksum.verify();
        transition select(hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.protocol) {
            (0, IP_PROTO_TCP) : parse_inner_l4_ports;
            (0, IP_PROTO_UDP) : parse_inner_l4_ports;
            default           : accept;
        }
    }

    state parse_inner_l4_ports {
        packet.extract(hdr.inner_l4_ports);
        transition accept;
    }

    // v1model: verify() fails, parsing stops, ingress sees parser_error.
    state malformed {
        md.malformed = true;
        transition accept;
    }
}

// Ingress -> traffic manager: the bridged metadata, then the frame as ingress left it (after a
// decap the tenant frame in inner_*). Ingress never writes an IPv4 header, so no checksum here.
control NveIngressDeparser(packet_out packet,
                           inout headers_t hdr,
                           in nve_tna_metadata_t md,
                           in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply {
        packet.emit(md.bridged);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan);
        packet.emit(hdr.ipv4);
        packet.emit(hdr.ipv4_options);
        packet.emit(hdr.tcp_ports);
        packet.emit(hdr.udp);
        packet.emit(hdr.vxlan);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_vlan);
        packet.emit(hdr.inner_ipv4);
        packet.emit(hdr.inner_ipv4_options);
        packet.emit(hdr.inner_l4_ports);
    }
}

// Egress sees the frame ingress emitted. After a decap that is the tenant frame, parsed into
// inner_* as ingress left it, so that the shared PcpMarking finds it where it looks.
parser NveEgressParser(packet_in packet,
                       out headers_t hdr,
                       out nve_tna_metadata_t md,
                       out egress_intrinsic_metadata_t eg_intr_md) {

    state start {
        md = { ... };
        packet.extract(eg_intr_md);
        packet.extract(md.bridged);
        transition select(md.bridged.from_network) {
            1       : parse_inner_ethernet;
            default : parse_ethernet;
        }
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            ETHERTYPE_VLAN : parse_vlan;
            default        : accept;
        }
    }

    state parse_vlan {
        packet.extract(hdr.vlan);
        transition accept;
    }

    state parse_inner_ethernet {
        packet.extract(hdr.inner_ethernet);
        transition select(hdr.inner_ethernet.ether_type) {
            ETHERTYPE_VLAN : parse_inner_vlan;
            default        : accept;
        }
    }

    state parse_inner_vlan {
        packet.extract(hdr.inner_vlan);
        transition accept;
    }
}

// Egress -> wire: the v1model deparser's order. The pushed underlay IPv4 header gets its
// checksum from the deparser's Checksum unit (v1model: NveComputeChecksum).
control NveEgressDeparser(packet_out packet,
                          inout headers_t hdr,
                          in nve_tna_metadata_t md,
                          in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {

    Checksum() encap_ipv4_checksum;

    apply {
        if (hdr.encap_ipv4.isValid()) {
            hdr.encap_ipv4.hdr_checksum = encap_ipv4_checksum.update(
                { hdr.encap_ipv4.version, hdr.encap_ipv4.ihl, hdr.encap_ipv4.dscp,
                  hdr.encap_ipv4.ecn, hdr.encap_ipv4.total_len, hdr.encap_ipv4.identification,
                  hdr.encap_ipv4.flags, hdr.encap_ipv4.frag_offset, hdr.encap_ipv4.ttl,
                  hdr.encap_ipv4.protocol, hdr.encap_ipv4.src_addr, hdr.encap_ipv4.dst_addr });
        }
        packet.emit(hdr.packet_in);
        packet.emit(hdr.encap_ethernet);
        packet.emit(hdr.encap_ipv4);
        packet.emit(hdr.encap_udp);
        packet.emit(hdr.encap_vxlan);
        packet.emit(hdr.ethernet);
        packet.emit(hdr.vlan);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_vlan);
    }
}

#endif
