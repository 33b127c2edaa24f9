"""The etcd mapping authority against a real etcd: publication, watch, compare-and-set claims,
leases, a watch that resumes or re-lists, and an etcd that cannot be reached."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controlplane.lifecycle import Phase, State
from controlplane.model import VmRecord
from controlplane.store.etcd import EtcdMapping
from controlplane.store.etcd_client import (
    EtcdClient,
    EtcdCompacted,
    get_op,
    mod_revision_is,
    put_op,
)
from controlplane.store.mapping import Key, MappingUnavailable

sys.path.insert(0, str(Path(__file__).parent / "data" / "etcd"))
from etcdlab import EtcdCluster, Proxy, eventually, requires_etcd  # noqa: E402

pytestmark = requires_etcd

TTL = 2
ACTIVE = Phase(State.ASSOCIATED)
PREFIX = b"/nve/v1/vms/"


def vm(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def record(n: int, switch: str, hypervisor: str, phase: Phase = ACTIVE) -> VmRecord:
    return VmRecord(vm_id=vm(n), hypervisor=hypervisor, switch=switch, port=1, vni=5001,
                    macs=(0x525400000000 + n,), ipv4=(0x0A0A0000 + n,), ipv6=(), vid=100 + n,
                    pcp=0, vap_id=n, phase=phase, last_seen=0.0)


class Side:
    """One controller's half: its records and its mapping, with the service's sync reduced to
    what the mapping needs (displacement, reconciliation)."""

    def __init__(self, name: str, switch: str, vtep: str, endpoint: str, ttl: int = TTL) -> None:
        self.name = name
        self.switch = switch
        self.mapping = EtcdMapping(EtcdClient([endpoint], timeout=1.0), controller_id=name,
                                   vteps={switch: int(ipaddress.IPv4Address(vtep))},
                                   lease_ttl=ttl, connect_timeout=5.0)
        self.records: dict[Key, VmRecord] = {}
        self.displaced: list[str] = []
        self.mutex = asyncio.Lock()          # as the service's: one change at a time

    async def sync(self) -> None:
        async with self.mutex:
            await self._sync()

    async def _sync(self) -> None:
        for moved in self.mapping.displaced(self.records.values()):
            for key, rec in list(self.records.items()):
                if rec.vm_id == moved.vm_id and rec.active:
                    self.records[key] = rec.with_phase(Phase(State.ASSOCIATED, emigrated=True), 0)
                    self.displaced.append(rec.vm_id)
        await self.mapping.reconcile(self.records)

    async def set(self, *changes: VmRecord | tuple[str, str]) -> None:
        """Apply record changes (a record, or a (vm_id, hypervisor) key to remove) and publish."""
        async with self.mutex:
            await self._set(changes)

    async def _set(self, changes: tuple[VmRecord | tuple[str, str], ...]) -> None:
        after = dict(self.records)
        for change in changes:
            if isinstance(change, VmRecord):
                after[(change.vm_id, change.hypervisor)] = change
            else:
                after.pop(change, None)
        await self.mapping.check(self.records, after)
        await self.mapping.publish(self.records, after)
        self.records = after

    def sees(self) -> set[str]:
        return {loc.vm_id for loc in self.mapping.locations(self.records.values())
                if loc.switch != self.switch}


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    cluster = EtcdCluster(tmp_path / "etcd")
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


async def started(side: Side) -> Side:
    await side.mapping.start(side.sync)
    return side


async def read_key(etcd: EtcdCluster, n: int) -> tuple[dict | None, int]:
    """The VM's value and the lease it hangs on."""
    client = etcd.client()
    try:
        response = await client.range(PREFIX + vm(n).encode())
    finally:
        await client.close()
    if not response.kvs:
        return None, 0
    return json.loads(response.kvs[0].value), int(response.kvs[0].lease)


