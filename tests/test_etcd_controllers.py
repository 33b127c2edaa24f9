"""Two controller processes, one per NVE, sharing VM locations through a real etcd: remote
reachability, migration, conflicting immigrations, a controller that dies and comes back, and
etcd going away altogether."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from controller_lab import vm_frame
from scapy.layers.l2 import Dot1Q, Ether

from controlplane.lifecycle import Event
from controlplane.signalling.messages import (
    Answer,
    FailReason,
    Notification,
    NotificationKind,
    VmRefRequest,
)

sys.path.insert(0, str(Path(__file__).parent / "data" / "etcd"))
from etcdlab import (  # noqa: E402
    BROADCAST,
    LEASE_TTL,
    MAC_A,
    MAC_B,
    MAC_C,
    MAC_D,
    VM_A,
    VM_B,
    VM_C,
    VM_D,
    EtcdCluster,
    Fabric,
    Lab,
    collect,
    delivered,
    eventually,
    owner,
    request,
    requires_etcd,
    states,
)

pytestmark = requires_etcd


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    etcd = EtcdCluster(tmp_path / "etcd")
    fabric = Fabric()
    await asyncio.gather(etcd.start(), fabric.start())
    net = Lab(tmp_path, etcd, fabric)
    try:
        await net.start()
        yield net
    finally:
        print(net.logs(), file=sys.stderr)      # shown when the test fails
        await net.stop()
        await fabric.stop()
        await etcd.stop()


async def test_remote_reachability_and_migration(lab: Lab) -> None:
    ctl1, ctl2 = lab.controllers["ctl1"], lab.controllers["ctl2"]
    async with ctl1.client("hv1") as hv1, ctl1.client("hv3") as hv3, \
            ctl2.client("hv2") as hv2, ctl2.client("hv4") as hv4:
        a = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A, "hv1"))
        b = await hv2.signal(request(Event.ASSOCIATE, VM_B, MAC_B, "hv2"))
        assert a.success and b.success, (a, b)

        # A on NVE1 reaches B on NVE2 across the overlay and back: each controller installed
        # the other's VM from etcd.
        (to_b,) = await delivered(lab, "nve1", 1, vm_frame(MAC_A, MAC_B, a.vid), ("nve2", 1))
        assert Ether(to_b)[Dot1Q].vlan == b.vid
        (to_a,) = await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_A, b.vid), ("nve1", 1))
        assert Ether(to_a)[Dot1Q].vlan == a.vid
        # BUM: NVE2's replication list for blue holds NVE1's VTEP.
        out = await lab.fabric.send("nve2", 1, vm_frame(MAC_B, BROADCAST, b.vid))
        assert ("nve1", 1) in out and ("nve2", 4) in out
        assert (await owner(lab, VM_A))["controller"] == "ctl1"
        # A's MAC is bound to A, wherever it is.
        clash = await hv2.signal(request(Event.ASSOCIATE, VM_D, MAC_A, "hv2"))
        assert clash.reason is FailReason.CONFLICT_POLICIES and "nve1" in clash.detail, clash

        # Migration to NVE2 (hv4, port 2): Immigration(Pre-Asso), Immigration(Asso) there; the
        # source controller learns it from etcd, emigrates its copy and tells hv1.
        told: list[Notification] = []
        listener = collect(hv1, told)
        await asyncio.sleep(0.2)
        pre = await hv4.signal(request(Event.IMMIGRATE_PRE_ASSOCIATE, VM_A, MAC_A, "hv4"))
        assert pre.success, pre
        moved = await hv4.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, "hv4"))
        assert moved.success, moved
        await eventually(lambda: told, what="DISPLACED at the source")
        listener.cancel()
        assert told[0].kind is NotificationKind.DISPLACED and told[0].new_nve == "nve2"
        assert await states(lab, VM_A) == {"ctl1": "associated (emigrated)", "ctl2": "associated"}
        assert (await owner(lab, VM_A))["controller"] == "ctl2"
        assert (await hv1.signal(VmRefRequest(Event.TERMINATE, VM_A))).success
        assert (await owner(lab, VM_A))["controller"] == "ctl2"   # the source did not delete it

        # B reaches A locally on NVE2 now; nothing goes to NVE1.
        out = await lab.fabric.send("nve2", 1, vm_frame(MAC_B, MAC_A, b.vid))
        assert Ether(out[("nve2", 2)][0])[Dot1Q].vlan == moved.vid and ("nve2", 4) not in out
        # A VM on NVE1 reaches A at its new place.
        c = await hv3.signal(request(Event.ASSOCIATE, VM_C, MAC_C, "hv3"))
        assert c.success
        (to_a,) = await delivered(lab, "nve1", 2, vm_frame(MAC_C, MAC_A, c.vid), ("nve2", 2))
        assert Ether(to_a)[Dot1Q].vlan == moved.vid


async def test_conflicting_immigrations_resolve_to_one_owner(lab: Lab) -> None:
    ctl1, ctl2 = lab.controllers["ctl1"], lab.controllers["ctl2"]
    async with ctl1.client("hv1") as hv1, ctl1.client("hv3") as hv3, ctl2.client("hv2") as hv2:
        told1: list[Notification] = []
        told2: list[Notification] = []
        listeners = [collect(hv1, told1), collect(hv2, told2)]
        await asyncio.sleep(0.2)

        # One after the other: the later Immigration(Asso) wins.
        first = await hv1.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, "hv1"))
        second = await hv2.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, "hv2"))
        assert first.success and second.success
        await eventually(lambda: any(n.vm_id == VM_A for n in told1), what="hv1 displaced")
        assert await states(lab, VM_A) == {"ctl1": "associated (emigrated)", "ctl2": "associated"}

        # At the same time, for three VMs: each ends with exactly one owner, the one etcd
        # ordered last, and the other hypervisor is told.
        vm_e = "eeeeeeee-0000-0000-0000-00000000000e"
        vms = {VM_B: MAC_B, VM_D: MAC_D, vm_e: "52:54:00:00:00:0e"}
        for vm_id, mac in vms.items():
            answers = await asyncio.gather(
                hv1.signal(request(Event.IMMIGRATE_ASSOCIATE, vm_id, mac, "hv1")),
                hv2.signal(request(Event.IMMIGRATE_ASSOCIATE, vm_id, mac, "hv2")))
            assert all(x.success for x in answers), answers
        for vm_id, mac in vms.items():
            winner = (await owner(lab, vm_id))["controller"]
            loser, loser_told = ("ctl2", told2) if winner == "ctl1" else ("ctl1", told1)
            await eventually(lambda vm_id=vm_id, told=loser_told: any(n.vm_id == vm_id
                                                                      for n in told),
                             what=f"the loser of {vm_id} to be told")
            assert await states(lab, vm_id) == {winner: "associated",
                                                loser: "associated (emigrated)"}
        for listener in listeners:
            listener.cancel()
        assert all(n.kind is NotificationKind.DISPLACED for n in told1 + told2)
        # The VM is reachable at its owner only: from C on NVE1, frames to A go to NVE2.
        c = await hv3.signal(request(Event.ASSOCIATE, VM_C, MAC_C, "hv3"))
        (to_a,) = await delivered(lab, "nve1", 2, vm_frame(MAC_C, MAC_A, c.vid), ("nve2", 1))
        assert Ether(to_a)[Dot1Q].vlan == second.vid
        out = await lab.fabric.send("nve1", 2, vm_frame(MAC_C, MAC_A, c.vid))
        assert ("nve1", 1) not in out


async def a_on_nve1_b_on_nve2(lab: Lab) -> tuple[Answer, Answer]:
    """A associated at hv1 (ctl1), B at hv2 (ctl2), each reachable from the other's NVE."""
    async with lab.controllers["ctl1"].client("hv1") as hv1, \
            lab.controllers["ctl2"].client("hv2") as hv2:
        a = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A, "hv1"))
        b = await hv2.signal(request(Event.ASSOCIATE, VM_B, MAC_B, "hv2"))
    await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_A, b.vid), ("nve1", 1))
    await delivered(lab, "nve1", 1, vm_frame(MAC_A, MAC_B, a.vid), ("nve2", 1))
    return a, b


