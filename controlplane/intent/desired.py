"""The entries of one switch's desired state, slice by slice, from records, locations and config.

A switch's desired state is the union of disjoint slices (controlplane.intent.tracker keeps them
up to date change by change):

    base                  port roles, punts, the local VTEP, underlay routes, QoS maps
    vteps                 a replica entry for each remote VTEP its VNs flood to
    vn (one per VNI)      the VN entry, its ACL and its flood group
    vm (one per VM)       a local VM's VAP; while active its source MACs, FDB entries, replica
    remote (VNI, MAC)     the FDB entry to a VM (or static host) behind another VTEP

Builders here are pure. Entries are built with Entry.canonical from sorted tuples: the schema
checks every value against the P4Info when it is written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controlplane.config import AclRule, ControllerConfig, SwitchConfig, VnConfig
from controlplane.model import Location, VmRecord
from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Entry, Exact, Lpm, MulticastGroup, Ternary, by_name, exact

ETHERTYPE_LLDP = 0x88CC
ETHERTYPE_ECP = 0x8940
DIR_FROM_VAP = 0
DIR_TO_VAP = 1
VTEP_RID_BASE = 0x8000   # replica ids below are VAP ids, above are remote VTEPs
ACL_DEFAULT_PRIORITY = 1
ACL_RULE_PRIORITY_BASE = 10

Item = Entry | MulticastGroup


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What one switch must hold: table entries and multicast groups."""

    entries: frozenset[Entry]
    groups: frozenset[MulticastGroup]

    @classmethod
    def of(cls, items: Iterable[Item]) -> DesiredState:
        """Split items into entries and groups."""
        entries, groups = [], []
        for item in items:
            (entries if isinstance(item, Entry) else groups).append(item)
        return cls(frozenset(entries), frozenset(groups))  # type: ignore[arg-type]


def desired_state(cfg: ControllerConfig, switch: SwitchConfig, vms: Iterable[VmRecord],
                  locations: Iterable[Location]) -> DesiredState:
    """All entries `switch` must hold, given every VM record and every known location of
    other controllers' VMs (the same slices the incremental tracker keeps, built at once)."""
    from controlplane.intent.tracker import Intent  # the tracker builds on this module

    intent = Intent(cfg, [switch], records=vms, external=locations)
    return intent.state(switch.name)


# -- slices -----------------------------------------------------------------------------------
def switch_base(cfg: ControllerConfig, switch: SwitchConfig) -> tuple[Entry, ...]:
    """Entries every switch holds whatever its VMs: port roles, punts, VTEP, underlay routes,
    QoS maps."""
    entries = [
        *(Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)}, P.ACCESS_PORT)
          for port in switch.access_ports),
        *(Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)}, P.NETWORK_PORT)
          for port in switch.network_ports),
        Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(ETHERTYPE_LLDP)}, P.PUNT_TO_CPU),
        Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(ETHERTYPE_ECP)}, P.PUNT_TO_CPU),
        Entry(P.LOCAL_VTEP, {P.LOCAL_VTEP_VTEP_IP: Exact(switch.vtep_ip)}, P.ACCEPT_VXLAN),
    ]
    for route in switch.routes:
        entries.append(Entry(
            P.UNDERLAY_ROUTE,
            {P.UNDERLAY_ROUTE_VTEP_IP: Lpm(int(route.prefix.network_address),
                                           route.prefix.prefixlen)},
            P.SET_NEXTHOP,
            {P.SET_NEXTHOP_PORT: route.port, P.SET_NEXTHOP_SRC_IP: switch.vtep_ip,
             P.SET_NEXTHOP_SRC_MAC: switch.router_mac,
             P.SET_NEXTHOP_DST_MAC: route.next_hop_mac}))
    for pcp, dscp in cfg.pcp_to_dscp.items():
        entries.append(Entry(P.PCP_TO_DSCP, {P.PCP_TO_DSCP_PCP: Exact(pcp)}, P.SET_DSCP,
                             {P.SET_DSCP_DSCP: dscp}))
        entries.append(Entry(P.DSCP_TO_PCP, {P.DSCP_TO_PCP_DSCP: Exact(dscp)}, P.SET_PCP,
                             {P.SET_PCP_PCP: pcp}))
    return tuple(dict.fromkeys(entries))


