"""Controller kill -9 in the middle of a burst of 1,000 associate/terminate operations sent by
concurrent hypervisor agents, then restart.

The controller runs as a child process (`nvectl serve`), the two embedded switches in this
process. It is killed with SIGKILL at random points of the burst (the seed is printed; set
NVE_RELIABILITY_SEED to replay one). After each restart:

- every table of both switches is read back and must equal what the store's records want:
  nothing stale, nothing missing, nothing twice;
- every acknowledged operation is there (its VID on its port, its MAC forwarded there);
- every operation that was in flight when the controller died is fully applied or not at all.

The agents then re-send their unacknowledged operation (associate repeats are SUCCESS, a
terminate already done is "unknown VM") and finish the burst; at the end the store holds
exactly what the agents were told.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from controlplane.config import load_config, parse_mac
from controlplane.lifecycle import Event
from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Entry, Exact
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import FailReason, VmRefRequest, VmRequest, VnSelector
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
import rlab

TOTAL_OPS = 1000
RECONCILED = re.compile(r"reconciled at start: (\d+) updates")
KILLS = 2
LANES_PER_HYPERVISOR = 3
VMS_PER_LANE = 5
HYPERVISORS = {  # name: (nve, port, VNs it may join)  -- as in tests/data/reliability/burst.toml
    "hv1": ("nve1", 1, ("blue", "red")),
    "hv2": ("nve2", 1, ("blue", "red")),
    "hv3": ("nve1", 2, ("red",)),
    "hv4": ("nve2", 2, ("blue", "green")),
}


@dataclass
class Vm:
    """One VM and what its agent knows about it."""

    vm_id: str
    hypervisor: str
    nve: str
    port: int
    vn: str
    mac: str
    acked: bool = False          # associated, according to the last acknowledged operation
    vid: int = 0                 # its VID, from that acknowledgement
    pending: str | None = None   # an operation sent but not answered: "associate"/"terminate"

    def request(self, op: str) -> VmRequest | VmRefRequest:
        if op == "terminate":
            return VmRefRequest(Event.TERMINATE, self.vm_id)
        return VmRequest(Event.ASSOCIATE, self.vm_id, VnSelector(name=self.vn),
                         macs=(parse_mac(self.mac, "mac"),), nve=self.nve, port=self.port)


class Burst:
    """The agents' shared bookkeeping and the controller's lives."""

    def __init__(self, kill_points: list[int]) -> None:
        self.kill_points = set(kill_points)
        self.acked = 0               # operations acknowledged (one per operation, retries too)
        self.unacked = 0             # operations in flight when the controller died
        self.alive = asyncio.Event()
        self.alive.set()
        self.parked = 0              # lanes waiting for the controller to come back
        self.on_kill = lambda: None

    def acknowledged(self) -> None:
        self.acked += 1
        if self.acked in self.kill_points and self.alive.is_set():
            self.alive.clear()
            self.on_kill()


async def lane(burst: Burst, address: str, hypervisor: str, vms: list[Vm], ops: int,
               rng: random.Random) -> None:
    """One agent's sequence of operations on its own VMs, one at a time."""
    client = NveClient(address, None, identity=hypervisor, timeout=15)
    try:
        for _ in range(ops):
            vm = rng.choice(vms)
            op = "terminate" if vm.acked else "associate"
            retried = False
            while True:
                if not burst.alive.is_set():
                    burst.parked += 1
                    await burst.alive.wait()
                    burst.parked -= 1
                vm.pending = op
                try:
                    answer = await client.signal(vm.request(op))
                except grpc.aio.AioRpcError:
                    # The controller died with the request in flight (or before it arrived):
                    # unacknowledged. Reconnect afresh once it is back and send it again.
                    burst.unacked += 1
                    await client.__aexit__(None, None, None)
                    if burst.alive.is_set():     # not killed by us: a real failure
                        raise
                    client = NveClient(address, None, identity=hypervisor, timeout=15)
                    retried = True
                    continue
                break
            if op == "associate":
                assert answer.success, (vm, answer)
                vm.acked, vm.vid = True, answer.vid
            else:
                gone_before = (retried and answer.reason is FailReason.INVALID_REQUEST
                               and "unknown VM" in answer.detail)
                assert answer.success or gone_before, (vm, answer)
                vm.acked, vm.vid = False, 0
            vm.pending = None
            burst.acknowledged()
    finally:
        await client.__aexit__(None, None, None)


