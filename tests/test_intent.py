"""Desired table state from VM records: what each switch must hold in each lifecycle state."""

from __future__ import annotations

from pathlib import Path

from controlplane.config import load_config
from controlplane.intent import desired_state
from controlplane.lifecycle import Phase, State
from controlplane.model import Location, VmRecord
from controlplane.p4rt import p4names as P
from controlplane.p4rt.diff import diff
from controlplane.p4rt.batcher import batches
from controlplane.p4rt.entries import Entry, Exact, MulticastGroup, WriteOp

CFG = load_config(Path(__file__).parent / "data" / "controller" / "two_nves.toml")
NVE1, NVE2 = CFG.switch("nve1"), CFG.switch("nve2")
BLUE = 5001
ASSOCIATED = Phase(State.ASSOCIATED)


def vm(n: int, switch: str = "nve1", phase: Phase = ASSOCIATED, vid: int = 10) -> VmRecord:
    return VmRecord(vm_id=f"00000000-0000-0000-0000-{n:012d}", hypervisor=f"hv{n}", switch=switch,
                    port=1, vni=BLUE, macs=(0x525400000000 + n,), ipv4=(), ipv6=(), vid=vid, pcp=5,
                    vap_id=n, phase=phase, last_seen=0.0)


def locations(records: list[VmRecord]) -> list[Location]:
    vtep = {"nve1": NVE1.vtep_ip, "nve2": NVE2.vtep_ip}
    return [Location(r.vni, m, vtep[r.switch], r.vm_id, r.switch)
            for r in records if r.active for m in r.macs]


def state_of(switch, records):
    return desired_state(CFG, switch, records, locations(records))


def tables(entries) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.table, []).append(e)
    return out


def test_empty_switch_has_only_its_base() -> None:
    state = state_of(NVE1, [])
    t = tables(state.entries)
    assert sorted(t) == sorted([P.PORT_ROLE, P.PUNT, P.LOCAL_VTEP, P.UNDERLAY_ROUTE, P.PCP_TO_DSCP,
                                P.DSCP_TO_PCP])
    assert {e.match[0][1] for e in t[P.PUNT]} == {Exact(0x88CC), Exact(0x8940)}
    assert len(t[P.UNDERLAY_ROUTE]) == 2 and len(t[P.PCP_TO_DSCP]) == 8
    roles = {dict(e.match)[P.PORT_ROLE_PORT].value: e.action for e in t[P.PORT_ROLE]}
    assert roles == {1: P.ACCESS_PORT, 2: P.ACCESS_PORT, 3: P.ACCESS_PORT, 4: P.NETWORK_PORT}
    assert state.groups == frozenset()


def test_active_vm() -> None:
    a = vm(1)
    t = tables(state_of(NVE1, [a]).entries)
    (vap,) = t[P.PORT_VLAN_TO_VNI]
    assert vap.action == P.SET_VAP and dict(vap.params)[P.SET_VAP_PCP] == 5
    assert len(t[P.VAP_SRC_MAC]) == 1
    (local,) = [e for e in t[P.FDB] if e.action == P.FORWARD_LOCAL]
    assert dict(local.params) == {P.FORWARD_LOCAL_PORT: 1, P.FORWARD_LOCAL_VID: 10,
                                  P.FORWARD_LOCAL_VAP_ID: 1}
    # The static host of blue behind 10.0.3.1 is known once blue is in use here.
    (static,) = [e for e in t[P.FDB] if e.action == P.FORWARD_REMOTE]
    assert dict(static.params) == {P.FORWARD_REMOTE_VTEP_IP: 0x0A000301}
    assert len(t[P.ACL]) == 2            # default permit + deny ssh
    (replica,) = [e for e in t[P.FLOOD_REPLICA] if e.action == P.REPLICA_TO_VAP]
    assert dict(replica.params) == {P.REPLICA_TO_VAP_VID: 10, P.REPLICA_TO_VAP_VAP_ID: 1}


def test_inactive_phases_keep_only_the_vap() -> None:
    for phase in (Phase(State.PRE_ASSOCIATED), Phase(State.SUSPENDED),
                  Phase(State.ASSOCIATED, emigrated=True)):
        t = tables(state_of(NVE1, [vm(1, phase=phase)]).entries)
        (vap,) = t[P.PORT_VLAN_TO_VNI]
        assert vap.action == P.SET_VAP_INACTIVE, phase
        assert P.VAP_SRC_MAC not in t
        assert all(e.action == P.FORWARD_REMOTE for e in t.get(P.FDB, []))
        assert P.VN in t                 # the VN stays: its resources are reserved