def flood_group_ids(cfg: ControllerConfig) -> dict[int, int]:
    """The multicast group of each VN: its position among the configured VNIs, from 1."""
    return {vni: index + 1 for index, vni in enumerate(sorted(vn.vni for vn in cfg.vns))}


def vtep_replica_ids(vteps: Iterable[int]) -> dict[int, int]:
    """A replica id for each VTEP; stable while the set of VTEPs does not change."""
    return {ip: VTEP_RID_BASE + index for index, ip in enumerate(sorted(set(vteps)))}


def vn_entries(vn: VnConfig, group_id: int) -> tuple[Entry, ...]:
    """The VN entry and the VN's ACL: the same on every switch that uses the VN."""
    return (Entry(P.VN, {P.VN_VNI: Exact(vn.vni)}, P.SET_FLOOD_GROUP,
                  {P.SET_FLOOD_GROUP_FLOOD_GROUP: group_id}), *acl_entries(vn))


def flood_group(switch: SwitchConfig, group_id: int, local: Iterable[VmRecord],
                remote_vteps: Iterable[int], vtep_rids: Mapping[int, int]) -> MulticastGroup:
    """A VN's flood group on `switch`: a copy to each active local VAP (replica id = VAP id) and,
    head-end replicated, to each remote VTEP hosting the VN (replica id from vtep_rids, port from
    the route; an unreachable VTEP gets none: the data plane would drop it too)."""
    replicas = {(vm.port, vm.vap_id) for vm in local if vm.active}
    for vtep_ip in remote_vteps:
        route = switch.route_for(vtep_ip)
        if route is not None:
            replicas.add((route.port, vtep_rids[vtep_ip]))
    return MulticastGroup.canonical(group_id, tuple(sorted(replicas)))


def vtep_replicas(switch: SwitchConfig, vteps: Iterable[int],
                  vtep_rids: Mapping[int, int]) -> tuple[Entry, ...]:
    """The replica entry of each remote VTEP `switch` floods to: VXLAN towards it."""
    entries = []
    for vtep_ip in sorted(vteps):
        route = switch.route_for(vtep_ip)
        if route is None:
            continue
        entries.append(Entry.canonical(
            P.FLOOD_REPLICA, ((P.FLOOD_REPLICA_RID, Exact(vtep_rids[vtep_ip])),),
            P.REPLICA_TO_VTEP, by_name(((P.REPLICA_TO_VTEP_VTEP_IP, vtep_ip),
                                        (P.REPLICA_TO_VTEP_SRC_IP, switch.vtep_ip),
                                        (P.REPLICA_TO_VTEP_SRC_MAC, switch.router_mac),
                                        (P.REPLICA_TO_VTEP_DST_MAC, route.next_hop_mac)))))
    return tuple(entries)


def _ternary_prefix(net: object, width: int) -> Ternary | None:
    if net is None:
        return None
    prefixlen = net.prefixlen  # type: ignore[attr-defined]
    if prefixlen == 0:
        return None
    mask = ((1 << prefixlen) - 1) << (width - prefixlen)
    return Ternary(int(net.network_address), mask)  # type: ignore[attr-defined]


def _ternary_exact(value: int | None, width: int) -> Ternary | None:
    return None if value is None else Ternary(value, (1 << width) - 1)


def acl_rule_entry(vn: VnConfig, rule: AclRule) -> Entry:
    """One policy rule of a VN as an ACL entry; unset fields are wildcards."""
    direction = {None: None, "from_vap": DIR_FROM_VAP, "to_vap": DIR_TO_VAP}[rule.direction]
    fields = {
        P.ACL_VNI: Ternary(vn.vni, 0xFFFFFF),
        P.ACL_DIRECTION: _ternary_exact(direction, 1),
        P.ACL_ETH_TYPE: _ternary_exact(rule.eth_type, 16),
        P.ACL_IPV4_SRC: _ternary_prefix(rule.ipv4_src, 32),
        P.ACL_IPV4_DST: _ternary_prefix(rule.ipv4_dst, 32),
        P.ACL_IP_PROTO: _ternary_exact(rule.ip_proto, 8),
        P.ACL_L4_SPORT: _ternary_exact(rule.l4_sport, 16),
        P.ACL_L4_DPORT: _ternary_exact(rule.l4_dport, 16),
    }
    action = P.PERMIT if rule.action == "permit" else P.DENY
    return Entry(P.ACL, {k: v for k, v in fields.items() if v is not None}, action,
                 priority=ACL_RULE_PRIORITY_BASE + rule.priority)


