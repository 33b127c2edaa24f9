"""Desired table state of one switch, from the VM records, the mapping authority and the config."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.config import AclRule, ControllerConfig, SwitchConfig, VnConfig
from controlplane.model import Location, VmRecord
from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Entry, Exact, Lpm, MulticastGroup, Ternary

ETHERTYPE_LLDP = 0x88CC
ETHERTYPE_ECP = 0x8940
DIR_FROM_VAP = 0
DIR_TO_VAP = 1
VTEP_RID_BASE = 0x8000   # replica ids below are VAP ids, above are remote VTEPs
ACL_DEFAULT_PRIORITY = 1
ACL_RULE_PRIORITY_BASE = 10


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What one switch must hold: table entries and multicast groups."""

    entries: frozenset[Entry]
    groups: frozenset[MulticastGroup]


def desired_state(cfg: ControllerConfig, switch: SwitchConfig, vms: Iterable[VmRecord],
                  locations: Iterable[Location]) -> DesiredState:
    """All entries `switch` must hold, given every VM record and every known VM location."""
    local = [vm for vm in vms if vm.switch == switch.name]
    vnis = sorted({vm.vni for vm in local})
    remote = [loc for loc in locations if loc.vtep_ip != switch.vtep_ip and loc.vni in vnis]
    remote += [Location(cfg.vn_by_name(h.vn).vni, h.mac, h.vtep_ip, "", "")  # type: ignore[union-attr]
               for h in cfg.static_hosts if cfg.vn_by_name(h.vn).vni in vnis]  # type: ignore[union-attr]
    vtep_rids = vtep_replica_ids(switch, cfg, remote)
    entries = set(switch_base(cfg, switch))
    groups = set()
    for vni in vnis:
        vn = cfg.vn_by_vni(vni)
        if vn is None:
            continue
        vn_local = [vm for vm in local if vm.vni == vni]
        vn_remote_vteps = sorted({loc.vtep_ip for loc in remote if loc.vni == vni})
        group, group_entries = vn_flooding(switch, vn, flood_group_id(cfg, vni), vn_local,
                                           vn_remote_vteps, vtep_rids)
        groups.add(group)
        entries |= group_entries
        entries |= acl_entries(vn)
    for vm in local:
        entries |= vm_entries(vm)
    local_macs = {(vm.vni, mac) for vm in local if vm.active for mac in vm.macs}
    for loc in remote:
        if (loc.vni, loc.mac) not in local_macs:
            entries.add(Entry(P.FDB, {P.FDB_VNI: Exact(loc.vni), P.FDB_ETH_DST: Exact(loc.mac)},
                              P.FORWARD_REMOTE, {P.FORWARD_REMOTE_VTEP_IP: loc.vtep_ip}))
    return DesiredState(frozenset(entries), frozenset(groups))


def switch_base(cfg: ControllerConfig, switch: SwitchConfig) -> set[Entry]:
    """Entries every switch holds whatever its VMs: port roles, punts, VTEP, underlay routes,
    QoS maps."""
    entries = {
        *(Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)}, P.ACCESS_PORT)
          for port in switch.access_ports),
        *(Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)}, P.NETWORK_PORT)
          for port in switch.network_ports),
        Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(ETHERTYPE_LLDP)}, P.PUNT_TO_CPU),
        Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(ETHERTYPE_ECP)}, P.PUNT_TO_CPU),
        Entry(P.LOCAL_VTEP, {P.LOCAL_VTEP_VTEP_IP: Exact(switch.vtep_ip)}, P.ACCEPT_VXLAN),
    }
    for route in switch.routes:
        entries.add(Entry(
            P.UNDERLAY_ROUTE,
            {P.UNDERLAY_ROUTE_VTEP_IP: Lpm(int(route.prefix.network_address),
                                           route.prefix.prefixlen)},
            P.SET_NEXTHOP,
            {P.SET_NEXTHOP_PORT: route.port, P.SET_NEXTHOP_SRC_IP: switch.vtep_ip,
             P.SET_NEXTHOP_SRC_MAC: switch.router_mac,
             P.SET_NEXTHOP_DST_MAC: route.next_hop_mac}))
    for pcp, dscp in cfg.pcp_to_dscp.items():
        entries.add(Entry(P.PCP_TO_DSCP, {P.PCP_TO_DSCP_PCP: Exact(pcp)}, P.SET_DSCP,
                          {P.SET_DSCP_DSCP: dscp}))
        entries.add(Entry(P.DSCP_TO_PCP, {P.DSCP_TO_PCP_DSCP: Exact(dscp)}, P.SET_PCP,
                          {P.SET_PCP_PCP: pcp}))
    return entries


def flood_group_id(cfg: ControllerConfig, vni: int) -> int:
    """The multicast group of a VN: its position among the configured VNIs, from 1."""
    return sorted(vn.vni for vn in cfg.vns).index(vni) + 1


