/* Small v1model program for the P4Runtime client tests against bmv2.
 * Same tables, keys, actions and counters as the hand-written mini.p4info.txtpb
 * (whose ids differ); compile with
 *   p4c-bm2-ss --p4v 16 --p4runtime-files mini_bmv2.p4info.txtpb -o mini_bmv2.json mini.p4
 * Ing.acl keys on hdr.ethernet.dst_addr and hdr.inner_ethernet.dst_addr on purpose
 * (finsy's P4Schema cannot load that P4Info).
 */
#include <core.p4>
#include <v1model.p4>

typedef bit<9> port_t;
const port_t CPU_PORT = 255;

@controller_header("packet_in")
header packet_in_t {
    port_t  ingress_port;
    bit<8>  reason;
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
    bit<8>  diffserv;
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

struct headers_t {
    packet_in_t  packet_in;
    packet_out_t packet_out;
    ethernet_t   ethernet;
    vlan_t       vlan;
    ipv4_t       ipv4;
    ethernet_t   inner_ethernet;
}

struct metadata_t {
    bit<16> vrf;
    bit<16> l4_dst_port;
    bit<8>  punt_reason;
    bit<8>  drop_reason;
}

parser MiniParser(packet_in pkt, out headers_t hdr, inout metadata_t meta,
                  inout standard_metadata_t standard_metadata) {
    state start {
        transition select(standard_metadata.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }
    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            0x8100: parse_vlan;
            0x0800: parse_ipv4;
            default: accept;
        }
    }
    state parse_vlan {
        pkt.extract(hdr.vlan);
        transition select(hdr.vlan.ether_type) {
            0x0800: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        transition accept;
    }
}

control MiniVerifyChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control Ing(inout headers_t hdr, inout metadata_t meta,
            inout standard_metadata_t standard_metadata) {

    direct_counter(CounterType.packets_and_bytes) vap_counter;
    direct_counter(CounterType.packets_and_bytes) acl_counter;
    counter(16, CounterType.packets_and_bytes) drop_reasons;

    action drop() {
        mark_to_drop(standard_metadata);
    }

    action set_vap(bit<16> vap_id, bit<24> vni) {
        meta.vrf = vap_id;
        hdr.ethernet.src_addr[23:0] = vni;
    }

    action set_nexthop(port_t port, bit<48> dmac) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.dst_addr = dmac;
    }

    action permit() { }

    action punt(bit<8> reason) {
        meta.punt_reason = reason;
        standard_metadata.egress_spec = CPU_PORT;
    }

    action miss() {
        meta.drop_reason = 1;
    }

    table vap {
        key = {
            standard_metadata.ingress_port : exact;
            hdr.vlan.vid                   : exact;
        }
        actions = { set_vap; drop; }
        default_action = drop();
        counters = vap_counter;
        size = 1024;
    }

    table route {
        key = {
            meta.vrf          : exact;
            hdr.ipv4.dst_addr : lpm;
        }
        actions = { set_nexthop; drop; @defaultonly miss; }
        default_action = miss();
        size = 1024;
    }

    table acl {
        key = {
            hdr.ethernet.dst_addr       : optional;
            hdr.inner_ethernet.dst_addr : optional;
            hdr.ipv4.src_addr           : ternary;
            meta.l4_dst_port            : range;
        }
        actions = { permit; @tableonly drop; punt; }
        default_action = permit();
        counters = acl_counter;
        size = 256;
    }

    table fixed {
        key = {
            meta.vrf : exact;
        }
        actions = { drop; }
        const default_action = drop();
        const entries = {
            7 : drop();
        }
    }

    apply {
        if (hdr.packet_out.isValid()) {
            standard_metadata.egress_spec = hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
        } else {
            vap.apply();
            route.apply();
            acl.apply();
            fixed.apply();
            drop_reasons.count((bit<32>)meta.drop_reason);
        }
    }
}

control Egr(inout headers_t hdr, inout metadata_t meta,
            inout standard_metadata_t standard_metadata) {
    apply {
        if (standard_metadata.egress_port == CPU_PORT) {
            hdr.packet_in.setValid();
            hdr.packet_in.ingress_port = standard_metadata.ingress_port;
            hdr.packet_in.reason = meta.punt_reason;
            hdr.packet_in._pad = 0;
        }
    }
}

control MiniComputeChecksum(inout headers_t hdr, inout metadata_t meta) {
    apply { }
}

control MiniDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.vlan);
        pkt.emit(hdr.ipv4);
    }
}

V1Switch(MiniParser(), MiniVerifyChecksum(), Ing(), Egr(), MiniComputeChecksum(),
         MiniDeparser()) main;