async def test_publish_watch_withdraw(etcd: EtcdCluster) -> None:
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", etcd.endpoints[0]))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", etcd.endpoints[0]))
    try:
        await a.set(record(1, "nve1", "hv1"))
        value, _ = await read_key(etcd, 1)
        assert value == {"vm_id": vm(1), "vni": 5001, "macs": ["52:54:00:00:00:01"],
                         "ipv4": ["10.10.0.1"], "ipv6": [], "vtep_ip": "10.0.1.1",
                         "switch": "nve1", "hypervisor": "hv1", "controller": "ctl-a",
                         "state": "associated"}
        await eventually(lambda: vm(1) in b.sees(), what="B to see VM 1")
        (loc,) = b.mapping.locations([])
        assert (loc.vni, loc.mac, loc.vtep_ip) == (5001, 0x525400000001, 0x0A000101)
        # Suspended: still published (state), no longer a location.
        await a.set(record(1, "nve1", "hv1", Phase(State.SUSPENDED)))
        await eventually(lambda: not b.sees(), what="B to drop the suspended VM")
        assert (await read_key(etcd, 1))[0]["state"] == "suspended"
        await a.set((vm(1), "hv1"))
        assert (await read_key(etcd, 1))[0] is None
        assert a.mapping.stats["claims"] == 1
    finally:
        await a.mapping.close()
        await b.mapping.close()


async def test_later_claim_wins_and_loser_is_displaced(etcd: EtcdCluster) -> None:
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", etcd.endpoints[0]))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", etcd.endpoints[0]))
    try:
        # One after the other: the later claim holds the key, the earlier steps aside.
        await a.set(record(1, "nve1", "hv1"))
        await b.set(record(1, "nve2", "hv2"))
        value, _ = await read_key(etcd, 1)
        assert value["controller"] == "ctl-b"
        await eventually(lambda: a.displaced == [vm(1)], what="A to be displaced")
        assert not a.records[(vm(1), "hv1")].active and b.displaced == []
        assert (await read_key(etcd, 1))[0]["controller"] == "ctl-b"   # A did not take it back

        # At the same time, ten times: exactly one owner each, the claim with the higher
        # revision, and the other side displaced.
        for n in range(10, 20):
            await asyncio.gather(a.set(record(n, "nve1", "hv1")), b.set(record(n, "nve2", "hv2")))
        for n in range(10, 20):
            value, _ = await read_key(etcd, n)
            winner, loser = (b, a) if value["controller"] == "ctl-b" else (a, b)
            await eventually(lambda loser=loser, n=n: vm(n) in loser.displaced,
                             what=f"the loser of VM {n} to be displaced")
            assert vm(n) not in winner.displaced
            assert [r.vm_id for r in winner.records.values() if r.active].count(vm(n)) == 1
        assert a.mapping.stats["cas_retries"] + b.mapping.stats["cas_retries"] >= 1
    finally:
        await a.mapping.close()
        await b.mapping.close()


async def test_watch_resumes_or_relists(etcd: EtcdCluster) -> None:
    proxy = Proxy(etcd.members[0].client_port)
    await proxy.start()
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", etcd.endpoints[0]))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", proxy.endpoint))
    try:
        await a.set(record(1, "nve1", "hv1"), record(2, "nve1", "hv1"))
        await eventually(lambda: b.sees() == {vm(1), vm(2)}, what="B to see 1 and 2")
        lists = b.mapping.stats["lists"]

        # The connection drops; changes happen meanwhile; the watch resumes from its revision.
        proxy.cut()
        await a.set((vm(1), "hv1"), record(3, "nve1", "hv1"))
        await asyncio.sleep(0.5)
        proxy.restore()
        await eventually(lambda: b.sees() == {vm(2), vm(3)}, what="B to catch up")
        assert b.mapping.stats["lists"] == lists                 # resumed, not re-listed

        # Again, but the history is compacted meanwhile: the watch lists again.
        proxy.cut()
        await a.set((vm(2), "hv1"), record(4, "nve1", "hv1"))
        client = etcd.client()
        try:
            revision = (await client.range(b"x")).header.revision
            await client.compact(revision)
        finally:
            await client.close()
        proxy.restore()
        await eventually(lambda: b.sees() == {vm(3), vm(4)}, what="B to re-list")
        assert b.mapping.stats["lists"] == lists + 1
    finally:
        await a.mapping.close()
        await b.mapping.close()
        await proxy.stop()