def vtep_replica_ids(switch: SwitchConfig, cfg: ControllerConfig,
                     remote: Iterable[Location]) -> dict[int, int]:
    """A replica id for each remote VTEP; stable while the set of VTEPs does not change."""
    vteps = {sw.vtep_ip for sw in cfg.switches} | {h.vtep_ip for h in cfg.static_hosts}
    vteps |= {loc.vtep_ip for loc in remote}
    vteps.discard(switch.vtep_ip)
    return {ip: VTEP_RID_BASE + index for index, ip in enumerate(sorted(vteps))}


def vn_flooding(switch: SwitchConfig, vn: VnConfig, group_id: int, local: list[VmRecord],
                remote_vteps: list[int], vtep_rids: dict[int, int]
                ) -> tuple[MulticastGroup, set[Entry]]:
    """The VN's flood group and the replica entries its copies need.

    A copy goes to each active local VAP (replica id = VAP id) and, head-end replicated, to each
    remote VTEP hosting an active VM of the VN (replica id from vtep_rids, port from the route).
    """
    replicas: set[tuple[int, int]] = set()
    entries: set[Entry] = {
        Entry(P.VN, {P.VN_VNI: Exact(vn.vni)}, P.SET_FLOOD_GROUP,
              {P.SET_FLOOD_GROUP_FLOOD_GROUP: group_id})}
    for vm in local:
        if not vm.active:
            continue
        replicas.add((vm.port, vm.vap_id))
        entries.add(Entry(P.FLOOD_REPLICA, {P.FLOOD_REPLICA_RID: Exact(vm.vap_id)},
                          P.REPLICA_TO_VAP,
                          {P.REPLICA_TO_VAP_VID: vm.vid, P.REPLICA_TO_VAP_VAP_ID: vm.vap_id}))
    for vtep_ip in remote_vteps:
        route = switch.route_for(vtep_ip)
        if route is None:
            continue   # unreachable VTEP: the data plane would drop it too
        rid = vtep_rids[vtep_ip]
        replicas.add((route.port, rid))
        entries.add(Entry(P.FLOOD_REPLICA, {P.FLOOD_REPLICA_RID: Exact(rid)}, P.REPLICA_TO_VTEP,
                          {P.REPLICA_TO_VTEP_VTEP_IP: vtep_ip,
                           P.REPLICA_TO_VTEP_SRC_IP: switch.vtep_ip,
                           P.REPLICA_TO_VTEP_SRC_MAC: switch.router_mac,
                           P.REPLICA_TO_VTEP_DST_MAC: route.next_hop_mac}))
    return MulticastGroup(group_id, replicas), entries


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


def acl_entries(vn: VnConfig) -> set[Entry]:
    """The VN's rules plus its default rule at the lowest priority."""
    default = Entry(P.ACL, {P.ACL_VNI: Ternary(vn.vni, 0xFFFFFF)},
                    P.PERMIT if vn.default_action == "permit" else P.DENY,
                    priority=ACL_DEFAULT_PRIORITY)
    return {default, *(acl_rule_entry(vn, rule) for rule in vn.acl)}


def vm_entries(vm: VmRecord) -> set[Entry]:
    """A local VM's entries: its VAP always; source MACs and FDB only while it is active."""
    vap_key = {P.PORT_VLAN_TO_VNI_PORT: Exact(vm.port), P.PORT_VLAN_TO_VNI_VLAN_ID: Exact(vm.vid)}
    if not vm.active:
        return {Entry(P.PORT_VLAN_TO_VNI, vap_key, P.SET_VAP_INACTIVE,
                      {P.SET_VAP_INACTIVE_VAP_ID: vm.vap_id})}
    entries = {Entry(P.PORT_VLAN_TO_VNI, vap_key, P.SET_VAP,
                     {P.SET_VAP_VAP_ID: vm.vap_id, P.SET_VAP_VNI: vm.vni,
                      P.SET_VAP_PCP: vm.pcp})}
    for mac in vm.macs:
        entries.add(Entry(P.VAP_SRC_MAC, {P.VAP_SRC_MAC_VAP_ID: Exact(vm.vap_id),
                                          P.VAP_SRC_MAC_ETH_SRC: Exact(mac)}, P.ALLOW_SOURCE))
        entries.add(Entry(P.FDB, {P.FDB_VNI: Exact(vm.vni), P.FDB_ETH_DST: Exact(mac)},
                          P.FORWARD_LOCAL,
                          {P.FORWARD_LOCAL_PORT: vm.port, P.FORWARD_LOCAL_VID: vm.vid,
                           P.FORWARD_LOCAL_VAP_ID: vm.vap_id}))
    return entries
