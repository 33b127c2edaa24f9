"""The incremental desired state: after any sequence of record and location changes it equals
the desired state built from scratch, its deltas turn the previous state into the next one,
and a change applied backwards undoes it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.config import load_config
from controlplane.intent import desired_state
from controlplane.intent.tracker import Intent
from controlplane.lifecycle import Phase, State
from controlplane.model import Location, VmRecord

CFG = load_config(Path(__file__).parent / "data" / "controller" / "two_nves.toml")
SWITCHES = [sw.name for sw in CFG.switches]
VNIS = [vn.vni for vn in CFG.vns]
PHASES = [Phase(State.ASSOCIATED), Phase(State.PRE_ASSOCIATED), Phase(State.SUSPENDED),
          Phase(State.ASSOCIATED, emigrated=True)]
REMOTE_VTEPS = [0x0A000901, 0x0A000902, 0x0A000103]


def record(vm: int, hv: int, switch: str, vni: int, phase: Phase, macs: int) -> VmRecord:
    return VmRecord(vm_id=f"00000000-0000-0000-0000-{vm:012d}", hypervisor=f"hv{hv}",
                    switch=switch, port=1 + hv % 2, vni=vni,
                    macs=tuple(0x525400000000 + vm * 16 + i for i in range(macs)), ipv4=(),
                    ipv6=(), vid=10 + vm * 2 + hv % 2, pcp=0, vap_id=1 + vm * 2 + hv % 2,
                    phase=phase, last_seen=0.0)


records_st = st.builds(record, vm=st.integers(0, 5), hv=st.integers(0, 2),
                       switch=st.sampled_from(SWITCHES), vni=st.sampled_from(VNIS),
                       phase=st.sampled_from(PHASES), macs=st.integers(1, 2))
locations_st = st.lists(st.builds(
    lambda vm, vni, vtep: Location(vni, 0x525400000000 + vm * 16, vtep, f"r{vm}", ""),
    vm=st.integers(0, 8), vni=st.sampled_from(VNIS), vtep=st.sampled_from(REMOTE_VTEPS)),
    max_size=4)
steps_st = st.lists(st.one_of(
    st.tuples(st.just("put"), records_st),
    st.tuples(st.just("drop"), st.integers(0, 5), st.integers(0, 2)),
    st.tuples(st.just("external"), locations_st)), min_size=1, max_size=25)


def one_active_copy(records: dict, new: VmRecord) -> dict:
    """As the service does it: a VM active here makes its other active copies step aside, and
    a MAC belongs to one VM."""
    changes = {(new.vm_id, new.hypervisor): new}
    for key, other in records.items():
        if other.vm_id == new.vm_id and other.hypervisor != new.hypervisor and other.active \
                and new.active:
            changes[key] = other.with_phase(Phase(State.ASSOCIATED, emigrated=True), 0.0)
    return changes


@settings(max_examples=400, deadline=None)
@given(steps_st)
def test_incremental_equals_from_scratch(steps: list[tuple]) -> None:
    intent = Intent(CFG)
    records: dict[tuple[str, str], VmRecord] = {}
    external: list[Location] = []
    states = {name: set(intent.state(name).entries | intent.state(name).groups)
              for name in SWITCHES}
    for step in steps:
        if step[0] == "external":
            external = step[1]
            deltas = intent.set_external(external)
        else:
            if step[0] == "put":
                changed = one_active_copy(records, step[1])
            else:
                key = (f"00000000-0000-0000-0000-{step[1]:012d}", f"hv{step[2]}")
                changed = {key: None} if key in records else {}
            transitions = {k: (records.get(k), v) for k, v in changed.items()}
            before = {name: intent.state(name) for name in SWITCHES}
            deltas = intent.update(transitions)
            # Backwards undoes it; forwards again redoes it.
            intent.update({k: (after, prior) for k, (prior, after) in transitions.items()})
            assert {name: intent.state(name) for name in SWITCHES} == before
            deltas = intent.update(transitions)
            for key, value in changed.items():
                if value is None:
                    records.pop(key, None)
                else:
                    records[key] = value
        for name in SWITCHES:
            delta = deltas[name]
            assert set(delta.removed) <= states[name]
            states[name] = (states[name] - set(delta.removed)) | set(delta.added)
            scratch = desired_state(CFG, CFG.switch(name), records.values(), external)
            assert intent.state(name) == scratch
            assert states[name] == set(scratch.entries | scratch.groups)
            counts = {}
            for entry in scratch.entries:
                table = entry.table.rsplit(".", 1)[-1]
                counts[table] = counts.get(table, 0) + 1
            assert {k: v for k, v in intent.counts(name).items() if v} == counts


def test_work_is_in_proportion_to_the_change() -> None:
    """Associating one more VM beside 300 others touches a handful of items."""
    intent = Intent(CFG)
    vms = [record(vm, 0, "nve1", VNIS[0], PHASES[0], 1) for vm in range(300)]
    intent.update({(r.vm_id, r.hypervisor): (None, r) for r in vms[:-1]})
    deltas = intent.update({(vms[-1].vm_id, vms[-1].hypervisor): (None, vms[-1])})
    # nve1: VAP, source MAC, FDB, replica entry; the flood group replaced.
    assert len(deltas["nve1"].added) == 5 and len(deltas["nve1"].removed) == 1
    assert not deltas["nve2"]            # nve2 has no VM in the VN: nothing there