async def test_dead_controller_ages_out_remotely_and_returns(lab: Lab) -> None:
    ctl1, ctl2 = lab.controllers["ctl1"], lab.controllers["ctl2"]
    a, b = await a_on_nve1_b_on_nve2(lab)
    await ctl1.kill()
    killed = time.monotonic()

    async def nve2_forgot_a() -> bool:
        async with ctl2.client("admin") as admin:
            fdb = await admin.read_tables("nve2", "fdb")
        return not any(MAC_A.replace(":", "") in row.match for row in fdb.rows)
    assert not await nve2_forgot_a()                       # the lease still holds
    await eventually(nve2_forgot_a, LEASE_TTL + 5, "NVE2 to drop A's remote entry")
    assert time.monotonic() - killed >= LEASE_TTL / 2
    out = await lab.fabric.send("nve2", 1, vm_frame(MAC_B, MAC_A, b.vid))
    assert ("nve2", 4) not in out                          # NVE1 left the replication list too
    assert await owner(lab, VM_A) == {}

    ctl1.start()                                           # back, from its own SQLite
    await ctl1.ready()
    (to_a,) = await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_A, b.vid), ("nve1", 1))
    assert Ether(to_a)[Dot1Q].vlan == a.vid
    assert (await owner(lab, VM_A))["controller"] == "ctl1"