def acl_entries(vn: VnConfig) -> tuple[Entry, ...]:
    """The VN's rules plus its default rule at the lowest priority."""
    default = Entry(P.ACL, {P.ACL_VNI: Ternary(vn.vni, 0xFFFFFF)},
                    P.PERMIT if vn.default_action == "permit" else P.DENY,
                    priority=ACL_DEFAULT_PRIORITY)
    return tuple(dict.fromkeys((default, *(acl_rule_entry(vn, rule) for rule in vn.acl))))


def vm_entries(vm: VmRecord) -> tuple[Entry, ...]:
    """A local VM's entries: its VAP always; source MACs, FDB entries and its flood replica only
    while it is active."""
    vap_key = by_name((_port_field(P.PORT_VLAN_TO_VNI_PORT, vm.port),
                       (P.PORT_VLAN_TO_VNI_VLAN_ID, exact(vm.vid))))
    if not vm.active:
        return (Entry.canonical(P.PORT_VLAN_TO_VNI, vap_key, P.SET_VAP_INACTIVE,
                                ((P.SET_VAP_INACTIVE_VAP_ID, vm.vap_id),)),)
    vap_id = exact(vm.vap_id)
    entries = [
        Entry.canonical(P.PORT_VLAN_TO_VNI, vap_key, P.SET_VAP,
                        by_name(((P.SET_VAP_VAP_ID, vm.vap_id), (P.SET_VAP_VNI, vm.vni),
                                 (P.SET_VAP_PCP, vm.pcp)))),
        Entry.canonical(P.FLOOD_REPLICA, ((P.FLOOD_REPLICA_RID, vap_id),), P.REPLICA_TO_VAP,
                        by_name(((P.REPLICA_TO_VAP_VID, vm.vid),
                                 (P.REPLICA_TO_VAP_VAP_ID, vm.vap_id)))),
    ]
    forward = by_name(((P.FORWARD_LOCAL_PORT, vm.port), (P.FORWARD_LOCAL_VID, vm.vid),
                       (P.FORWARD_LOCAL_VAP_ID, vm.vap_id)))
    source_vap = (P.VAP_SRC_MAC_VAP_ID, vap_id)
    for mac in vm.macs:
        eth = exact(mac)
        entries.append(Entry.canonical(
            P.VAP_SRC_MAC, by_name((source_vap, (P.VAP_SRC_MAC_ETH_SRC, eth))), P.ALLOW_SOURCE))
        entries.append(Entry.canonical(
            P.FDB, by_name((_fdb_vni(vm.vni), (P.FDB_ETH_DST, eth))), P.FORWARD_LOCAL, forward))
    return tuple(entries)


def remote_fdb_entry(vni: int, mac: int, vtep_ip: int) -> Entry:
    """The FDB entry that sends frames for (VNI, MAC) over VXLAN to `vtep_ip`."""
    return Entry.canonical(P.FDB, by_name((_fdb_vni(vni), (P.FDB_ETH_DST, exact(mac)))),
                           P.FORWARD_REMOTE, _remote_params(vtep_ip))


# Parts many entries have in common are made once and shared: a desired state holds one entry
# per VM MAC on every switch of its VN, so each shared part saves memory per MAC. The keys are
# bounded (VNIs, ports, VTEPs), so the caches are too.
@functools.cache
def _fdb_vni(vni: int) -> tuple[str, Exact]:
    return (P.FDB_VNI, exact(vni))


@functools.cache
def _port_field(name: str, port: int) -> tuple[str, Exact]:
    return (name, exact(port))


@functools.cache
def _remote_params(vtep_ip: int) -> tuple[tuple[str, int], ...]:
    return ((P.FORWARD_REMOTE_VTEP_IP, vtep_ip),)
