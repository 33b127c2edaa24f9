/* Differential test program for the softswitch engine vs bmv2 simple_switch.
 * Needs no runtime configuration except multicast group 1 (ports 4, 5) for the broadcast case.
 * Every interesting intermediate value is written into the trailing "info" header so that the
 * output bytes expose it. Compile: p4c-bm2-ss --std p4-16 diff1.p4 -o diff1.json
 */
#include <core.p4>
#include <v1model.p4>

const bit<16> ETH_IPV4 = 0x0800;
const bit<16> ETH_VLAN = 0x8100;

header ethernet_t { bit<48> dst; bit<48> src; bit<16> etype; }
header vlan_t { bit<3> pcp; bit<1> dei; bit<12> vid; bit<16> etype; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> tos; bit<16> len; bit<16> id; bit<3> flags; bit<13> frag;
    bit<8> ttl; bit<8> proto; bit<16> csum; bit<32> src; bit<32> dst;
}
header ipv4_opts_t { varbit<320> options; }
header l4_t { bit<16> sp; bit<16> dp; }
header info_t {
    bit<8>  perr;
    bit<8>  ckerr;
    bit<16> h16;
    bit<32> h32;
    bit<16> hcs;
    bit<64> hid;
    bit<32> plen;
    bit<32> reg;
    bit<8>  path;
    int<8>  sval;
    bit<8>  misc;
    bit<8>  sat;
    bit<16> rid;
    bit<32> inst;
    bit<32> eplen;
    bit<16> xr;
}

struct headers_t {
    ethernet_t  eth;
    vlan_t      vlan;
    ipv4_t      ipv4;
    ipv4_opts_t opts;
    l4_t        l4;
    info_t      info;
}

struct meta_t {
    bit<16> etype;
    bit<8>  tmp;
    int<8>  s;
    bit<32> r;
}

error { BadVersion, BadIhl }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.eth);
        meta.etype = hdr.eth.etype;
        transition select(hdr.eth.etype) {
            ETH_VLAN: parse_vlan;
            ETH_IPV4: parse_ipv4;
            0x8800 &&& 0xff00: parse_l4;
            default: accept;
        }
    }
    state parse_vlan {
        pkt.extract(hdr.vlan);
        meta.etype = hdr.vlan.etype;
        transition select(hdr.vlan.etype) {
            ETH_IPV4: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        verify(hdr.ipv4.version == 4, error.BadVersion);
        verify(hdr.ipv4.ihl >= 5, error.BadIhl);
        transition select(hdr.ipv4.ihl) {
            5: after_ip;
            default: parse_opts;
        }
    }
    state parse_opts {
        pkt.extract(hdr.opts, ((bit<32>)hdr.ipv4.ihl - 5) * 32);
        transition after_ip;
    }
    state after_ip {
        transition select(hdr.ipv4.frag, hdr.ipv4.proto) {
            (0, 6): parse_l4;
            (0, 17): parse_l4;
            default: accept;
        }
    }
    state parse_l4 {
        pkt.extract(hdr.l4);
        transition accept;
    }
}

control VC(inout headers_t hdr, inout meta_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.len, hdr.ipv4.id, hdr.ipv4.flags,
              hdr.ipv4.frag, hdr.ipv4.ttl, hdr.ipv4.proto, hdr.ipv4.src, hdr.ipv4.dst, hdr.opts.options },
            hdr.ipv4.csum, HashAlgorithm.csum16);
    }
}