def vap_entry(found: rlab.Installed, vm: Vm) -> Entry | None:
    """The VM's port_vlan_to_vni entry with the VID it was given, if the switch has it."""
    key = ((P.PORT_VLAN_TO_VNI_PORT, Exact(vm.port)), (P.PORT_VLAN_TO_VNI_VLAN_ID, Exact(vm.vid)))
    return next((e for e in found if e.table == P.PORT_VLAN_TO_VNI  # type: ignore[union-attr]
                 and tuple(sorted(e.match)) == tuple(sorted(key))), None)  # type: ignore[union-attr]


async def check(cfg, database: Path, addresses: dict[str, str], vms: list[Vm],
                final: bool) -> dict[str, int]:
    """Tables == store, every acknowledged operation there, every pending one all-or-nothing."""
    records, problems = await rlab.compare_with_store(cfg, database, addresses)
    assert not problems, "\n".join(f"{name}: {p}" for name, p in problems.items())
    by_vm = {(r.vm_id, r.hypervisor): r for r in records}
    assert len(by_vm) == len(records)
    known = {(vm.vm_id, vm.hypervisor) for vm in vms}
    assert set(by_vm) <= known, f"records of VMs nobody asked for: {set(by_vm) - known}"
    found = {name: await rlab.read_switch(addr) for name, addr in addresses.items()}
    outcome = {"pending_applied": 0, "pending_not_applied": 0}
    for vm in vms:
        record = by_vm.get((vm.vm_id, vm.hypervisor))
        if vm.pending is None or final:
            assert vm.pending is None
            assert (record is not None) == vm.acked, (vm, record)
            if vm.acked:
                assert record.vid == vm.vid and str(record.phase) == "associated", (vm, record)
                assert vap_entry(found[vm.nve], vm) is not None, f"acknowledged {vm} not on switch"
            continue
        # In flight at the kill: before or after, never in between (the tables equal the
        # records, so the VM's entries are all there or none).
        applied = (record is not None) != vm.acked
        outcome["pending_applied" if applied else "pending_not_applied"] += 1
        if record is not None and vm.acked and not applied:
            assert record.vid == vm.vid
    return outcome


async def test_kill9_in_a_burst_of_1000_operations(tmp_path: Path) -> None:
    seed = int(os.environ.get("NVE_RELIABILITY_SEED", random.randrange(2**32)))
    print(f"\nseed {seed} (NVE_RELIABILITY_SEED={seed} replays it)")
    rng = random.Random(seed)
    span = (TOTAL_OPS - 200) // KILLS                    # one kill point in each span
    kill_points = [100 + k * span + rng.randrange(span - 50) for k in range(KILLS)]
    switches = {name: SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                                 grpc_addr="127.0.0.1:0") for name in ("nve1", "nve2")}
    for sw in switches.values():
        await sw.start()
    addresses = {name: f"127.0.0.1:{sw.grpc_port}" for name, sw in switches.items()}
    signalling = rlab.free_port()
    database = tmp_path / "nve.db"
    config = rlab.render_config(tmp_path, addresses["nve1"], addresses["nve2"], signalling,
                                database)
    cfg = load_config(config)
    log = tmp_path / "controller.log"
    controller = rlab.controller_child(config, log).start()
    burst = Burst(kill_points)

    def kill_soon() -> None:
        # A random moment after the trigger, while the requests in flight are being handled:
        # some are answered, some written but not answered, some not written at all.
        asyncio.get_running_loop().call_later(rng.uniform(0, 0.05), controller.kill9)

    burst.on_kill = kill_soon
    figures: dict[str, list[float] | int] = {"restart_s": []}
    try:
        await rlab.wait_listening(signalling, controller)
        vms: list[Vm] = []
        lanes = []
        for h, (hv, (nve, port, vns)) in enumerate(HYPERVISORS.items()):
            for n in range(LANES_PER_HYPERVISOR):
                mine = [Vm(f"{h + 1:08x}-0000-4000-8000-{n:06x}{i:06x}", hv, nve, port,
                           vns[i % len(vns)], f"52:54:{h:02x}:{n:02x}:00:{i:02x}")
                        for i in range(VMS_PER_LANE)]
                vms += mine
                lanes.append((hv, mine))
        per_lane = TOTAL_OPS // len(lanes)
        counts = [per_lane + (1 if i < TOTAL_OPS % len(lanes) else 0) for i in range(len(lanes))]
        address = f"127.0.0.1:{signalling}"
        tasks = [asyncio.create_task(lane(burst, address, hv, mine, count,
                                          random.Random(rng.random())))
                 for (hv, mine), count in zip(lanes, counts, strict=True)]
        started = time.monotonic()
        outcomes = []
        for _ in range(KILLS):
            while burst.alive.is_set():                   # until a kill point is reached
                assert not any(t.done() and t.exception() for t in tasks)
                await asyncio.sleep(0.01)
            while controller.alive:                       # the SIGKILL lands
                await asyncio.sleep(0.005)
            killed_at = burst.acked
            for _ in range(500):                           # every lane notices
                if burst.parked + sum(t.done() for t in tasks) == len(tasks):
                    break
                await asyncio.sleep(0.01)
            restart = time.monotonic()
            controller = rlab.controller_child(config, log).start()
            await rlab.wait_listening(signalling, controller)
            figures["restart_s"].append(round(time.monotonic() - restart, 2))  # type: ignore[union-attr]
            outcome = await check(cfg, database, addresses, vms, final=False)
            outcomes.append(outcome)
            # What the restart had to repair: written to a switch, not yet committed (removed).
            repaired = [int(n) for n in RECONCILED.findall(log.read_text())][-2:]
            print(f"killed after {killed_at} acknowledged operations; "
                  f"{sum(vm.pending is not None for vm in vms)} in flight: {outcome}; "
                  f"restarted and reconciled in {figures['restart_s'][-1]} s "
                  f"({sum(repaired)} updates to repair the switches)")
            burst.alive.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 240)
        elapsed = time.monotonic() - started
        assert burst.acked == TOTAL_OPS
        await check(cfg, database, addresses, vms, final=True)
        print(f"{TOTAL_OPS} operations ({burst.unacked} unacknowledged at {KILLS} kills) "
              f"in {elapsed:.1f} s; restarts {figures['restart_s']} s")
    finally:
        controller.stop()
        for sw in switches.values():
            await sw.stop()


