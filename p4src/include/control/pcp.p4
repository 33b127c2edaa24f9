#ifndef NVE_PCP_P4
#define NVE_PCP_P4

#include <v1model.p4>
#include "../headers.p4"
#include "../metadata.p4"

// Network PCP (REQ-5): the frame leaves toward a VAP tagged with that port's VID and the PCP the
// network chose, whatever the VM had put there; toward the overlay the PCP becomes the outer DSCP.
control PcpMarking(inout headers_t hdr, inout local_metadata_t meta) {

    counter(VAP_TABLE_SIZE, CounterType.packets_and_bytes) vap_tx;

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

    apply {
        if (meta.fwd.kind == FWD_LOCAL) {
            vap_tx.count((bit<32>)meta.fwd.out_vap_id);
            if (!hdr.inner_vlan.isValid()) {
                hdr.inner_vlan.setValid();
                hdr.inner_vlan.ether_type = hdr.inner_ethernet.ether_type;
                hdr.inner_ethernet.ether_type = ETHERTYPE_VLAN;
            }
            hdr.inner_vlan.pcp = meta.vap.pcp;
            hdr.inner_vlan.dei = 0;
            hdr.inner_vlan.vid = meta.fwd.vid;
        } else if (meta.fwd.kind == FWD_REMOTE) {
            pcp_to_dscp.apply();
        }
    }
}

#endif
