#ifndef NVE_REPLICA_P4
#define NVE_REPLICA_P4

#include "../headers.p4"
#include "../metadata.p4"

// Each copy of a flooded frame: its replica id says which local VAP or remote VTEP it is for.
control Replica(in port_t egress_port, in bit<16> egress_rid, inout local_metadata_t meta) {

    action replica_to_vap(bit<12> vid, bit<16> vap_id) {
        meta.fwd.kind = FWD_LOCAL;
        meta.fwd.vid = vid;
        meta.fwd.out_vap_id = vap_id;
    }

    action replica_to_vtep(bit<32> vtep_ip, bit<32> src_ip, bit<48> src_mac, bit<48> dst_mac) {
        meta.fwd.kind = FWD_REMOTE;
        meta.tunnel.dst_ip = vtep_ip;
        meta.tunnel.src_ip = src_ip;
        meta.tunnel.src_mac = src_mac;
        meta.tunnel.dst_mac = dst_mac;
    }

    action deny_unknown_replica() {
        meta.drop_reason = DROP_UNKNOWN_REPLICA;
    }

    // Replica id -> a local VAP (its VID) or a remote VTEP (head-end replication). Written by
    // intent.vn_entries together with the VN's multicast group. Miss: drop.
    table flood_replica {
        key = {
            egress_rid : exact @name("rid");
        }
        actions = {
            replica_to_vap;
            replica_to_vtep;
            @defaultonly deny_unknown_replica;
        }
        const default_action = deny_unknown_replica;
        size = REPLICA_SIZE;
    }

    apply {
        flood_replica.apply();
        // Split horizon: never back to the sending VAP (other VAPs on its port are other VMs, with
        // their own VIDs, and need the copy); overlay traffic only to local VAPs.
        if (meta.fwd.kind == FWD_LOCAL && meta.from_network == 0
                && egress_port == meta.lkp.ingress_port && meta.fwd.out_vap_id == meta.vap.vap_id) {
            meta.drop_reason = DROP_SPLIT_HORIZON;
        } else if (meta.fwd.kind == FWD_REMOTE && meta.from_network == 1) {
            meta.drop_reason = DROP_REMOTE_FROM_NETWORK;
        }
    }
}

#endif
