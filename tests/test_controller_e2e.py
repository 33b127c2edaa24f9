"""The controller end to end on two embedded switches: Figure 5 with real RPCs and real packets."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from controlplane.lifecycle import Event
from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Update, WriteOp
from controlplane.signalling.messages import (FailReason, NotificationKind, VmRefRequest,
                                              VmRequest, VnSelector, parse_mac)
from controller_lab import lab, vm_frame

VM_A = "11111111-1111-1111-1111-111111111111"
VM_B = "22222222-2222-2222-2222-222222222222"
VM_C = "33333333-3333-3333-3333-333333333333"
MAC_A, MAC_B, MAC_C = "52:54:00:00:00:0a", "52:54:00:00:00:0b", "52:54:00:00:00:0c"


ATTACHMENT = {"hv1": ("nve1", 1), "hv2": ("nve2", 1), "hv3": ("nve1", 2), "stranger": ("nve1", 3)}


def vm_request(event: Event, vm_id: str, mac: str, vn: str = "blue", hv: str = "hv1",
               **kw) -> VmRequest:
    nve, port = ATTACHMENT[hv]
    return VmRequest(event, vm_id, VnSelector(name=vn), macs=(parse_mac(mac),), nve=nve,
                     port=port, **kw)


def ref(event: Event, vm_id: str) -> VmRefRequest:
    return VmRefRequest(event, vm_id)


def writes(lab_) -> int:
    return sum(a.stats.updates for a in lab_.service.agents.values())


async def test_lifecycle_with_packets(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            pre = await hv1.signal(vm_request(Event.PRE_ASSOCIATE, VM_A, MAC_A))
            assert pre.success and 2 <= pre.vid <= 4094 and pre.state == "pre-associated"
            b = await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_B, vm_class="gold", hv="hv2"))
            assert b.success and b.pcp == 5

            frame = vm_frame(MAC_A, MAC_B, pre.vid)
            assert await net.send("nve1", 1, frame) == {}            # pre-associated: dropped

            a = await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))
            assert a.success and a.vid == pre.vid and a.state == "associated"
            out = await net.send("nve1", 1, frame)
            (vxlan,) = out[("nve1", 4)]
            assert Ether(vxlan)[VXLAN].vni == 5001                  # across the overlay
            (delivered,) = out[("nve2", 1)]
            assert Ether(delivered)[Dot1Q].vlan == b.vid            # B's VID on B's port
            assert Ether(delivered)[Dot1Q].prio == 0                # A's network PCP (blue default)

            back = await net.send("nve2", 1, vm_frame(MAC_B, MAC_A, b.vid, pcp=1))
            (to_a,) = back[("nve1", 1)]
            assert Ether(to_a)[Dot1Q].vlan == a.vid and Ether(to_a)[Dot1Q].prio == 5

            assert (await hv1.signal(ref(Event.SUSPEND, VM_A))).state == "suspended"
            assert await net.send("nve1", 1, frame) == {}
            assert (await hv1.signal(ref(Event.RESUME, VM_A))).state == "associated"
            assert ("nve2", 1) in await net.send("nve1", 1, frame)

            assert (await hv1.signal(ref(Event.EMIGRATE, VM_A))).state == "associated (emigrated)"
            assert await net.send("nve1", 1, frame) == {}
            back = await hv1.signal(vm_request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A))
            assert back.state == "associated"                       # failed migration: back here
            assert ("nve2", 1) in await net.send("nve1", 1, frame)

            assert (await hv1.signal(ref(Event.TERMINATE, VM_A))).state == "terminated"
            assert await net.send("nve1", 1, frame) == {}
            left = await net.service.read_tables("nve1", P.PORT_VLAN_TO_VNI)
            assert left.rows == ()                                   # nothing of A remains
            nve2_fdb = await net.service.read_tables("nve2", P.FDB)
            assert MAC_A.replace(":", "") not in " ".join(r.match for r in nve2_fdb.rows)


async def test_illegal_transitions_and_repeats(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1:
            unknown = await hv1.signal(ref(Event.SUSPEND, VM_A))
            assert unknown.reason is FailReason.INVALID_REQUEST and "unknown VM" in unknown.detail
            await hv1.signal(vm_request(Event.PRE_ASSOCIATE, VM_A, MAC_A))
            for event in (Event.RESUME, Event.SUSPEND, Event.EMIGRATE):
                answer = await hv1.signal(ref(event, VM_A))
                assert answer.reason is FailReason.INVALID_REQUEST
                assert event.value in answer.detail and "pre-associated" in answer.detail
            assert (await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))).success
            before = writes(net)
            again = await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))
            assert again.success and writes(net) == before           # a repeat writes nothing
            assert (await hv1.signal(ref(Event.KEEPALIVE, VM_A))).success
            assert writes(net) == before


async def test_every_fail_reason(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv3") as hv3, \
                net.client("stranger") as stranger, net.client("hv2") as hv2:
            no_vn = await hv3.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C, vn="blue", hv="hv3"))
            assert no_vn.reason is FailReason.FAILED_AUTHORIZATION and "blue" in no_vn.detail
            who = await stranger.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C, hv="stranger"))
            assert who.reason is FailReason.FAILED_AUTHORIZATION and "stranger" in who.detail

            assert (await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))).success
            theirs = await hv2.signal(ref(Event.SUSPEND, VM_A))
            assert theirs.reason is FailReason.FAILED_AUTHORIZATION and "hv1" in theirs.detail
            stolen = await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_A, hv="hv2"))
            assert stolen.reason is FailReason.CONFLICT_POLICIES and MAC_A in stolen.detail
            taken_vid = (await net.service.list_vms())[0].vid
            vid_clash = await hv1.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C,
                                                    requested_vid=taken_vid))
            assert vid_clash.reason is FailReason.CONFLICT_POLICIES and "VID" in vid_clash.detail
            bad_class = await hv1.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C, vm_class="platinum"))
            assert bad_class.reason is FailReason.CONFLICT_POLICIES

            before = writes(net)
            tables_before = await net.service.read_tables("nve1", None)
            net.service.capacities["vap_src_mac"] = 1                # the table is now full
            full = await hv1.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C))
            assert full.reason is FailReason.NON_SUFFICIENT_RESOURCES and "vap_src_mac" in full.detail
            assert writes(net) == before                              # refused before writing
            assert (await net.service.read_tables("nve1", None)).rows == tables_before.rows

            net.service.capacities["vap_src_mac"] = 16384
            first, second = await asyncio.gather(
                hv1.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C)),
                hv1.signal(vm_request(Event.ASSOCIATE, VM_C, MAC_C)))
            reasons = sorted(str(x.reason) for x in (first, second))
            assert reasons == ["FailReason.BUSY", "None"], (first, second)


async def test_failed_write_rolls_back(tmp_path: Path) -> None:
    """A switch refusing a write leaves both switches as they were and answers FAIL."""
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            assert (await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_B, hv="hv2"))).success
            nve1_before = await net.service.read_tables("nve1", None)
            nve2_before = await net.service.read_tables("nve2", None)
            # The switch's own table is smaller than the P4Info says (as on a real ASIC after
            # fragmentation): the controller's check passes, the switch's write fails.
            agent = net.service.agents["nve2"]
            table = net.switches["nve2"].datapath.switch.table(P.FDB)
            original = table.info
            import dataclasses
            table.info = dataclasses.replace(original, size=len(table))
            try:
                answer = await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))
            finally:
                table.info = original
            assert answer.reason is FailReason.NON_SUFFICIENT_RESOURCES, answer
            assert (await net.service.read_tables("nve1", None)).rows == nve1_before.rows
            assert (await net.service.read_tables("nve2", None)).rows == nve2_before.rows
            assert [v.vm_id for v in await net.service.list_vms()] == [VM_B]
            assert agent.installed  # the agent re-read what is really there


async def test_notifications_vid_change_and_aging(tmp_path: Path) -> None:
    async with lab(tmp_path, aging_time=0.6) as net, net.running_controller():
        async with net.client("hv1") as hv1:
            received: list = []

            async def listen() -> None:
                async for note in hv1.notifications():
                    received.append(note)

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.1)
            a = await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))
            changed = await net.service.set_vid(VM_A, 0 if a.vid != 2 else 3)
            assert changed.success and changed.vid != a.vid
            frame = vm_frame(MAC_A, "ff:ff:ff:ff:ff:ff", changed.vid)
            for _ in range(3):                                       # keep-alives hold it
                await asyncio.sleep(0.3)
                assert (await hv1.signal(ref(Event.KEEPALIVE, VM_A))).success
            await asyncio.sleep(1.2)                                  # silence ages it out
            assert await net.service.list_vms() == []
            assert await net.send("nve1", 1, frame) == {}
            listener.cancel()
            kinds = [n.kind for n in received]
            assert kinds[:2] == [NotificationKind.VID_CHANGED, NotificationKind.AGED_OUT], received
            assert received[0].old_vid == a.vid and received[0].new_vid == changed.vid


async def test_restart_reconciles(tmp_path: Path) -> None:
    async with lab(tmp_path) as net:
        async with net.running_controller():
            async with net.client("hv1") as hv1, net.client("hv2") as hv2:
                assert (await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))).success
                assert (await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_B, hv="hv2"))).success
            installed = set(net.service.agents["nve1"].installed)
        async with net.running_controller():                      # nothing changed: no writes
            assert writes(net) == 0
            assert net.service.agents["nve1"].installed == installed
            agent = net.service.agents["nve1"]
            pushes = agent.pipeline_pushes
            victim = next(e for e in installed if getattr(e, "table", "") == P.VAP_SRC_MAC)
        # Behind the controller's back: an entry disappears.
        from controlplane.p4rt.client import P4RuntimeClient
        async with P4RuntimeClient() as rogue:
            await rogue.connect(net.cfg.switch("nve1").grpc_addr, device_id=1,
                                election_id=int(time.time() * 1000))
            await rogue.set_pipeline(agent.p4info, agent.bmv2_json)
            await rogue.write([Update(WriteOp.DELETE, victim)])
        async with net.running_controller():
            assert writes(net) == 1                                  # exactly the missing one
            assert victim in net.service.agents["nve1"].installed
            assert net.service.agents["nve1"].pipeline_pushes == pushes == 0


async def test_switch_restart_is_restored(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            a = await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))
            b = await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_B, hv="hv2"))
            frame = vm_frame(MAC_A, MAC_B, a.vid)
            assert ("nve2", 1) in await net.send("nve1", 1, frame)
            agent = net.service.agents["nve2"]
            pushes = agent.pipeline_pushes
            old = net.switches["nve2"]
            port = old.grpc_port
            await old.stop()
            from softswitch.ports import MemoryPorts
            from softswitch.server.runtime import SoftSwitch
            fresh = SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                               grpc_addr=f"127.0.0.1:{port}")
            await fresh.start()
            net.switches["nve2"] = fresh
            for _ in range(100):                                     # the watcher notices
                await asyncio.sleep(0.1)
                if agent.connected and agent.pipeline_pushes > pushes:
                    break
            assert agent.pipeline_pushes == pushes + 1
            out = await net.send("nve1", 1, frame)
            assert Ether(out[("nve2", 1)][0])[Dot1Q].vlan == b.vid


async def test_operator_migration(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            assert (await hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A))).success
            b = await hv2.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_B, hv="hv2"))
            told = net.service.notifications("hv1")
            first_note = asyncio.ensure_future(anext(told))
            await asyncio.sleep(0)
            moved = await net.service.migrate(VM_A, "nve2", 0)
            assert moved.success, moved
            note = await asyncio.wait_for(first_note, 2)
            assert note.kind is NotificationKind.DISPLACED and note.new_nve == "nve2"
            await told.aclose()
            (record,) = [v for v in await net.service.list_vms() if v.vm_id == VM_A]
            assert record.nve == "nve2" and record.state == "associated"
            # A now lives on nve2 port 1 beside B: local switching there, nothing on nve1.
            out = await net.send("nve2", 1, vm_frame(MAC_A, MAC_B, moved.vid))
            assert Ether(out[("nve2", 1)][0])[Dot1Q].vlan == b.vid
            assert ("nve1", 4) not in out
            assert (await net.service.read_tables("nve1", P.PORT_VLAN_TO_VNI)).rows == ()


async def test_concurrent_requests_commit_as_a_group(tmp_path: Path) -> None:
    """Requests that wait together are written together (fewer Writes than requests), each
    planned after the ones before it: a MAC two of them claim goes to the first, and every
    answer is the one a request alone would get."""
    vms = [f"44444444-0000-0000-0000-{n:012d}" for n in range(12)]
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1:
            nve1 = net.service.agents["nve1"]
            batches_before = nve1.stats.batches
            answers = await asyncio.gather(*(
                hv1.signal(vm_request(Event.ASSOCIATE, vm, f"52:54:00:00:01:{n:02x}"))
                for n, vm in enumerate(vms)))
            assert all(a.success for a in answers), answers
            assert len({a.vid for a in answers}) == len(vms)         # no VID handed out twice
            assert nve1.stats.batches - batches_before < len(vms)
            for n, answer in enumerate(answers):                    # every VM forwards
                out = await net.send("nve1", 1, vm_frame(f"52:54:00:00:01:{n:02x}",
                                                         "ff:ff:ff:ff:ff:ff", answer.vid))
                assert ("nve1", 4) in out

            clash = await asyncio.gather(
                hv1.signal(vm_request(Event.ASSOCIATE, VM_A, MAC_A)),
                hv1.signal(vm_request(Event.ASSOCIATE, VM_B, MAC_A)))
            assert [a.success for a in clash] == [True, False]
            assert clash[1].reason is FailReason.CONFLICT_POLICIES and VM_A in clash[1].detail
            state = net.service.desired("nve1")
            assert state == net.service.desired("nve1", net.service.records)


async def test_a_refused_group_is_retried_one_at_a_time(tmp_path: Path, caplog) -> None:
    """Room for two more source MACs, four concurrent associations: the group does not fit, so
    each is tried alone - two get in, two are refused with the table named, nothing is
    half-done."""
    vms = [f"55555555-0000-0000-0000-{n:012d}" for n in range(4)]
    caplog.set_level("INFO", logger="controlplane.service")
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1:
            net.service.capacities["vap_src_mac"] = 2
            answers = await asyncio.gather(*(
                hv1.signal(vm_request(Event.ASSOCIATE, vm, f"52:54:00:00:02:{n:02x}"))
                for n, vm in enumerate(vms)))
            admitted = {vm for vm, a in zip(vms, answers) if a.success}
            refused = [a for a in answers if not a.success]
            assert len(admitted) == 2 and len(refused) == 2, answers
            assert all(a.reason is FailReason.NON_SUFFICIENT_RESOURCES
                       and "vap_src_mac" in a.detail for a in refused)
            assert {r.vm_id for r in net.service.records.values()} == admitted
            assert "requests was refused (table vap_src_mac" in caplog.text
            nve1 = net.service.agents["nve1"]
            wanted = net.service.desired("nve1")
            assert nve1.installed == set(wanted.entries | wanted.groups)
            assert wanted == net.service.desired("nve1", net.service.records)
