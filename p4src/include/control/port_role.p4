#ifndef NVE_PORT_ROLE_P4
#define NVE_PORT_ROLE_P4

#include "../headers.p4"
#include "../metadata.p4"

// Which ports face hypervisors (access) and which face the underlay (network).
control PortRole(inout local_metadata_t meta) {

    action access_port() {
        meta.from_network = 0;
    }

    action network_port() {
        meta.from_network = 1;
    }

    action deny_unknown_port() {
        meta.drop_reason = DROP_UNKNOWN_PORT;
    }

    // Ingress port -> its role. Written by intent.switch_base from the switch config.
    // Miss: drop, counted as DROP_UNKNOWN_PORT.
    table port_role {
        key = {
            meta.lkp.ingress_port : exact @name("port");
        }
        actions = {
            access_port;
            network_port;
            @defaultonly deny_unknown_port;
        }
        const default_action = deny_unknown_port;
        size = PORT_ROLE_SIZE;
    }

    apply {
        port_role.apply();
    }
}

#endif
