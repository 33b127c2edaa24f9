#ifndef NVE_VN_P4
#define NVE_VN_P4

#include "../headers.p4"
#include "../metadata.p4"

// The virtual networks this NVE serves.
control Vn(inout local_metadata_t meta) {

    NVE_DIRECT_COUNTER(vn_counter);

    action set_flood_group(bit<16> flood_group) {
        vn_counter.count();
        meta.fwd.flood_group = flood_group;
    }

    action deny_unknown_vni() {
        meta.drop_reason = DROP_UNKNOWN_VNI;
    }

    // VNI -> the multicast group that replicates its BUM traffic. Written by intent.vn_entries for
    // every VN with at least one local VAP. Miss: drop, counted as DROP_UNKNOWN_VNI.
    table vn {
        key = {
            meta.vap.vni : exact @name("vni");
        }
        actions = {
            set_flood_group;
            @defaultonly deny_unknown_vni;
        }
        const default_action = deny_unknown_vni;
        counters = vn_counter;
        size = VN_TABLE_SIZE;
    }

    apply {
        vn.apply();
    }
}

#endif