async def test_kill9_between_switch_write_and_commit(tmp_path: Path) -> None:
    """The worst moment, made certain: the switches already hold a new VM's entries, the store
    has not committed it (another connection holds the database lock), the hypervisor has no
    answer yet. SIGKILL. The restarted controller must remove exactly those entries."""
    import sqlite3

    switches = {name: SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                                 grpc_addr="127.0.0.1:0") for name in ("nve1", "nve2")}
    for sw in switches.values():
        await sw.start()
    addresses = {name: f"127.0.0.1:{sw.grpc_port}" for name, sw in switches.items()}
    signalling = rlab.free_port()
    database = tmp_path / "nve.db"
    config = rlab.render_config(tmp_path, addresses["nve1"], addresses["nve2"], signalling,
                                database)
    cfg = load_config(config)
    log = tmp_path / "controller.log"
    controller = rlab.controller_child(config, log).start()
    try:
        await rlab.wait_listening(signalling, controller)
        address = f"127.0.0.1:{signalling}"
        acked = [Vm(f"0000000{n}-0000-4000-8000-00000000000{n}", "hv1", "nve1", 1, "blue",
                    f"52:54:00:77:00:0{n}") for n in range(1, 4)]
        async with NveClient(address, None, identity="hv1") as hv1:
            for vm in acked:
                answer = await hv1.signal(vm.request("associate"))
                assert answer.success, answer
                vm.acked, vm.vid = True, answer.vid
            before = await rlab.read_switch(addresses["nve1"])
            victim = Vm("0000000f-0000-4000-8000-00000000000f", "hv1", "nve1", 1, "red",
                        "52:54:00:77:00:0f")
            lock = sqlite3.connect(database, timeout=0, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            try:
                pending = asyncio.create_task(hv1.signal(victim.request("associate")))
                for _ in range(200):                       # the switch has the new entries
                    if await rlab.read_switch(addresses["nve1"]) != before:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the controller never wrote the switch")
                controller.kill9()
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            try:
                answer = await pending
                raise AssertionError(f"the request was answered: {answer}")
            except grpc.aio.AioRpcError:
                pass                                       # unacknowledged
        half = await rlab.read_switch(addresses["nve1"])
        assert half != before                              # the half-done state, on the switch
        controller = rlab.controller_child(config, log).start()
        await rlab.wait_listening(signalling, controller)
        repaired = sum(int(n) for n in RECONCILED.findall(log.read_text())[-2:])
        await check(cfg, database, addresses, acked, final=True)
        assert await rlab.read_switch(addresses["nve1"]) == before
        assert repaired > 0
        print(f"\nswitch written, store not: the restart removed it with {repaired} updates")
    finally:
        controller.stop()
        for sw in switches.values():
            await sw.stop()
