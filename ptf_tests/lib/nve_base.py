"""NveTest: the base of every PTF test. Connects to the switch, pushes the pipeline once, and
offers one add_<table>_entry helper per table. Writes made through the helpers are undone in
reverse order by @autocleanup, even when the test fails.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ptf
from ptf import testutils
from ptf.base_tests import BaseTest

from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import (
    DefaultAction,
    Entry,
    Exact,
    Lpm,
    MulticastGroup,
    Ternary,
    Update,
    WriteOp,
)
from lib.sync_client import SyncP4Client

PORTS: dict[str, int] = json.loads((Path(__file__).parent.parent / "port_map.json").read_text())
ACCESS1, ACCESS2, ACCESS3 = PORTS["access1"], PORTS["access2"], PORTS["access3"]
NETWORK1, NETWORK2 = PORTS["network1"], PORTS["network2"]
ALL_PORTS = tuple(PORTS.values())

# Addresses used across the suite.
VTEP_IP = "10.0.1.1"
REMOTE_VTEP_IP = "10.0.2.1"
OTHER_VTEP_IP = "10.0.3.1"
ROUTER_MAC = "02:00:00:00:01:01"
NEXTHOP_MAC = "02:00:00:00:fe:01"
DIR_FROM_VAP, DIR_TO_VAP = 0, 1
COUNTER_WAIT = 2.0

# Drop reasons (defines.p4)
DROP_MALFORMED = 1
DROP_UNKNOWN_VAP = 2
DROP_INACTIVE_VAP = 3
DROP_SPOOFED_SOURCE = 4
DROP_ACL_DENY = 5
DROP_UNKNOWN_VTEP = 6
DROP_UNKNOWN_VNI = 7
DROP_NO_ROUTE = 9
DROP_SPLIT_HORIZON = 10


def mac(text: str) -> int:
    """'02:00:00:00:00:01' -> int."""
    return int(text.replace(":", ""), 16)


def ip(text: str) -> int:
    """'10.0.0.1' -> int."""
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def autocleanup(test: Callable[..., Any]) -> Callable[..., Any]:
    """Undo every write the test made through NveTest, in reverse order, pass or fail."""
    @functools.wraps(test)
    def wrapper(self: NveTest, *args: Any, **kwargs: Any) -> Any:
        try:
            return test(self, *args, **kwargs)
        finally:
            self.undo_writes()
    return wrapper


class NveTest(BaseTest):
    """Connects as primary controller and keeps a log of writes to undo."""

    client: SyncP4Client

    def setUp(self) -> None:
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()
        params = testutils.test_params_get()
        self.target = params["target"]
        self.cpu_port = int(params["cpu_port"])
        self.client = SyncP4Client(params["grpcaddr"], device_id=int(params["device_id"]),
                                   election_id=10)
        self._undo: list[Update] = []
        try:
            self.client.set_pipeline(params["p4info"], params["config"])
            for port in (ACCESS1, ACCESS2, ACCESS3):
                self.add_port_role_entry(port, network=False)
            for port in (NETWORK1, NETWORK2):
                self.add_port_role_entry(port, network=True)
        except BaseException:
            # tearDown does not run after a failed setUp: leave no connection or entry behind
            self.undo_writes()
            self.client.close()
            raise

    def tearDown(self) -> None:
        self.undo_writes()
        self.client.close()
        BaseTest.tearDown(self)

    # -- writes -------------------------------------------------------------------------------
    def insert(self, entity: Entry | MulticastGroup) -> Entry | MulticastGroup:
        """Insert one entity and remember to delete it."""
        self.client.write([Update(WriteOp.INSERT, entity)])
        self._undo.append(Update(WriteOp.DELETE, entity))
        return entity

    def modify(self, entry: Entry, previous: Entry) -> Entry:
        """Modify an entry this test inserted; cleanup deletes the new one."""
        self.client.write([Update(WriteOp.MODIFY, entry)])
        self._undo = [u for u in self._undo if u.entity != previous]
        self._undo.append(Update(WriteOp.DELETE, entry))
        return entry

    def set_default(self, table: str, action: str, params: dict[str, int], reset_to: str) -> None:
        """Change a table's default action; cleanup puts `reset_to` back."""
        self.client.write([Update(WriteOp.MODIFY, DefaultAction(table, action, params))])
        self._undo.append(Update(WriteOp.MODIFY, DefaultAction(table, reset_to)))

    def undo_writes(self) -> None:
        """Undo everything this test wrote, newest first."""
        while self._undo:
            self.client.write([self._undo.pop()])

    # -- one helper per table -----------------------------------------------------------------
    def add_port_role_entry(self, port: int, network: bool) -> Entry:
        return self.insert(Entry(P.PORT_ROLE, {P.PORT_ROLE_PORT: Exact(port)},
                                 P.NETWORK_PORT if network else P.ACCESS_PORT))

    def add_punt_entry(self, eth_type: int) -> Entry:
        return self.insert(Entry(P.PUNT, {P.PUNT_ETH_TYPE: Exact(eth_type)}, P.PUNT_TO_CPU))

    def add_port_vlan_to_vni_entry(self, port: int, vid: int, vap_id: int, vni: int,
                                   pcp: int = 0, active: bool = True) -> Entry:
        key = {P.PORT_VLAN_TO_VNI_PORT: Exact(port), P.PORT_VLAN_TO_VNI_VLAN_ID: Exact(vid)}
        if active:
            entry = Entry(P.PORT_VLAN_TO_VNI, key, P.SET_VAP,
                          {P.SET_VAP_VAP_ID: vap_id, P.SET_VAP_VNI: vni, P.SET_VAP_PCP: pcp})
        else:
            entry = Entry(P.PORT_VLAN_TO_VNI, key, P.SET_VAP_INACTIVE,
                          {P.SET_VAP_INACTIVE_VAP_ID: vap_id})
        return self.insert(entry)

    def add_vap_src_mac_entry(self, vap_id: int, eth_src: str) -> Entry:
        return self.insert(Entry(P.VAP_SRC_MAC, {P.VAP_SRC_MAC_VAP_ID: Exact(vap_id),
                                                 P.VAP_SRC_MAC_ETH_SRC: Exact(mac(eth_src))},
                                 P.ALLOW_SOURCE))

    def add_local_vtep_entry(self, vtep_ip: str = VTEP_IP) -> Entry:
        return self.insert(Entry(P.LOCAL_VTEP, {P.LOCAL_VTEP_VTEP_IP: Exact(ip(vtep_ip))},
                                 P.ACCEPT_VXLAN))

    def add_dscp_to_pcp_entry(self, dscp: int, pcp: int) -> Entry:
        return self.insert(Entry(P.DSCP_TO_PCP, {P.DSCP_TO_PCP_DSCP: Exact(dscp)}, P.SET_PCP,
                                 {P.SET_PCP_PCP: pcp}))

    def add_pcp_to_dscp_entry(self, pcp: int, dscp: int) -> Entry:
        return self.insert(Entry(P.PCP_TO_DSCP, {P.PCP_TO_DSCP_PCP: Exact(pcp)}, P.SET_DSCP,
                                 {P.SET_DSCP_DSCP: dscp}))

    def add_vn_entry(self, vni: int, flood_group: int = 0) -> Entry:
        return self.insert(Entry(P.VN, {P.VN_VNI: Exact(vni)}, P.SET_FLOOD_GROUP,
                                 {P.SET_FLOOD_GROUP_FLOOD_GROUP: flood_group}))

    def add_acl_entry(self, priority: int, permit: bool, *, vni: int | None = None,
                      direction: int | None = None, eth_type: int | None = None,
                      ipv4_src: str | None = None, ipv4_dst: str | None = None,
                      ip_proto: int | None = None, l4_sport: int | None = None,
                      l4_dport: int | None = None) -> Entry:
        """An ACL rule; None fields are wildcards, given ones match exactly."""
        widths = {P.ACL_VNI: (vni, 24), P.ACL_DIRECTION: (direction, 1),
                  P.ACL_ETH_TYPE: (eth_type, 16),
                  P.ACL_IPV4_SRC: (ip(ipv4_src) if ipv4_src else None, 32),
                  P.ACL_IPV4_DST: (ip(ipv4_dst) if ipv4_dst else None, 32),
                  P.ACL_IP_PROTO: (ip_proto, 8), P.ACL_L4_SPORT: (l4_sport, 16),
                  P.ACL_L4_DPORT: (l4_dport, 16)}
        match = {name: Ternary(value, (1 << width) - 1)
                 for name, (value, width) in widths.items() if value is not None}
        return self.insert(Entry(P.ACL, match, P.PERMIT if permit else P.DENY,
                                 priority=priority))

    def add_fdb_local_entry(self, vni: int, eth_dst: str, port: int, vid: int,
                            vap_id: int) -> Entry:
        return self.insert(Entry(P.FDB, {P.FDB_VNI: Exact(vni), P.FDB_ETH_DST: Exact(mac(eth_dst))},
                                 P.FORWARD_LOCAL, {P.FORWARD_LOCAL_PORT: port,
                                                   P.FORWARD_LOCAL_VID: vid,
                                                   P.FORWARD_LOCAL_VAP_ID: vap_id}))

    def add_fdb_remote_entry(self, vni: int, eth_dst: str, vtep_ip: str) -> Entry:
        return self.insert(Entry(P.FDB, {P.FDB_VNI: Exact(vni), P.FDB_ETH_DST: Exact(mac(eth_dst))},
                                 P.FORWARD_REMOTE, {P.FORWARD_REMOTE_VTEP_IP: ip(vtep_ip)}))

    def add_underlay_route_entry(self, prefix: str, prefix_len: int, port: int,
                                 dst_mac: str = NEXTHOP_MAC) -> Entry:
        return self.insert(Entry(P.UNDERLAY_ROUTE,
                                 {P.UNDERLAY_ROUTE_VTEP_IP: Lpm(ip(prefix), prefix_len)},
                                 P.SET_NEXTHOP,
                                 {P.SET_NEXTHOP_PORT: port, P.SET_NEXTHOP_SRC_IP: ip(VTEP_IP),
                                  P.SET_NEXTHOP_SRC_MAC: mac(ROUTER_MAC),
                                  P.SET_NEXTHOP_DST_MAC: mac(dst_mac)}))

    def add_flood_replica_vap_entry(self, rid: int, vid: int, vap_id: int) -> Entry:
        return self.insert(Entry(P.FLOOD_REPLICA, {P.FLOOD_REPLICA_RID: Exact(rid)},
                                 P.REPLICA_TO_VAP,
                                 {P.REPLICA_TO_VAP_VID: vid, P.REPLICA_TO_VAP_VAP_ID: vap_id}))

    def add_flood_replica_vtep_entry(self, rid: int, vtep_ip: str,
                                     dst_mac: str = NEXTHOP_MAC) -> Entry:
        return self.insert(Entry(P.FLOOD_REPLICA, {P.FLOOD_REPLICA_RID: Exact(rid)},
                                 P.REPLICA_TO_VTEP,
                                 {P.REPLICA_TO_VTEP_VTEP_IP: ip(vtep_ip),
                                  P.REPLICA_TO_VTEP_SRC_IP: ip(VTEP_IP),
                                  P.REPLICA_TO_VTEP_SRC_MAC: mac(ROUTER_MAC),
                                  P.REPLICA_TO_VTEP_DST_MAC: mac(dst_mac)}))

    def add_multicast_group(self, group_id: int, replicas: list[tuple[int, int]]) -> MulticastGroup:
        return self.insert(MulticastGroup(group_id, replicas))

    # -- composite setups used by several tests -----------------------------------------------
    def add_vm(self, *, port: int, vid: int, vap_id: int, vni: int, vm_mac: str,
               pcp: int = 0) -> None:
        """An active local VM: VAP, its source MAC, and the FDB entry toward it."""
        self.add_port_vlan_to_vni_entry(port, vid, vap_id, vni, pcp)
        self.add_vap_src_mac_entry(vap_id, vm_mac)
        self.add_fdb_local_entry(vni, vm_mac, port, vid, vap_id)

    def add_vn(self, vni: int, flood_group: int = 0, permit_all: bool = True) -> None:
        """A VN this NVE serves, with a permit-all ACL rule at the lowest priority."""
        self.add_vn_entry(vni, flood_group)
        if permit_all:
            self.add_acl_entry(1, True, vni=vni)

    def drop_count(self, reason: int) -> int:
        """Packets dropped in ingress for `reason` so far."""
        return self.client.read_counter(P.INGRESS_DROPS, reason)[0]

    def assert_counter(self, read: Callable[[], int], expected: int, what: str) -> None:
        """Poll a counter until it reaches `expected` (the switch counts asynchronously)."""
        deadline = time.monotonic() + COUNTER_WAIT
        value = read()
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            value = read()
        self.assertEqual(value, expected, f"{what}: counter is {value}, expected {expected}")

    def assert_dropped(self, reason: int, before: int, count: int = 1) -> None:
        """The ingress drop counter of `reason` rose by `count` since `before`."""
        self.assert_counter(lambda: self.drop_count(reason), before + count,
                            f"ingress drops for reason {reason}")
