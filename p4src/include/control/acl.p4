#ifndef NVE_ACL_P4
#define NVE_ACL_P4

#include "../headers.p4"
#include "../metadata.p4"

// Per-VN ACL on the tenant frame, both directions: frames from a VAP and frames decapsulated
// toward a VAP.
control Acl(inout local_metadata_t meta) {

    NVE_DIRECT_COUNTER(acl_counter);

    action permit() {
        acl_counter.count();
    }

    action deny() {
        acl_counter.count();
        meta.drop_reason = DROP_ACL_DENY;
    }

    // Rules of each VN's policy, plus its default rule at the lowest priority.
    // Written by intent.vn_entries from the policy file. Miss: drop, counted as DROP_ACL_DENY.
    table acl {
        key = {
            meta.vap.vni      : ternary @name("vni");
            meta.direction    : ternary @name("direction");
            meta.lkp.eth_type : ternary @name("eth_type");
            meta.lkp.ipv4_src : ternary @name("ipv4_src");
            meta.lkp.ipv4_dst : ternary @name("ipv4_dst");
            meta.lkp.ip_proto : ternary @name("ip_proto");
            meta.lkp.l4_sport : ternary @name("l4_sport");
            meta.lkp.l4_dport : ternary @name("l4_dport");
        }
        actions = {
            permit;
            deny;
        }
        const default_action = deny;
        counters = acl_counter;
        size = ACL_SIZE;
    }

    apply {
        acl.apply();
    }
}

#endif