control Ing(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    register<bit<32>>(8) reg;
    counter(8, CounterType.packets_and_bytes) cnt;

    action set_port(bit<9> p) { sm.egress_spec = p; }
    action drop() { mark_to_drop(sm); }
    action rewrite(bit<48> mac, bit<9> p) {
        hdr.eth.src = hdr.eth.dst;
        hdr.eth.dst = mac;
        sm.egress_spec = p;
    }
    action mark(bit<8> v) { hdr.info.path = hdr.info.path | v; }
    action route(bit<9> p) {
        sm.egress_spec = p;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    table t_exact {
        key = { hdr.eth.dst: exact; }
        actions = { set_port; rewrite; drop; }
        const entries = {
            0x000000000001: set_port(1);
            0x000000000002: rewrite(0x0a0b0c0d0e0f, 2);
            0x0000000000ff: drop();
        }
        default_action = set_port(3);
    }
    table t_lpm {
        key = { hdr.ipv4.dst: lpm; }
        actions = { route; NoAction; }
        const entries = {
            0x0a000000 &&& 0xff000000: route(4);
            0x0a010000 &&& 0xffff0000: route(5);
            0x0a010200 &&& 0xffffff00: route(6);
        }
        default_action = NoAction();
    }
    table t_tern {
        key = { hdr.ipv4.src: ternary; hdr.l4.dp: range; }
        actions = { mark; NoAction; }
        const entries = {
            (0xc0a80000 &&& 0xffff0000, 0 .. 1023): mark(1);
            (0xc0a80001 &&& 0xffffffff, 80 .. 80): mark(2);
            (_, 1000 .. 2000): mark(4);
        }
        default_action = mark(8);
    }
    table t_valid {
        key = { hdr.vlan.isValid(): exact; hdr.l4.isValid(): exact; }
        actions = { mark; }
        const entries = {
            (true, false): mark(16);
            (false, true): mark(32);
        }
        default_action = mark(64);
    }

    apply {
        // Fields of invalid headers hold stale values in bmv2 (undefined in P4): never read them.
        if (!hdr.eth.isValid()) {
            mark_to_drop(sm);
            exit;
        }
        hdr.info.setValid();
        if (sm.parser_error == error.NoError) {
            hdr.info.perr = 0;
        } else if (sm.parser_error == error.PacketTooShort) {
            hdr.info.perr = 1;
        } else if (sm.parser_error == error.BadVersion) {
            hdr.info.perr = 2;
        } else if (sm.parser_error == error.BadIhl) {
            hdr.info.perr = 3;
        } else if (sm.parser_error == error.HeaderTooShort) {
            hdr.info.perr = 4;
        } else {
            hdr.info.perr = 5;
        }
        hdr.info.ckerr = (bit<8>)sm.checksum_error;
        hash(hdr.info.h16, HashAlgorithm.crc16, 16w0, { hdr.eth.dst, hdr.eth.etype }, 32w65536);
        // p4c copies hash inputs into temporaries, so only fields of valid headers are used here
        hash(hdr.info.h32, HashAlgorithm.crc32, 32w7, { hdr.eth.src, meta.etype }, 32w1000003);
        hash(hdr.info.hcs, HashAlgorithm.csum16, 16w0, { hdr.eth.dst, hdr.eth.src, meta.etype[11:0] }, 32w65536);
        hash(hdr.info.hid, HashAlgorithm.identity, 64w0, { hdr.eth.etype, hdr.eth.dst }, 64w0xffffffffffff);
        hdr.info.plen = sm.packet_length;

        bit<32> idx = (bit<32>)hdr.eth.dst[2:0];
        reg.read(meta.r, idx);
        reg.write(idx, meta.r + (bit<32>)hdr.eth.dst[15:8] + 1);
        hdr.info.reg = meta.r;
        cnt.count((bit<32>)sm.ingress_port[2:0]);

        meta.s = (int<8>)hdr.eth.dst[7:0];
        meta.s = meta.s - 100;
        hdr.info.sval = meta.s;
        if (meta.s < 0) {
            hdr.info.path = 0x80;
        }
        hdr.info.misc = hdr.eth.dst[7:0] + hdr.eth.src[7:0] * 3 - (hdr.eth.dst[15:8] >> 2);
        hdr.info.sat = hdr.eth.dst[7:0] |+| hdr.eth.src[7:0];
        hdr.info.xr = ~hdr.eth.etype ^ (hdr.eth.etype << 3);

        t_exact.apply();
        if (hdr.ipv4.isValid()) {
            t_lpm.apply();
        }
        if (hdr.ipv4.isValid() && hdr.l4.isValid()) {
            switch (t_tern.apply().action_run) {
                mark: { hdr.info.misc = hdr.info.misc + 1; }
                default: { }
            }
        }
        t_valid.apply();

        if (hdr.vlan.isValid()) {
            hdr.eth.etype = hdr.vlan.etype;
            hdr.vlan.setInvalid();
        } else if (hdr.eth.etype == ETH_IPV4 && hdr.eth.dst[8:8] == 1) {
            hdr.vlan.setValid();
            hdr.vlan.vid = hdr.eth.dst[27:16];
            hdr.vlan.etype = hdr.eth.etype;
            hdr.eth.etype = ETH_VLAN;
        }
        if (hdr.eth.dst == 0xffffffffffff) {
            sm.mcast_grp = 1;
        }
        if (hdr.eth.dst[7:0] == 0xee) {
            exit;
        }
        hdr.info.sat = hdr.info.sat ^ 0x5a;  // skipped after exit
    }
}

control Eg(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.info.rid = sm.egress_rid;
        hdr.info.inst = sm.instance_type;
        hdr.info.eplen = sm.packet_length;
        if (sm.egress_port == 7) {
            mark_to_drop(sm);
        }
        if (hdr.ipv4.isValid() && hdr.ipv4.ttl == 0) {
            mark_to_drop(sm);
        }
    }
}

control CC(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.len, hdr.ipv4.id, hdr.ipv4.flags,
              hdr.ipv4.frag, hdr.ipv4.ttl, hdr.ipv4.proto, hdr.ipv4.src, hdr.ipv4.dst, hdr.opts.options },
            hdr.ipv4.csum, HashAlgorithm.csum16);
    }
}

control D(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.eth);
        pkt.emit(hdr.vlan);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.opts);
        pkt.emit(hdr.l4);
        pkt.emit(hdr.info);
    }
}

V1Switch(P(), VC(), Ing(), Eg(), CC(), D()) main;
