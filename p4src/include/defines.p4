#ifndef NVE_DEFINES_P4
#define NVE_DEFINES_P4

// Ethertypes and protocol numbers
const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_ARP  = 0x0806;
const bit<16> ETHERTYPE_VLAN = 0x8100;
const bit<16> ETHERTYPE_LLDP = 0x88CC;
const bit<16> ETHERTYPE_ECP  = 0x8940;   // IEEE 802.1Qbg edge control protocol (carries VDP)
const bit<8>  IP_PROTO_TCP   = 6;
const bit<8>  IP_PROTO_UDP   = 17;
const bit<16> UDP_PORT_VXLAN = 4789;

// Header lengths in bytes, used for the outer length fields on encap
const bit<16> ETH_HDR_LEN   = 14;
const bit<16> IPV4_HDR_LEN  = 20;
const bit<16> UDP_HDR_LEN   = 8;
const bit<16> VXLAN_HDR_LEN = 8;
const bit<16> VLAN_HDR_LEN  = 4;

// Outer IPv4 header values on encap
const bit<8>  VXLAN_TTL      = 64;
const bit<8>  VXLAN_FLAGS_I  = 0x08;     // RFC 7348: I flag, VNI valid
const bit<16> VXLAN_SPORT_BASE = 0xC000; // RFC 7348: source port from the dynamic range
const bit<16> VXLAN_SPORT_MASK = 0x3FFF;

// v1model ports; the CPU port must match simple_switch_grpc --cpu-port
typedef bit<9> port_t;
const port_t CPU_PORT  = 255;

// The tenant frame's direction, an ACL key
const bit<1> DIR_FROM_VAP = 0;   // sent by a VM through its access port
const bit<1> DIR_TO_VAP   = 1;   // decapsulated from the overlay toward a VM

// Forwarding decision kinds (meta.fwd.kind)
const bit<3> FWD_NONE   = 0;
const bit<3> FWD_LOCAL  = 1;     // unicast to a local VAP
const bit<3> FWD_REMOTE = 2;     // unicast to a remote VTEP over VXLAN
const bit<3> FWD_FLOOD  = 3;     // BUM: replicated through the VN multicast group
const bit<3> FWD_CPU    = 4;     // punted to the controller

// Drop reasons: index of the drop_reasons counter; docs/tables.md lists them
typedef bit<8> drop_reason_t;
const drop_reason_t DROP_NONE             = 0;
const drop_reason_t DROP_MALFORMED        = 1;  // parser error or bad IPv4 checksum
const drop_reason_t DROP_UNKNOWN_VAP      = 2;  // (port, VID) not signalled
const drop_reason_t DROP_INACTIVE_VAP     = 3;  // pre-associated, suspended or emigrated
const drop_reason_t DROP_SPOOFED_SOURCE   = 4;  // source MAC not signalled for the VAP
const drop_reason_t DROP_ACL_DENY         = 5;
const drop_reason_t DROP_UNKNOWN_VTEP     = 6;  // VXLAN to an IP that is not ours
const drop_reason_t DROP_UNKNOWN_VNI      = 7;
const drop_reason_t DROP_NOT_VXLAN        = 8;  // non-VXLAN traffic on a network port
const drop_reason_t DROP_NO_ROUTE         = 9;  // no underlay route to the remote VTEP
const drop_reason_t DROP_SPLIT_HORIZON    = 10; // would go back where it came from
const drop_reason_t DROP_NO_FLOOD_GROUP   = 11; // BUM in a VN without a flood group
const drop_reason_t DROP_UNKNOWN_REPLICA  = 12; // multicast copy with no replica entry
const drop_reason_t DROP_REMOTE_FROM_NETWORK = 13; // overlay traffic may not be re-tunnelled
const drop_reason_t DROP_UNKNOWN_PORT    = 14;  // a port the controller has not given a role
const bit<32> NUM_DROP_REASONS = 16;

#endif