async def test_lease_expiry_withdraws_and_return_republishes(etcd: EtcdCluster) -> None:
    proxy = Proxy(etcd.members[0].client_port)
    await proxy.start()
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", proxy.endpoint))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", etcd.endpoints[0]))
    try:
        await a.set(record(1, "nve1", "hv1"))
        await eventually(lambda: b.sees() == {vm(1)}, what="B to see VM 1")
        first_lease = a.mapping.lease
        proxy.cut()                                   # A can no longer renew its lease
        await asyncio.sleep(TTL / 2)
        assert b.sees() == {vm(1)}                    # not before the lease runs out
        await eventually(lambda: not b.sees(), timeout=TTL + 4,
                         what="the lease to expire")
        proxy.restore()                               # A is back: new lease, re-published
        await eventually(lambda: b.sees() == {vm(1)}, timeout=10,
                         what="A to re-publish")
        assert a.mapping.lease != first_lease and a.displaced == []
        client = etcd.client()
        try:
            assert await client.time_to_live(first_lease) == -1
        finally:
            await client.close()
    finally:
        await a.mapping.close()
        await b.mapping.close()
        await proxy.stop()


async def test_unreachable_claims_refused_withdrawals_deferred(etcd: EtcdCluster) -> None:
    proxy = Proxy(etcd.members[0].client_port)
    await proxy.start()
    # A lease long enough to outlast the outage: the stale claim stays until A is back.
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", proxy.endpoint, ttl=9))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", etcd.endpoints[0]))
    try:
        await a.set(record(1, "nve1", "hv1"), record(2, "nve1", "hv1"))
        await eventually(lambda: b.sees() == {vm(1), vm(2)}, what="B to see 1 and 2")
        proxy.cut()
        with pytest.raises(MappingUnavailable) as refused:
            await a.set(record(3, "nve1", "hv1"))
        assert "etcd" in str(refused.value) and "retry" in str(refused.value)
        assert (vm(3), "hv1") not in a.records
        # A withdrawal is served from the local view and written when etcd is back.
        await a.set((vm(2), "hv1"))
        assert b.sees() == {vm(1), vm(2)}
        proxy.restore()
        await eventually(lambda: b.sees() == {vm(1)}, what="the withdrawal")
        await a.set(record(3, "nve1", "hv1"))          # claims work again
        await eventually(lambda: b.sees() == {vm(1), vm(3)}, what="the claim")
    finally:
        await a.mapping.close()
        await b.mapping.close()
        await proxy.stop()


async def test_restart_within_the_ttl_is_seamless(etcd: EtcdCluster) -> None:
    a = await started(Side("ctl-a", "nve1", "10.0.1.1", etcd.endpoints[0]))
    b = await started(Side("ctl-b", "nve2", "10.0.2.1", etcd.endpoints[0]))
    again = Side("ctl-a", "nve1", "10.0.1.1", etcd.endpoints[0])
    try:
        await a.set(record(1, "nve1", "hv1"))
        await eventually(lambda: b.sees() == {vm(1)}, what="B to see VM 1")
        await a.mapping.close()                        # stopped: the lease is left to run out
        again.records = dict(a.records)                # what its SQLite holds
        await started(again)
        await eventually(lambda: _on_lease(etcd, again.mapping.lease), what="the new lease")
        assert again.mapping.lease != a.mapping.lease and again.displaced == []
        for _ in range(int((TTL + 1) / 0.25)):         # the old lease expires: nothing moves
            assert b.sees() == {vm(1)}
            await asyncio.sleep(0.25)
    finally:
        await again.mapping.close()
        await b.mapping.close()


async def _on_lease(etcd: EtcdCluster, lease: int) -> bool:
    return (await read_key(etcd, 1))[1] == lease


async def test_client_pages_compare_and_set_compaction(etcd: EtcdCluster) -> None:
    client = etcd.client()
    try:
        for n in range(5):
            await client.put(b"/t/%d" % n, b"v")
        kvs, revision = await client.get_prefix(b"/t/", page=2)
        assert [kv.key for kv in kvs] == [b"/t/%d" % n for n in range(5)]
        # Compare-and-set: mod_revision 0 means "absent"; a stale revision loses.
        created = await client.txn([mod_revision_is(b"/t/new", 0)], [put_op(b"/t/new", b"1")])
        assert created.succeeded
        again = await client.txn([mod_revision_is(b"/t/new", 0)], [put_op(b"/t/new", b"2")],
                                 [get_op(b"/t/new")])
        assert not again.succeeded
        current = again.responses[0].response_range.kvs[0]
        assert current.value == b"1" and current.mod_revision == created.header.revision
        await client.compact(created.header.revision)
        with pytest.raises(EtcdCompacted):
            await client.range(b"/t/0", revision=revision)
    finally:
        await client.close()
