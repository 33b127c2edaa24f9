"""The forwarding state both targets get: port roles, three VNs with VMs on several ports and VIDs, an
inactive VAP, remote VMs behind two VTEPs (one without a route), underlay routes, ACL rules in
both directions, PCP/DSCP maps, LLDP/ECP punts, flood groups with local and remote replicas,
and our local VTEP.

The names and addresses are also what the corpus draws its frames from.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Entry, Exact, Lpm, MulticastGroup, Ternary, Update, WriteOp

ACCESS_PORTS = (1, 2, 3)
NETWORK_PORTS = (4, 5)
DATA_PORTS = ACCESS_PORTS + NETWORK_PORTS
CPU_PORT = 255
DEVICE_ID = 1

VNI_BLUE, VNI_RED, VNI_GREEN = 5001, 5002, 5003   # GREEN: known VN without a flood group
FLOOD_BLUE, FLOOD_RED = 1, 2

VTEP_IP = "10.0.1.1"
REMOTE_VTEP_IP = "10.0.2.1"     # route via port 4
OTHER_VTEP_IP = "10.0.3.1"      # route via port 5
FAR_VTEP_IP = "10.0.9.1"        # covered only by the 10.0.0.0/16 route (port 4)
UNROUTED_VTEP_IP = "172.16.0.1"  # no underlay route
ROUTER_MAC = "02:00:00:00:01:01"
NEXTHOP_MAC = "02:00:00:00:fe:01"
NEXTHOP2_MAC = "02:00:00:00:fe:02"

ETH_LLDP, ETH_ECP, ETH_ARP, ETH_IPV4 = 0x88CC, 0x8940, 0x0806, 0x0800


@dataclass(frozen=True)
class Vm:
    """A local VM: its VAP (access port, VID) in a VN, the MACs it may send from, its PCP."""

    port: int
    vid: int
    vap_id: int
    vni: int
    macs: tuple[str, ...]
    ip: str
    pcp: int = 0


@dataclass(frozen=True)
class RemoteVm:
    """A VM behind a remote VTEP."""

    vni: int
    mac: str
    ip: str
    vtep_ip: str


VMS = (
    Vm(1, 10, 1, VNI_BLUE, ("52:54:00:00:00:01", "52:54:00:00:00:11"), "192.168.10.1"),
    Vm(2, 20, 2, VNI_BLUE, ("52:54:00:00:00:02",), "192.168.10.2", pcp=3),
    Vm(3, 0, 3, VNI_BLUE, ("52:54:00:00:00:03",), "192.168.10.3", pcp=1),   # untagged VAP
    Vm(1, 11, 4, VNI_RED, ("52:54:00:00:00:04",), "192.168.20.4", pcp=5),   # same port, other VID
    Vm(3, 30, 5, VNI_RED, ("52:54:00:00:00:05",), "192.168.20.5"),
    Vm(2, 40, 6, VNI_GREEN, ("52:54:00:00:00:06",), "192.168.30.6"),
    Vm(3, 41, 8, VNI_GREEN, ("52:54:00:00:00:08",), "192.168.30.8"),
)
INACTIVE_VAP = Vm(2, 21, 7, VNI_BLUE, ("52:54:00:00:00:07",), "192.168.10.7")
REMOTE_VMS = (
    RemoteVm(VNI_BLUE, "52:54:00:00:01:01", "192.168.10.101", REMOTE_VTEP_IP),
    RemoteVm(VNI_BLUE, "52:54:00:00:01:02", "192.168.10.102", FAR_VTEP_IP),
    RemoteVm(VNI_RED, "52:54:00:00:01:03", "192.168.20.103", OTHER_VTEP_IP),
    RemoteVm(VNI_RED, "52:54:00:00:01:04", "192.168.20.104", UNROUTED_VTEP_IP),
    RemoteVm(VNI_GREEN, "52:54:00:00:01:05", "192.168.30.105", OTHER_VTEP_IP),
)
DSCP_TO_PCP = {46: 5, 26: 3, 10: 1}
PCP_TO_DSCP = {5: 46, 3: 26, 1: 10}
DENIED_TCP_PORT = 23            # BLUE: VMs may not telnet out
DENIED_UDP_SOURCE_PORT = 53     # BLUE: no DNS answers from the overlay toward VMs
RED_DENIED_HOST = "192.168.20.66"
RED_PERMITTED_NET = ("192.168.20.0", 24)
REPLICA_UNKNOWN_RID = 999       # a red flood copy with no flood_replica entry
# Flood replica ids: local VAPs use their VAP id, remote VTEPs these.
RID_BLUE_REMOTE, RID_BLUE_FAR, RID_RED_OTHER = 100, 101, 102


def mac(text: str) -> int:
    """'52:54:00:00:00:01' -> int."""
    return int(text.replace(":", ""), 16)


def ip(text: str) -> int:
    """'10.0.0.1' -> int."""
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def port_role_entries() -> list[Entry]:
    """Ports 1-3 face the hypervisors, 4-5 the underlay."""
    return [Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)},
                  P.NETWORK_PORT if port in NETWORK_PORTS else P.ACCESS_PORT)
            for port in DATA_PORTS]


def _exact(table: str, field: str, value: int, action: str, **params: int) -> Entry:
    return Entry(table, {field: Exact(value)}, action, params)


def vap_entries(vm: Vm, active: bool = True) -> list[Entry]:
    """The VAP of a VM, its source MACs and (when active) FDB entries toward it."""
    key = {P.PORT_VLAN_TO_VNI_PORT: Exact(vm.port), P.PORT_VLAN_TO_VNI_VLAN_ID: Exact(vm.vid)}
    if not active:
        return [Entry(P.PORT_VLAN_TO_VNI, key, P.SET_VAP_INACTIVE,
                      {P.SET_VAP_INACTIVE_VAP_ID: vm.vap_id})]
    entries = [Entry(P.PORT_VLAN_TO_VNI, key, P.SET_VAP,
                     {P.SET_VAP_VAP_ID: vm.vap_id, P.SET_VAP_VNI: vm.vni, P.SET_VAP_PCP: vm.pcp})]
    for vm_mac in vm.macs:
        entries.append(Entry(P.VAP_SRC_MAC, {P.VAP_SRC_MAC_VAP_ID: Exact(vm.vap_id),
                                             P.VAP_SRC_MAC_ETH_SRC: Exact(mac(vm_mac))},
                             P.ALLOW_SOURCE))
        entries.append(Entry(P.FDB, {P.FDB_VNI: Exact(vm.vni), P.FDB_ETH_DST: Exact(mac(vm_mac))},
                             P.FORWARD_LOCAL, {P.FORWARD_LOCAL_PORT: vm.port,
                                               P.FORWARD_LOCAL_VID: vm.vid,
                                               P.FORWARD_LOCAL_VAP_ID: vm.vap_id}))
    return entries


def remote_entries() -> list[Entry]:
    """FDB entries of the remote VMs."""
    return [Entry(P.FDB, {P.FDB_VNI: Exact(r.vni), P.FDB_ETH_DST: Exact(mac(r.mac))},
                  P.FORWARD_REMOTE, {P.FORWARD_REMOTE_VTEP_IP: ip(r.vtep_ip)})
            for r in REMOTE_VMS]


def underlay_entries() -> list[Entry]:
    """Routes to the remote VTEPs (an overlapping /16 and /24s) and our VTEP address."""
    routes = (("10.0.2.0", 24, 4, NEXTHOP_MAC), ("10.0.3.0", 24, 5, NEXTHOP2_MAC),
              ("10.0.0.0", 16, 4, NEXTHOP2_MAC))
    entries = [Entry(P.UNDERLAY_ROUTE, {P.UNDERLAY_ROUTE_VTEP_IP: Lpm(ip(prefix), length)},
                     P.SET_NEXTHOP, {P.SET_NEXTHOP_PORT: port, P.SET_NEXTHOP_SRC_IP: ip(VTEP_IP),
                                     P.SET_NEXTHOP_SRC_MAC: mac(ROUTER_MAC),
                                     P.SET_NEXTHOP_DST_MAC: mac(dst_mac)})
               for prefix, length, port, dst_mac in routes]
    entries.append(Entry(P.LOCAL_VTEP, {P.LOCAL_VTEP_VTEP_IP: Exact(ip(VTEP_IP))}, P.ACCEPT_VXLAN))
    return entries


def qos_and_punt_entries() -> list[Entry]:
    """DSCP<->PCP maps and the LLDP/ECP punts."""
    entries = [_exact(P.DSCP_TO_PCP, P.DSCP_TO_PCP_DSCP, dscp, P.SET_PCP, **{P.SET_PCP_PCP: pcp})
               for dscp, pcp in DSCP_TO_PCP.items()]
    entries += [_exact(P.PCP_TO_DSCP, P.PCP_TO_DSCP_PCP, pcp, P.SET_DSCP, **{P.SET_DSCP_DSCP: dscp})
                for pcp, dscp in PCP_TO_DSCP.items()]
    entries += [Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(eth_type)}, P.PUNT_TO_CPU)
                for eth_type in (ETH_LLDP, ETH_ECP)]
    return entries


def acl(priority: int, permit: bool, **fields: tuple[int, int]) -> Entry:
    """An ACL rule; each field is (value, mask)."""
    match = {name: Ternary(value & mask, mask) for name, (value, mask) in fields.items()}
    return Entry(P.ACL, match, P.PERMIT if permit else P.DENY, priority=priority)


TIE_PRIORITY = 70
"""BLUE rules that overlap at one priority: bmv2 applies the one with the lowest entry handle,
and reuses the lowest free handle on insert (see ``acl_churn``)."""
TIE_FIRST = acl(TIE_PRIORITY, False, vni=(VNI_BLUE, 0xFFFFFF), ip_proto=(17, 0xFF),
                l4_dport=(5353, 0xFFFF))
TIE_SECOND = acl(TIE_PRIORITY, True, vni=(VNI_BLUE, 0xFFFFFF),
                 ipv4_dst=(ip("192.168.10.2"), 0xFFFFFFFF))
TIE_REPLACEMENT = acl(TIE_PRIORITY, False, vni=(VNI_BLUE, 0xFFFFFF), ip_proto=(17, 0xFF),
                      ipv4_src=(ip("192.168.10.1"), 0xFFFFFFFF))


def acl_churn() -> list[Update]:
    """A policy change: the first tie rule goes, another comes (into its freed handle) that
    overlaps the second one: UDP from VM1 to VM2 is denied by bmv2, the lowest handle."""
    return [Update(WriteOp.DELETE, TIE_FIRST), Update(WriteOp.INSERT, TIE_REPLACEMENT)]


def acl_entries() -> list[Entry]:
    """BLUE and GREEN: deny rules over a permit-all; RED: an allow list (misses are denied)."""
    full16, full32 = 0xFFFF, 0xFFFFFFFF
    red_net, red_len = RED_PERMITTED_NET
    red_mask = (full32 << (32 - red_len)) & full32
    return [
        acl(1, True, vni=(VNI_BLUE, 0xFFFFFF)),
        acl(1, True, vni=(VNI_GREEN, 0xFFFFFF)),
        TIE_FIRST,
        TIE_SECOND,
        acl(100, False, vni=(VNI_BLUE, 0xFFFFFF), direction=(0, 1), eth_type=(ETH_IPV4, full16),
            ip_proto=(6, 0xFF), l4_dport=(DENIED_TCP_PORT, full16)),
        acl(100, False, vni=(VNI_BLUE, 0xFFFFFF), direction=(1, 1), ip_proto=(17, 0xFF),
            l4_sport=(DENIED_UDP_SOURCE_PORT, full16)),
        acl(90, False, direction=(1, 1), eth_type=(ETH_IPV4, full16),
            ipv4_dst=(ip("192.168.10.3"), full32), ip_proto=(6, 0xFF)),
        acl(60, False, vni=(VNI_RED, 0xFFFFFF), ipv4_src=(ip(RED_DENIED_HOST), full32)),
        acl(50, True, vni=(VNI_RED, 0xFFFFFF), eth_type=(ETH_ARP, full16)),
        acl(40, True, vni=(VNI_RED, 0xFFFFFF), eth_type=(ETH_IPV4, full16),
            ipv4_dst=(ip(red_net), red_mask)),
        acl(30, True, vni=(VNI_RED, 0xFFFFFF), direction=(1, 1), ip_proto=(17, 0xFF),
            l4_dport=(4789, 0xFF00)),
    ]


def flood_entries() -> tuple[list[Entry], list[MulticastGroup]]:
    """VN entries, flood replicas and the multicast groups of BLUE and RED."""
    vns = [_exact(P.VN, P.VN_VNI, VNI_BLUE, P.SET_FLOOD_GROUP,
                  **{P.SET_FLOOD_GROUP_FLOOD_GROUP: FLOOD_BLUE}),
           _exact(P.VN, P.VN_VNI, VNI_RED, P.SET_FLOOD_GROUP,
                  **{P.SET_FLOOD_GROUP_FLOOD_GROUP: FLOOD_RED}),
           _exact(P.VN, P.VN_VNI, VNI_GREEN, P.SET_FLOOD_GROUP,
                  **{P.SET_FLOOD_GROUP_FLOOD_GROUP: 0})]
    replicas = [_exact(P.FLOOD_REPLICA, P.FLOOD_REPLICA_RID, vm.vap_id, P.REPLICA_TO_VAP,
                       **{P.REPLICA_TO_VAP_VID: vm.vid, P.REPLICA_TO_VAP_VAP_ID: vm.vap_id})
                for vm in VMS if vm.vni != VNI_GREEN]
    for rid, vtep, dst_mac in ((RID_BLUE_REMOTE, REMOTE_VTEP_IP, NEXTHOP_MAC),
                               (RID_BLUE_FAR, FAR_VTEP_IP, NEXTHOP2_MAC),
                               (RID_RED_OTHER, OTHER_VTEP_IP, NEXTHOP2_MAC)):
        replicas.append(_exact(P.FLOOD_REPLICA, P.FLOOD_REPLICA_RID, rid, P.REPLICA_TO_VTEP,
                               **{P.REPLICA_TO_VTEP_VTEP_IP: ip(vtep),
                                  P.REPLICA_TO_VTEP_SRC_IP: ip(VTEP_IP),
                                  P.REPLICA_TO_VTEP_SRC_MAC: mac(ROUTER_MAC),
                                  P.REPLICA_TO_VTEP_DST_MAC: mac(dst_mac)}))
    local = {vni: [(vm.port, vm.vap_id) for vm in VMS if vm.vni == vni]
             for vni in (VNI_BLUE, VNI_RED)}
    groups = [MulticastGroup(FLOOD_BLUE, local[VNI_BLUE] + [(4, RID_BLUE_REMOTE),
                                                           (4, RID_BLUE_FAR)]),
              MulticastGroup(FLOOD_RED, local[VNI_RED] + [(5, RID_RED_OTHER),
                                                         (2, REPLICA_UNKNOWN_RID)])]
    return vns + replicas, groups


def updates() -> list[list[Update]]:
    """Every write, as batches: tables, the multicast groups, then a change of ACL rules."""
    entries = port_role_entries() + [entry for vm in VMS for entry in vap_entries(vm)]
    entries += vap_entries(INACTIVE_VAP, active=False)
    entries += remote_entries() + underlay_entries() + qos_and_punt_entries() + acl_entries()
    flood, groups = flood_entries()
    entries += flood
    return [[Update(WriteOp.INSERT, entry) for entry in entries],
            [Update(WriteOp.INSERT, group) for group in groups],
            acl_churn()]
