"""Two controllers for the same switches: P4Runtime arbitration by election id.

Controller A (a child process, `nvectl serve`) is primary; controller B (`[controller] role =
"backup"`, in this process) shares its store and stands by. Only the primary writes: B, and any
other client that is not primary, is refused; a second client with the primary's election id is
refused. A is killed (SIGKILL) in the middle of a burst; B notices that the switches have no
primary, arbitrates above the highest election id they have seen, reloads the records A left,
converges the switches and starts serving, with every operation A acknowledged in place. When A
comes back (a higher, clock-based election id) B steps back to backup.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path

import grpc
import pytest

from controlplane.app import Controller, controller_options
from controlplane.config import load_config
from controlplane.lifecycle import Event
from controlplane.p4rt import p4names as P
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import Entry, Exact, Update, WriteOp
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeWriteError
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import FailReason, VmRequest, VnSelector
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
import rlab


def associate(n: int, hv: str, nve: str) -> VmRequest:
    return VmRequest(Event.ASSOCIATE, f"0000{n:04x}-0000-4000-8000-{n:012x}",
                     VnSelector(name="blue"), macs=(0x525400100000 + n,), nve=nve, port=1)


async def test_backup_takes_over_when_the_primary_dies(tmp_path: Path) -> None:
    switches = {name: SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                                 grpc_addr="127.0.0.1:0") for name in ("nve1", "nve2")}
    for sw in switches.values():
        await sw.start()
    addresses = {name: f"127.0.0.1:{sw.grpc_port}" for name, sw in switches.items()}
    database = tmp_path / "nve.db"
    port_a = rlab.free_port()
    config_a = rlab.render_config(tmp_path, addresses["nve1"], addresses["nve2"], port_a, database,
                                  name="a.toml")
    config_b = rlab.render_config(tmp_path, addresses["nve1"], addresses["nve2"], 0, database,
                                  controller_extra='role = "backup"', name="b.toml")
    role, rate_limit = controller_options(config_b)
    assert role == "backup"
    cfg = load_config(config_a)
    log_a = tmp_path / "a.log"
    a = rlab.controller_child(config_a, log_a).start()
    acked: dict[int, tuple[str, str, int]] = {}
    try:
        await rlab.wait_listening(port_a, a)
        address_a = f"127.0.0.1:{port_a}"
        async with NveClient(address_a, None, "hv1") as hv1, NveClient(address_a, None, "hv2") as hv2:
            for n in range(10):
                hv, nve, client = ("hv1", "nve1", hv1) if n % 2 else ("hv2", "nve2", hv2)
                answer = await client.signal(associate(n, hv, nve))
                assert answer.success, answer
                acked[n] = (hv, nve, answer.vid)

        async with Controller(load_config(config_b), insecure=True, role=role,
                              rate_limit=rate_limit) as b:
            assert b.service is not None
            agents = b.service.agents
            assert not any(agent.is_primary for agent in agents.values())
            assert b.port == 0                                   # a backup does not serve
            primary_id = agents["nve1"].client.primary_election_id
            assert primary_id is not None and primary_id > agents["nve1"].election_id

            # Only the primary writes: the backup is refused before it sends anything, another
            # client that is not primary is refused by the switch.
            before = {name: await rlab.read_switch(addr) for name, addr in addresses.items()}
            with pytest.raises(P4ConnectionError, match="backup"):
                await agents["nve1"].apply(b.service.desired("nve1"))
            async with P4RuntimeClient() as rogue:
                await rogue.connect(addresses["nve1"], device_id=1, election_id=primary_id - 1)
                assert not rogue.is_primary
                await rogue.set_pipeline(rlab.P4INFO, rlab.BMV2_JSON)   # same cookie: no push
                junk = Entry(P.VN, {P.VN_VNI: Exact(999)}, P.SET_FLOOD_GROUP,
                             {P.SET_FLOOD_GROUP_FLOOD_GROUP: 99})
                with pytest.raises(P4RuntimeWriteError, match="PERMISSION_DENIED"):
                    await rogue.write([Update(WriteOp.INSERT, junk)])
            # A second client with the primary's election id is refused.
            with pytest.raises(P4ConnectionError, match="already|Election id"):
                async with P4RuntimeClient() as twin:
                    await twin.connect(addresses["nve1"], device_id=1, election_id=primary_id)
            assert {name: await rlab.read_switch(addr) for name, addr in addresses.items()} == before

            # A dies in the middle of a burst.
            stop = asyncio.Event()
            in_flight: set[int] = set()

            async def burst(hv: str, nve: str, start: int) -> None:
                async with NveClient(address_a, None, hv, timeout=5) as client:
                    n = start
                    while not stop.is_set():
                        in_flight.add(n)
                        try:
                            answer = await client.signal(associate(n, hv, nve))
                        except grpc.aio.AioRpcError:
                            return                               # A is gone: unacknowledged
                        in_flight.discard(n)
                        assert answer.success, answer
                        acked[n] = (hv, nve, answer.vid)
                        n += 2

            tasks = [asyncio.create_task(burst("hv1", "nve1", 101)),
                     asyncio.create_task(burst("hv2", "nve2", 100))]
            while len(acked) < 40:
                await asyncio.sleep(0.005)
            killed = time.monotonic()
            a.kill9()
            stop.set()
            await asyncio.gather(*tasks)
            while b.port == 0:                                   # B takes over, then serves
                assert time.monotonic() - killed < 15, "the backup did not take over"
                await asyncio.sleep(0.02)
            serving = time.monotonic() - killed
            assert all(agent.is_primary and agent.takeovers == 1 for agent in agents.values()), [(n, x.is_primary, x.takeovers, x.connected) for n, x in agents.items()]
            assert agents["nve1"].election_id > primary_id
            records, problems = await rlab.compare_with_store(cfg, database, addresses)
            assert not problems, problems
            by_vm = {r.vm_id: r for r in records}
            for n, (hv, nve, vid) in acked.items():
                record = by_vm.get(associate(n, hv, nve).vm_id)
                assert record is not None and record.vid == vid and record.switch == nve, n
            extra = {r.vm_id for r in records} - {associate(n, "", "").vm_id for n in acked}
            assert extra <= {associate(n, "", "").vm_id for n in in_flight}
            assert set(b.service.records) == {(r.vm_id, r.hypervisor) for r in records}
            converged = time.monotonic() - killed

            async with NveClient(f"127.0.0.1:{b.port}", None, "hv1") as hv1_b:
                answer = await hv1_b.signal(associate(999, "hv1", "nve1"))
                assert answer.success, answer
                # A comes back: its clock-based election id is the highest; B steps back.
                a = rlab.controller_child(config_a, log_a).start()
                await rlab.wait_listening(port_a, a)
                returned = time.monotonic()
                while any(agent.is_primary for agent in agents.values()):
                    assert time.monotonic() - returned < 15, "the backup did not step back"
                    await asyncio.sleep(0.02)
                refused = await hv1_b.signal(associate(998, "hv1", "nve1"))
                assert refused.reason is FailReason.BUSY and "backup" in refused.detail, refused
            async with NveClient(address_a, None, "hv1") as hv1:
                again = await hv1.signal(associate(999, "hv1", "nve1"))
                assert again.success and again.state == "associated", again   # A sees B's work
            _, problems = await rlab.compare_with_store(cfg, database, addresses)
            assert not problems, problems
        print(f"\nbackup: serving {serving:.2f} s after the primary's SIGKILL, tables checked "
              f"{converged:.2f} s after; {len(acked)} acknowledged VMs all present, "
              f"{len(in_flight)} in flight")
    finally:
        a.stop()
        for sw in switches.values():
            await sw.stop()


def test_role_and_rate_limit_options(tmp_path: Path) -> None:
    config = rlab.render_config(tmp_path, "127.0.0.1:1", "127.0.0.1:2", 0, tmp_path / "x.db",
                                controller_extra='role = "backup"\nrate_limit = 50')
    role, limit = controller_options(config)
    assert role == "backup" and limit.rate == 50 and limit.burst == 100
    plain = rlab.render_config(tmp_path, "127.0.0.1:1", "127.0.0.1:2", 0, tmp_path / "x.db",
                               name="plain.toml")
    role, limit = controller_options(plain)
    assert role == "primary" and (limit.rate, limit.burst) == (200, 400)
    bad = rlab.render_config(tmp_path, "127.0.0.1:1", "127.0.0.1:2", 0, tmp_path / "x.db",
                             controller_extra='role = "leader"', name="bad.toml")
    with pytest.raises(Exception, match="role"):
        controller_options(bad)
    assert dataclasses.is_dataclass(limit)
