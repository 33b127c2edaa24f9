"""A three-member etcd cluster loses its leader (the member both controllers talk to): the
controllers fail over to the other members and everything keeps working."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from controller_lab import vm_frame
from scapy.layers.l2 import Dot1Q, Ether

from controlplane.lifecycle import Event
from controlplane.signalling.messages import VmRefRequest

sys.path.insert(0, str(Path(__file__).parent / "data" / "etcd"))
from etcdlab import (  # noqa: E402
    LEASE_TTL,
    MAC_A,
    MAC_B,
    MAC_C,
    VM_A,
    VM_B,
    VM_C,
    EtcdCluster,
    Fabric,
    Lab,
    delivered,
    eventually,
    owner,
    request,
    requires_etcd,
    states,
)

pytestmark = requires_etcd


async def test_losing_the_leader_member_keeps_everything_working(tmp_path: Path) -> None:
    etcd = EtcdCluster(tmp_path / "etcd", size=3)
    fabric = Fabric()
    await asyncio.gather(etcd.start(), fabric.start())
    leader = await etcd.leader()
    # Both controllers list the leader first: they talk to it until it dies.
    endpoints = [leader.endpoint] + [m.endpoint for m in etcd.members if m is not leader]
    net = Lab(tmp_path, etcd, fabric, endpoints)
    try:
        await net.start()
        ctl1, ctl2 = net.controllers["ctl1"], net.controllers["ctl2"]
        async with ctl1.client("hv1") as hv1, ctl1.client("hv3") as hv3, \
                ctl2.client("hv2") as hv2, ctl2.client("hv4") as hv4:
            a = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A, "hv1"))
            b = await hv2.signal(request(Event.ASSOCIATE, VM_B, MAC_B, "hv2"))
            assert a.success and b.success
            await delivered(net, "nve2", 1, vm_frame(MAC_B, MAC_A, b.vid), ("nve1", 1))

            await etcd.kill(leader)

            # New VMs are claimed and published (no BUSY), and the other side's watch follows.
            c = await hv3.signal(request(Event.ASSOCIATE, VM_C, MAC_C, "hv3"))
            assert c.success, c
            (to_c,) = await delivered(net, "nve2", 1, vm_frame(MAC_B, MAC_C, b.vid), ("nve1", 2))
            assert Ether(to_c)[Dot1Q].vlan == c.vid
            # Migration still moves a VM.
            assert (await hv4.signal(request(Event.IMMIGRATE_PRE_ASSOCIATE, VM_A, MAC_A,
                                             "hv4"))).success
            moved = await hv4.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, "hv4"))
            assert moved.success, moved
            await eventually(lambda: _emigrated_at_ctl1(net), 10, "ctl1 to step aside")
            assert (await hv1.signal(VmRefRequest(Event.TERMINATE, VM_A))).success
            (to_a,) = await delivered(net, "nve1", 2, vm_frame(MAC_C, MAC_A, c.vid), ("nve2", 2))
            assert Ether(to_a)[Dot1Q].vlan == moved.vid
            # The leases are kept alive through the remaining members: nothing ages out.
            await asyncio.sleep(LEASE_TTL + 1)
            owners = {vm: (await owner(net, vm)).get("controller") for vm in (VM_A, VM_B, VM_C)}
            assert owners == {VM_A: "ctl2", VM_B: "ctl2", VM_C: "ctl1"}
            await delivered(net, "nve2", 1, vm_frame(MAC_B, MAC_C, b.vid), ("nve1", 2))
    finally:
        print(net.logs(), file=sys.stderr)      # shown when the test fails
        await net.stop()
        await fabric.stop()
        await etcd.stop()


async def _emigrated_at_ctl1(net: Lab) -> bool:
    return (await states(net, VM_A)).get("ctl1") == "associated (emigrated)"