async def test_restart_with_nothing_changed_writes_nothing(lab: Lab) -> None:
    """The restarted controller knows the other controller's VMs (listed from etcd) before it
    reconciles its switch: the remote entries it finds there stay, nothing is written."""
    ctl1 = lab.controllers["ctl1"]
    a, b = await a_on_nve1_b_on_nve2(lab)
    await ctl1.stop()
    offset = len(ctl1.tail(10**9))
    ctl1.start()
    await ctl1.ready()
    assert "switch=nve1 reconciled at start: 0 updates" in ctl1.tail(10**9)[offset:]
    (to_b,) = await delivered(lab, "nve1", 1, vm_frame(MAC_A, MAC_B, a.vid), ("nve2", 1))
    assert Ether(to_b)[Dot1Q].vlan == b.vid


async def test_etcd_down_busy_then_full_recovery(lab: Lab) -> None:
    ctl1, ctl2 = lab.controllers["ctl1"], lab.controllers["ctl2"]
    async with ctl1.client("hv1") as hv1, ctl1.client("hv3") as hv3, ctl2.client("hv2") as hv2:
        a = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A, "hv1"))
        assert (await hv3.signal(request(Event.ASSOCIATE, VM_D, MAC_D, "hv3"))).success
        b = await hv2.signal(request(Event.ASSOCIATE, VM_B, MAC_B, "hv2"))
        await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_D, b.vid), ("nve1", 2))

        await lab.etcd.stop()                              # etcd is gone altogether
        started = time.monotonic()
        busy = await hv1.signal(request(Event.ASSOCIATE, VM_C, MAC_C, "hv1"))
        assert busy.reason is FailReason.BUSY, busy
        assert "etcd" in busy.detail and "unavailable" in busy.detail and "retry" in busy.detail
        assert time.monotonic() - started < 8
        assert await states(lab, VM_C) == {}                # refused: nothing was changed
        # Withdrawing is served from the local view; the data plane keeps forwarding.
        assert (await hv3.signal(VmRefRequest(Event.TERMINATE, VM_D))).success
        (to_a,) = await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_A, b.vid), ("nve1", 1))
        assert Ether(to_a)[Dot1Q].vlan == a.vid

        await lab.etcd.start()                             # back, same data directory
        async def associated() -> bool:
            answer = await hv1.signal(request(Event.ASSOCIATE, VM_C, MAC_C, "hv1"))
            assert answer.success or answer.reason is FailReason.BUSY, answer
            return answer.success
        await eventually(associated, 20, "claims to work again")
        c_vid = next(v.vid for v in await _vms(lab, "ctl1") if v.vm_id == VM_C)
        (to_c,) = await delivered(lab, "nve2", 1, vm_frame(MAC_B, MAC_C, b.vid), ("nve1", 1))
        assert Ether(to_c)[Dot1Q].vlan == c_vid
        # The termination made during the outage reached etcd and NVE2.
        await eventually(lambda: _gone(lab, VM_D), 10, "D's key to be deleted")

        async def nve2_forgot_d() -> bool:
            async with ctl2.client("admin") as admin:
                fdb = await admin.read_tables("nve2", "fdb")
            return not any(MAC_D.replace(":", "") in row.match for row in fdb.rows)
        await eventually(nve2_forgot_d, 10, "NVE2 to drop D")
        assert (await owner(lab, VM_A))["controller"] == "ctl1"
        assert (await owner(lab, VM_B))["controller"] == "ctl2"


async def _vms(net: Lab, name: str) -> list:
    async with net.controllers[name].client("admin") as admin:
        return await admin.list_vms()


async def _gone(net: Lab, vm_id: str) -> bool:
    return await owner(net, vm_id) == {}
