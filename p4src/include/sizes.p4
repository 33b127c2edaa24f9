#ifndef NVE_SIZES_P4
#define NVE_SIZES_P4

// Table sizes for the bmv2 / embedded profile: 4096 VMs with two MACs each on one NVE,
// 8192 VMs known network-wide. The TNA variant picks its own (see README).
const bit<32> VAP_TABLE_SIZE    = 8192;   // one VAP per (port, VID)
const bit<32> SRC_MAC_SIZE      = 16384;  // (VAP, source MAC) pairs allowed to send
const bit<32> VN_TABLE_SIZE     = 4096;   // VNIs known to this NVE
const bit<32> FDB_SIZE          = 32768;  // (VNI, MAC) -> local VAP or remote VTEP
const bit<32> ACL_SIZE          = 2048;
const bit<32> LOCAL_VTEP_SIZE   = 16;
const bit<32> UNDERLAY_ROUTE_SIZE = 1024;
const bit<32> REPLICA_SIZE      = 16384;  // one per (VN, local VAP or remote VTEP)
const bit<32> PCP_MAP_SIZE      = 8;
const bit<32> DSCP_MAP_SIZE     = 64;
const bit<32> PUNT_SIZE         = 16;
const bit<32> PORT_ROLE_SIZE    = 512;

#endif
