#ifndef NVE_PUNT_P4
#define NVE_PUNT_P4

#include "../headers.p4"
#include "../metadata.p4"

// Control protocols for the controller: LLDP (0x88CC) and ECP/VDP (0x8940).
control Punt(inout local_metadata_t meta) {

    action punt_to_cpu() {
        meta.punt = 1;
        meta.fwd.kind = FWD_CPU;
    }

    // Maps the received ethertype to the CPU. Written by the controller at startup (intent.switch_base).
    // Miss: the frame is data and goes on through the pipeline.
    table punt {
        key = {
            meta.rx_eth_type : exact @name("eth_type");
        }
        actions = {
            punt_to_cpu;
            @defaultonly NoAction;
        }
        const default_action = NoAction;
        size = PUNT_SIZE;
    }

    apply {
        punt.apply();
    }
}

#endif
