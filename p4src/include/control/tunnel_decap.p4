#ifndef NVE_TUNNEL_DECAP_P4
#define NVE_TUNNEL_DECAP_P4

#include "../headers.p4"
#include "../metadata.p4"

// Frames from the underlay: accept VXLAN to one of our VTEP addresses, take the VNI and the
// network PCP from the outer header, and strip the outer headers: the tenant frame stays in inner_*.
control TunnelDecap(inout headers_t hdr, inout local_metadata_t meta) {

    NVE_DIRECT_COUNTER(local_vtep_counter);

    action accept_vxlan() {
        local_vtep_counter.count();
        meta.vap.vni = hdr.vxlan.vni;
        meta.direction = DIR_TO_VAP;
    }

    action deny_unknown_vtep() {
        meta.drop_reason = DROP_UNKNOWN_VTEP;
    }

    // Our own VTEP addresses. Written by intent.switch_base from the switch config.
    // Miss: drop, counted as DROP_UNKNOWN_VTEP.
    table local_vtep {
        key = {
            hdr.ipv4.dst_addr : exact @name("vtep_ip");
        }
        actions = {
            accept_vxlan;
            @defaultonly deny_unknown_vtep;
        }
        const default_action = deny_unknown_vtep;
        counters = local_vtep_counter;
        size = LOCAL_VTEP_SIZE;
    }

    action set_pcp(bit<3> pcp) {
        meta.vap.pcp = pcp;
    }

    // Outer DSCP -> network PCP of the tenant frame (the sender's class, REQ-5).
    // Written by intent.switch_base from the QoS config. Miss: PCP 0.
    table dscp_to_pcp {
        key = {
            hdr.ipv4.dscp : exact @name("dscp");
        }
        actions = {
            set_pcp;
            @defaultonly NoAction;
        }
        const default_action = NoAction;
        size = DSCP_MAP_SIZE;
    }

    apply {
        if (!hdr.vxlan.isValid()) {
            meta.drop_reason = DROP_NOT_VXLAN;
        } else {
            local_vtep.apply();
            if (meta.drop_reason == DROP_NONE) {
                dscp_to_pcp.apply();
                hdr.ethernet.setInvalid();
                hdr.vlan.setInvalid();
                hdr.ipv4.setInvalid();
                hdr.ipv4_options.setInvalid();
                hdr.udp.setInvalid();
                hdr.vxlan.setInvalid();
            }
        }
    }
}

#endif
