#ifndef NVE_VAP_P4
#define NVE_VAP_P4

#include "../headers.p4"
#include "../metadata.p4"

// VAP classification on access ports: (port, VID) gives the VAP, its VN and its state, then the
// source MAC must be one signalled for that VAP (anti-spoofing).
control Vap(inout local_metadata_t meta) {

    NVE_DIRECT_COUNTER(port_vlan_to_vni_counter);
    NVE_DIRECT_COUNTER(vap_src_mac_counter);
    NVE_COUNTER(vap_rx, VAP_TABLE_SIZE);

    action set_vap(bit<16> vap_id, bit<24> vni, bit<3> pcp) {
        port_vlan_to_vni_counter.count();
        vap_rx.count((bit<32>)vap_id);
        meta.vap.vap_id = vap_id;
        meta.vap.vni = vni;
        meta.vap.pcp = pcp;
        meta.direction = DIR_FROM_VAP;
    }

    // Pre-associated, suspended or emigrated: the VAP exists but may not send.
    action set_vap_inactive(bit<16> vap_id) {
        port_vlan_to_vni_counter.count();
        vap_rx.count((bit<32>)vap_id);
        meta.vap.vap_id = vap_id;
        meta.drop_reason = DROP_INACTIVE_VAP;
    }

    action deny_unknown_vap() {
        meta.drop_reason = DROP_UNKNOWN_VAP;
    }

    // (access port, VID) -> VAP and VN. Written by intent.vm_entries for every VM the controller knows.
    // Miss: drop, counted as DROP_UNKNOWN_VAP.
    table port_vlan_to_vni {
        key = {
            meta.lkp.ingress_port : exact @name("port");
            meta.lkp.vlan_id      : exact @name("vlan_id");
        }
        actions = {
            set_vap;
            set_vap_inactive;
            @defaultonly deny_unknown_vap;
        }
        const default_action = deny_unknown_vap;
        counters = port_vlan_to_vni_counter;
        size = VAP_TABLE_SIZE;
    }

    action allow_source() {
        vap_src_mac_counter.count();
    }

    action deny_spoofed_source() {
        meta.drop_reason = DROP_SPOOFED_SOURCE;
    }

    // (VAP, source MAC) pairs the hypervisor signalled. Written by intent.vm_entries for active VMs.
    // Miss: drop, counted as DROP_SPOOFED_SOURCE.
    table vap_src_mac {
        key = {
            meta.vap.vap_id  : exact @name("vap_id");
            meta.lkp.eth_src : exact @name("eth_src");
        }
        actions = {
            allow_source;
            @defaultonly deny_spoofed_source;
        }
        const default_action = deny_spoofed_source;
        counters = vap_src_mac_counter;
        size = SRC_MAC_SIZE;
    }

    apply {
        port_vlan_to_vni.apply();
        if (meta.drop_reason == DROP_NONE) {
            vap_src_mac.apply();
        }
    }
}

#endif
