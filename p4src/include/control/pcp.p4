#ifndef NVE_PCP_P4
#define NVE_PCP_P4

#include "../headers.p4"
#include "../metadata.p4"

// Tags a frame with a VID and PCP, whatever tag it had.
control VlanTag(inout ethernet_t ethernet, inout vlan_t vlan, in bit<12> vid, in bit<3> pcp) {
    apply {
        if (!vlan.isValid()) {
            vlan.setValid();
            vlan.ether_type = ethernet.ether_type;
            ethernet.ether_type = ETHERTYPE_VLAN;
        }
        vlan.pcp = pcp;
        vlan.dei = 0;
        vlan.vid = vid;
    }
}

// Network PCP (REQ-5): the frame leaves toward a VAP tagged with that port's VID and the PCP the
// network chose, whatever the VM had put there; toward the overlay the PCP becomes the outer DSCP.
control PcpMarking(inout headers_t hdr, inout local_metadata_t meta) {

    NVE_COUNTER(vap_tx, VAP_TABLE_SIZE);

    action set_dscp(bit<6> dscp) {
        meta.tunnel.dscp = dscp;
    }

    // Network PCP -> outer IPv4 DSCP. Written by intent.switch_base from the QoS config. Miss: DSCP 0.
    table pcp_to_dscp {
        key = {
            meta.vap.pcp : exact @name("pcp");
        }
        actions = {
            set_dscp;
            @defaultonly NoAction;
        }
        const default_action = NoAction;
        size = PCP_MAP_SIZE;
    }

    VlanTag() tag_inner;
    VlanTag() tag_received;

    apply {
        if (meta.fwd.kind == FWD_LOCAL) {
            vap_tx.count((bit<32>)meta.fwd.out_vap_id);
            // The tenant frame: inside VXLAN when it came from the overlay, else as received.
            if (meta.from_network == 1) {
                tag_inner.apply(hdr.inner_ethernet, hdr.inner_vlan, meta.fwd.vid, meta.vap.pcp);
            } else {
                tag_received.apply(hdr.ethernet, hdr.vlan, meta.fwd.vid, meta.vap.pcp);
            }
        } else if (meta.fwd.kind == FWD_REMOTE) {
            pcp_to_dscp.apply();
        }
    }
}

#endif