def test_remote_vms_and_head_end_replication() -> None:
    a, b = vm(1), vm(2, switch="nve2", vid=20)
    state = state_of(NVE1, [a, b])
    t = tables(state.entries)
    remote = {dict(e.match)[P.FDB_ETH_DST]: dict(e.params) for e in t[P.FDB]
              if e.action == P.FORWARD_REMOTE}
    assert remote[Exact(b.macs[0])] == {P.FORWARD_REMOTE_VTEP_IP: NVE2.vtep_ip}
    assert Exact(0x525400000901) in remote            # the static host
    (group,) = state.groups
    ports = sorted(port for port, _ in group.replicas)
    assert ports == [1, 4, 4]                          # VM a, VTEP nve2, VTEP 10.0.3.1
    vteps = {dict(e.params)[P.REPLICA_TO_VTEP_VTEP_IP] for e in t[P.FLOOD_REPLICA]
             if e.action == P.REPLICA_TO_VTEP}
    assert vteps == {NVE2.vtep_ip, 0x0A000301}


def test_migration_moves_the_fdb_entry() -> None:
    before = [vm(1), vm(2, switch="nve2", vid=20)]
    old = vm(1, phase=Phase(State.ASSOCIATED, emigrated=True))
    new = VmRecord(**{**{f: getattr(vm(1), f) for f in VmRecord.__slots__},
                      "hypervisor": "hv9", "switch": "nve2", "vid": 21, "vap_id": 9})
    after = [old, vm(2, switch="nve2", vid=20), new]
    changes = diff(state_of(NVE1, after).entries, state_of(NVE1, before).entries)
    kinds = {(u.op, u.entity.table, u.entity.action) for u in
             changes.deletes + changes.modifies + changes.inserts}
    assert (WriteOp.MODIFY, P.FDB, P.FORWARD_REMOTE) in kinds           # now behind nve2
    assert (WriteOp.MODIFY, P.PORT_VLAN_TO_VNI, P.SET_VAP_INACTIVE) in kinds
    assert (WriteOp.DELETE, P.VAP_SRC_MAC, P.ALLOW_SOURCE) in kinds


def test_no_change_no_update() -> None:
    records = [vm(1), vm(2, switch="nve2")]
    state = state_of(NVE1, records)
    assert len(diff(state.entries | state.groups, state.entries | state.groups)) == 0


def test_one_batch_in_tier_order() -> None:
    """One Write per change; inside it deletes (FDB first), modifies, inserts (VN first)."""
    empty = state_of(NVE1, [])
    full = state_of(NVE1, [vm(1), vm(2, switch="nve2")])
    (up,) = batches(diff(full.entries | full.groups, empty.entries | empty.groups))
    assert all(u.op is WriteOp.INSERT for u in up)
    position = {(u.entity.table if isinstance(u.entity, Entry) else "group"): i
                for i, u in enumerate(up)}
    assert max(position[P.VN], position["group"]) < position[P.PORT_VLAN_TO_VNI] \
        < position[P.FDB]
    (down,) = batches(diff(empty.entries | empty.groups, full.entries | full.groups))
    assert all(u.op is WriteOp.DELETE for u in down)
    assert down[0].entity.table == P.FDB
    assert any(isinstance(u.entity, MulticastGroup) for u in down)
    # A switch-over: modifies after deletes, before inserts.
    moved = state_of(NVE1, [vm(1, phase=Phase(State.ASSOCIATED, emigrated=True)),
                            vm(2, switch="nve2")])
    (over,) = batches(diff(moved.entries | moved.groups, full.entries | full.groups))
    ops = [u.op for u in over]
    assert ops == sorted(ops, key=[WriteOp.DELETE, WriteOp.MODIFY, WriteOp.INSERT].index)


def test_large_changes_are_split() -> None:
    many = state_of(NVE1, [vm(n, vid=10 + n) for n in range(1, 3000)])
    writes = batches(diff(many.entries | many.groups, ()))
    assert [len(b) for b in writes][:-1] == [8192] * (len(writes) - 1) and len(writes) > 1