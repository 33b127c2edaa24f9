#ifndef NVE_TNA_SIZES_P4
#define NVE_TNA_SIZES_P4

// Table sizes for a hardware VTEP on Tofino 1 (a top-of-rack NVE: 48 access ports, a few
// hundred hypervisors, thousands of VMs). docs/tofino.md gives the reasoning and the memory
// estimate. The constant names are those of p4src/include/sizes.p4, which the TNA program does
// not include: the shared controls take their sizes from whichever file the program includes.
const bit<32> VAP_TABLE_SIZE    = 16384;  // VAPs (port, VID) on this NVE; also vap_rx/vap_tx cells
const bit<32> SRC_MAC_SIZE      = 32768;  // two signalled MACs per VAP
const bit<32> VN_TABLE_SIZE     = 4096;   // VNIs served by this NVE
const bit<32> FDB_SIZE          = 65536;  // (VNI, MAC): local VMs plus remote VMs of our VNs
const bit<32> ACL_SIZE          = 4096;   // ternary, 145-bit key: 4 TCAM blocks wide
const bit<32> LOCAL_VTEP_SIZE   = 16;
const bit<32> UNDERLAY_ROUTE_SIZE = 4096; // remote VTEP prefixes (LPM in TCAM)
const bit<32> REPLICA_SIZE      = 32768;  // replica ids: VAP ids (< 0x8000) and remote VTEPs
const bit<32> PCP_MAP_SIZE      = 8;
const bit<32> DSCP_MAP_SIZE     = 64;
const bit<32> PUNT_SIZE         = 16;
const bit<32> PORT_ROLE_SIZE    = 512;    // every 9-bit device port id

#endif
