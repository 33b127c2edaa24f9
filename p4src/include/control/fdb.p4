#ifndef NVE_FDB_P4
#define NVE_FDB_P4

#include "../headers.p4"
#include "../metadata.p4"

// L2 forwarding per VN on the tenant destination MAC: to a local VAP, to a remote VTEP, or flood.
control Fdb(inout local_metadata_t meta) {

    NVE_DIRECT_COUNTER(fdb_counter);

    // vid: the VID of the VN on *that* port; VIDs are local to a port.
    action forward_local(port_t port, bit<12> vid, bit<16> vap_id) {
        fdb_counter.count();
        meta.fwd.kind = FWD_LOCAL;
        meta.fwd.port = port;
        meta.fwd.vid = vid;
        meta.fwd.out_vap_id = vap_id;
    }

    action forward_remote(bit<32> vtep_ip) {
        fdb_counter.count();
        meta.fwd.kind = FWD_REMOTE;
        meta.tunnel.dst_ip = vtep_ip;
    }

    action flood() {
        meta.fwd.kind = FWD_FLOOD;
    }

    // (VNI, MAC) -> where the VM is. Written by intent.vm_entries for local VMs and from the mapping
    // authority for remote ones. Miss: flood to the VN (broadcast, multicast, unknown unicast).
    table fdb {
        key = {
            meta.vap.vni     : exact @name("vni");
            meta.lkp.eth_dst : exact @name("eth_dst");
        }
        actions = {
            forward_local;
            forward_remote;
            @defaultonly flood;
        }
        const default_action = flood;
        counters = fdb_counter;
        size = FDB_SIZE;
    }

    action set_nexthop(port_t port, bit<32> src_ip, bit<48> src_mac, bit<48> dst_mac) {
        meta.fwd.port = port;
        meta.tunnel.src_ip = src_ip;
        meta.tunnel.src_mac = src_mac;
        meta.tunnel.dst_mac = dst_mac;
    }

    action deny_no_route() {
        meta.drop_reason = DROP_NO_ROUTE;
    }

    // Remote VTEP IP -> underlay next hop and our VTEP source address. Written by
    // intent.switch_base from the switch config. Miss: drop, counted as DROP_NO_ROUTE.
    table underlay_route {
        key = {
            meta.tunnel.dst_ip : lpm @name("vtep_ip");
        }
        actions = {
            set_nexthop;
            @defaultonly deny_no_route;
        }
        const default_action = deny_no_route;
        size = UNDERLAY_ROUTE_SIZE;
    }

    apply {
        fdb.apply();
        if (meta.fwd.kind == FWD_LOCAL) {
            // Hairpin to the same VAP is never useful; other VIDs on the same port are other VAPs.
            if (meta.fwd.port == meta.lkp.ingress_port && meta.fwd.vid == meta.lkp.vlan_id
                    && meta.from_network == 0) {
                meta.drop_reason = DROP_SPLIT_HORIZON;
            }
        } else if (meta.fwd.kind == FWD_REMOTE) {
            if (meta.from_network == 1) {
                meta.drop_reason = DROP_REMOTE_FROM_NETWORK;
            } else {
                underlay_route.apply();
            }
        }
    }
}

#endif
