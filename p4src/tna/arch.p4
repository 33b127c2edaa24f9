#ifndef NVE_TNA_ARCH_P4
#define NVE_TNA_ARCH_P4

/* The TNA side of the architecture split: everything the shared NVE code needs from "the
 * architecture" that is not plain P4_16 lives here (the v1model side lives in p4src/nve.p4,
 * p4src/include/parser.p4 and p4src/include/checksum.p4).
 *
 *   - counter declarations: NVE_COUNTER / NVE_DIRECT_COUNTER
 *   - the Tofino CPU port
 *   - neutralising the `#include <v1model.p4>` lines of the shared control files
 *
 * Two builds of the same source (tools/p4build_tna.py runs both):
 *   default             the TNA program: tna.p4's Counter / DirectCounter. Validated by p4test.
 *   NVE_P4INFO_VIEW     the P4Info build. p4c's open-source P4Runtime serializer has no TNA
 *                       handler (bf-p4c has it), and its v1model handler rejects a TNA DirectCounter
 *                       in a `counters =` property. This build declares the same counters with the
 *                       externs the stock serializer understands, so the P4Info describes them as
 *                       bf-p4c --p4runtime-force-std-externs (what Stratum loads) does: standard
 *                       `counters` / `direct_counters` entries, same names, sizes and units.
 *                       Nothing else differs between the two builds.
 */

#include <core.p4>
#include <tna.p4>

// The shared control files include <v1model.p4> although the ones the TNA program uses touch
// nothing of it. Defining v1model.p4's include guard makes that include empty here, so that a
// v1model extern used in shared code (mark_to_drop, counter, ...) fails the TNA build instead of
// compiling in p4test and failing in bf-p4c. tools/p4build_tna.py checks that v1model.p4 stayed
// out of the preprocessed program.
#define _V1_MODEL_P4_

// Tofino's PCIe CPU port (device port id): 192 on 2-pipe Tofino 1 parts, 320 on 4-pipe parts.
// Build with -DNVE_TNA_CPU_PORT=320 for a 4-pipe switch; the P4Info does not change.
#ifndef NVE_TNA_CPU_PORT
#define NVE_TNA_CPU_PORT 192
#endif

#ifndef NVE_P4INFO_VIEW

// Indexed counter of packets and bytes, indexed by a bit<32> like the v1model `counter`.
#define NVE_COUNTER(name, size) \
    Counter<bit<64>, bit<32>>(size, CounterType_t.PACKETS_AND_BYTES) name
// Counter per table entry. TNA counts only in the actions that call name.count().
#define NVE_DIRECT_COUNTER(name) \
    DirectCounter<bit<64>>(CounterType_t.PACKETS_AND_BYTES) name

#else  // NVE_P4INFO_VIEW: the same counters in the shape the stock P4Runtime serializer knows

enum CounterType { packets, bytes, packets_and_bytes }
extern counter {
    counter(bit<32> size, CounterType type);
    void count(in bit<32> index);
}
extern direct_counter {
    direct_counter(CounterType type);
    void count();
}
#define NVE_COUNTER(name, size) counter(size, CounterType.packets_and_bytes) name
#define NVE_DIRECT_COUNTER(name) direct_counter(CounterType.packets_and_bytes) name

#endif  // NVE_P4INFO_VIEW

#endif
