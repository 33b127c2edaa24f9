"""The etcd mapping authority: VM locations shared by many controllers through an etcd cluster.

Each controller manages its own NVEs (switches) and keeps its records in its own SQLite. Here it
publishes the VMs it hosts and watches everybody's, so that remote FDB entries and the BUM
replication lists on its NVEs follow the VMs wherever they are.

Key layout (one key per VM: the VM is the unit of ownership and migration)::

    <prefix>vms/<vm_id>  ->  {"vm_id", "vni", "macs", "ipv4", "ipv6", "vtep_ip", "switch",
                              "hypervisor", "controller", "state"}          (JSON)

attached to the publishing controller's lease. `state` is "associated" (the only state whose
MACs are forwarded to), "pre-associated", "suspended" or "emigrated"; the key's mod_revision is
the claim's revision. The default prefix is "/nve/v1/".

Rules, all enforced with compare-and-set on the key's mod_revision (etcd Txn):

- A controller writes or deletes a key only while the value names it as `controller`, except to
  *claim*: a VM becoming active here (Associate, Immigration(Asso), Resume) is put over whatever
  the key holds. Two NVEs claiming one VM are thereby ordered by etcd: the claim with the higher
  revision (the later one) holds the key, and the controller whose claim was overwritten sees it
  on its watch, emigrates its copy (VAP inactive) and tells the hypervisor (DISPLACED).
- A VM that is not active here is published only if the key is free or ours: it never overwrites
  another NVE's claim. Deleting the last record deletes our key, if it is still ours.
- Every key hangs on the controller's lease (TTL `lease_ttl`, kept alive every TTL/3). A
  controller that dies stops renewing it; etcd deletes its keys when the TTL runs out and every
  other controller's watch removes the remote entries. A controller that starts (again) lists
  the prefix, steps aside for VMs claimed by others meanwhile, and re-publishes the rest of its
  SQLite records on its new lease; so does one whose lease expired while etcd was unreachable.
- The watch starts at the revision of the initial list and resumes from the last revision seen
  after a broken stream or a failed-over endpoint; when that revision is compacted it lists
  again. The cache only ever moves forward per key (revisions), so our own writes, echoes and a
  re-list can arrive in any order.
- When no etcd endpoint answers, claims fail: the service answers BUSY and changes nothing.
  Withdrawals (Suspend, Emigrate, Terminate, aging) are served from the local view and written
  when etcd is back: a stale claim only makes remote NVEs send a VM's frames to an NVE that
  drops them, as they already do between a withdrawal and its watch event, and if etcd stays
  away for longer than the lease the claim vanishes anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane.config import format_mac
from controlplane.lifecycle import State
from controlplane.model import Location, VmRecord
from controlplane.store.etcd_client import (
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdTls,
    delete_op,
    get_op,
    mod_revision_is,
    prefix_end,
    put_op,
)
from controlplane.store.mapping import Displacement, Key, MappingUnavailable

if TYPE_CHECKING:
    from controlplane.config import ControllerConfig

log = logging.getLogger(__name__)

ACTIVE = "associated"
CAS_ATTEMPTS = 8
# When a VM has several records here (one per hypervisor), the one published: active first.
_RANK = {ACTIVE: 0, State.SUSPENDED.value: 1, State.PRE_ASSOCIATED.value: 2, "emigrated": 3}

Value = dict[str, Any]


def state_of(record: VmRecord) -> str:
    """The published state of a record."""
    return "emigrated" if record.phase.emigrated else record.phase.state.value


@dataclass(frozen=True, slots=True)
class _Entry:
    """What we know of one key: its value (None: deleted), the revision we know it at, lease."""

    value: Value | None
    revision: int
    lease: int = 0


class EtcdMapping:
    """MappingAuthority on etcd; see the module docstring for the rules."""

    def __init__(self, client: EtcdClient, *, controller_id: str, vteps: Mapping[str, int],
                 prefix: str = "/nve/v1/", lease_ttl: int = 5,
                 connect_timeout: float = 10.0) -> None:
        self.client = client
        self.controller_id = controller_id
        self.vteps = dict(vteps)                  # our switch name -> VTEP IP
        self.prefix = prefix.encode() + b"vms/"
        self.lease_ttl = lease_ttl
        self.connect_timeout = connect_timeout
        self.lease = 0
        self.available = False
        self.down_reason = "not connected yet"
        self.stats: Counter[str] = Counter()      # lists, watches, leases, claims, cas_retries
        self._entries: dict[str, _Entry] = {}     # vm_id -> newest known state of its key
        self._revision = 0                        # the last revision seen (list or event)
        self._synced = False                      # the prefix has been listed at least once
        self._dirty = True                        # something of ours may be missing in etcd
        self._changed = asyncio.Event()
        self._renewing = asyncio.Lock()           # one keep-alive (or new lease) at a time
        self._down = asyncio.Event()              # wakes the keep-alive loop to probe sooner
        self._on_change: Callable[[], Awaitable[None]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_config(cls, cfg: ControllerConfig) -> EtcdMapping:
        """The authority a controller's `[store]` describes."""
        store = cfg.store
        tls = None
        if store.ca is not None or store.cert is not None:
            tls = EtcdTls(store.ca, store.cert, store.key)
        client = EtcdClient(store.endpoints, timeout=store.request_timeout, tls=tls)
        return cls(client, controller_id=store.controller_id,
                   vteps={sw.name: sw.vtep_ip for sw in cfg.switches}, prefix=store.prefix,
                   lease_ttl=store.lease_ttl, connect_timeout=store.connect_timeout)

    # -- the view -----------------------------------------------------------------------------
    def locations(self, records: Iterable[VmRecord]) -> list[Location]:
        """Our active VMs at our VTEPs, and every other controller's active VMs from etcd."""
        records = list(records)
        here = [Location(r.vni, mac, self.vteps[r.switch], r.vm_id, r.switch)
                for r in records if r.active and r.switch in self.vteps for mac in r.macs]
        active_here = {r.vm_id for r in records if r.active}
        for vm_id, entry in self._entries.items():
            value = entry.value
            if (value is None or value.get("controller") == self.controller_id
                    or value.get("state") != ACTIVE or vm_id in active_here):
                continue
            try:
                vtep = int(ipaddress.IPv4Address(value["vtep_ip"]))
                here.extend(Location(int(value["vni"]), int(mac.replace(":", ""), 16), vtep,
                                     vm_id, str(value.get("switch", "")))
                            for mac in value["macs"])
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                log.warning("etcd: ignoring malformed location of VM %s: %s", vm_id, exc)
        return here

    def remote(self) -> dict[str, Value]:
        """Every other controller's published VM (tests and operators)."""
        return {vm_id: e.value for vm_id, e in self._entries.items()
                if e.value is not None and e.value.get("controller") != self.controller_id}

    def displaced(self, records: Iterable[VmRecord]) -> list[Displacement]:
        """Our active VMs whose key another controller holds active: it claimed after us."""
        out = []
        for vm_id in sorted({r.vm_id for r in records if r.active}):
            entry = self._entries.get(vm_id)
            value = entry.value if entry is not None else None
            if value is None or value.get("controller") == self.controller_id:
                continue
            if value.get("state") == ACTIVE:
                assert entry is not None
                out.append(Displacement(
                    vm_id, str(value.get("switch", "")),
                    f"now active at {value.get('switch')} (VTEP {value.get('vtep_ip')}, "
                    f"controller {value.get('controller')}, etcd revision {entry.revision})"))
        return out

    # -- publishing ---------------------------------------------------------------------------
    def _value(self, records: Iterable[VmRecord]) -> Value | None:
        """What we publish for one VM given its records here (None: nothing)."""
        mine = [r for r in records if r.switch in self.vteps]
        if not mine:
            return None
        record = min(mine, key=lambda r: (_RANK.get(state_of(r), 9), r.hypervisor))
        return {
            "vm_id": record.vm_id, "vni": record.vni,
            "macs": [format_mac(m) for m in record.macs],
            "ipv4": [str(ipaddress.IPv4Address(a)) for a in record.ipv4],
            "ipv6": list(record.ipv6),
            "vtep_ip": str(ipaddress.IPv4Address(self.vteps[record.switch])),
            "switch": record.switch, "hypervisor": record.hypervisor,
            "controller": self.controller_id, "state": state_of(record),
        }

    def _changes(self, before: Mapping[Key, VmRecord],
                 after: Mapping[Key, VmRecord]) -> list[tuple[str, Value | None, bool]]:
        """(vm_id, value to publish, is a claim) for each VM whose published value changes."""
        touched = sorted({k[0] for k in before.keys() | after.keys()
                          if before.get(k) != after.get(k)})
        out = []
        for vm_id in touched:
            old = self._value(r for k, r in before.items() if k[0] == vm_id)
            new = self._value(r for k, r in after.items() if k[0] == vm_id)
            if new != old:
                out.append((vm_id, new, new is not None and new["state"] == ACTIVE))
        return out

    async def check(self, before: Mapping[Key, VmRecord], after: Mapping[Key, VmRecord]) -> None:
        """Refuse a claim up front when etcd does not answer (one quick probe when we know it
        was down), so that nothing is written to the switches for nothing."""
        if self.available or not any(claim for _, _, claim in self._changes(before, after)):
            return
        try:
            await self._renew()
        except EtcdError as exc:
            self._set_available(False, str(exc))
        if not self.available:
            raise MappingUnavailable(self._unavailable())

    async def publish(self, before: Mapping[Key, VmRecord],
                      after: Mapping[Key, VmRecord]) -> None:
        """Claims must reach etcd (MappingUnavailable otherwise); the rest may wait."""
        for vm_id, value, claim in self._changes(before, after):
            if claim:
                await self._write(vm_id, value, take=True)
                self.stats["claims"] += 1
            elif not self.available:
                self._dirty = True
                log.warning("etcd unavailable: VM %s published as %s once it answers", vm_id,
                            value["state"] if value else "gone")
            else:
                try:
                    await self._write(vm_id, value, take=False)
                except MappingUnavailable as exc:
                    self._dirty = True
                    log.warning("VM %s: publication deferred: %s", vm_id, exc)

    async def reconcile(self, records: Mapping[Key, VmRecord]) -> None:
        """Publish what etcd lacks of our records, on our current lease; delete our keys of VMs
        we no longer have. Never overwrites another controller's active claim."""
        if not self._synced or self.lease == 0:
            return
        by_vm: dict[str, list[VmRecord]] = {}
        for record in records.values():
            by_vm.setdefault(record.vm_id, []).append(record)
        ours = [vm_id for vm_id, e in self._entries.items()
                if e.value is not None and e.value.get("controller") == self.controller_id]
        written = 0
        for vm_id in sorted(by_vm.keys() | set(ours)):
            written += await self._write(vm_id, self._value(by_vm.get(vm_id, ())), take=False)
        self._dirty = False
        if written:
            log.info("etcd: reconciled %d VM keys (controller %s, lease %016x)", written,
                     self.controller_id, self.lease)

    def _key(self, vm_id: str) -> bytes:
        return self.prefix + vm_id.encode()

    async def _write(self, vm_id: str, value: Value | None, *, take: bool) -> int:
        """Make the VM's key hold `value` (None: not ours any more) by compare-and-set on its
        mod_revision; `take`: overwrite another controller's active claim. 1 if written."""
        key = self._key(vm_id)
        for _ in range(CAS_ATTEMPTS):
            entry = self._entries.get(vm_id)
            current = entry.value if entry is not None else None
            revision = entry.revision if entry is not None and current is not None else 0
            ours = current is not None and current.get("controller") == self.controller_id
            if value is None:
                if not ours:
                    return 0
                ops = [delete_op(key)]
            else:
                if current is not None and not ours:
                    if value["state"] != ACTIVE:
                        return 0          # theirs; we are not active: leave it to them
                    if current.get("state") == ACTIVE and not take:
                        self._notify()    # they claimed after us: we step aside instead
                        return 0
                if ours and current == value and entry is not None and entry.lease == self.lease:
                    return 0              # already there
                ops = [put_op(key, json.dumps(value, sort_keys=True).encode(), self.lease)]
            try:
                response = await self.client.txn([mod_revision_is(key, revision)], ops,
                                                 [get_op(key)])
            except EtcdError as exc:
                if "lease not found" in str(exc):
                    log.warning("etcd: lease %016x is gone; taking a new one", self.lease)
                    await self._new_lease()
                    continue
                self._set_available(False, str(exc))
                self._dirty = True
                raise MappingUnavailable(self._unavailable(vm_id)) from None
            self._set_available(True)
            if response.succeeded:
                self._merge(vm_id, value, int(response.header.revision),
                            self.lease if value is not None else 0)
                return 1
            self.stats["cas_retries"] += 1
            kvs = response.responses[0].response_range.kvs if response.responses else []
            if kvs:
                self._merge_kv(kvs[0])
            else:
                self._merge(vm_id, None, int(response.header.revision))
        raise MappingUnavailable(f"VM {vm_id}: its etcd key changed under us {CAS_ATTEMPTS} "
                                 "times in a row; retry")

    def _unavailable(self, vm_id: str | None = None) -> str:
        what = f"VM {vm_id} cannot be claimed" if vm_id else "VMs cannot be claimed"
        return (f"mapping authority unavailable: {self.down_reason}; {what} until etcd "
                f"answers again (nothing was changed: retry later)")

    # -- the cache ----------------------------------------------------------------------------
    def _merge(self, vm_id: str, value: Value | None, revision: int, lease: int = 0) -> bool:
        """Take a newer state of the key; True when the view changed."""
        entry = self._entries.get(vm_id)
        if entry is not None and entry.revision > revision:
            return False
        fresh = _Entry(value, revision, lease if value is not None else 0)
        if entry == fresh:
            return False
        self._entries[vm_id] = fresh
        if entry is None:
            return value is not None
        return entry.value != value or entry.lease != fresh.lease

    def _decode(self, raw: bytes, key: bytes) -> Value | None:
        try:
            value = json.loads(raw)
        except ValueError:
            log.warning("etcd: %r holds no JSON; ignored", key)
            return None
        return value if isinstance(value, dict) else None

    def _merge_kv(self, kv: Any) -> bool:
        vm_id = bytes(kv.key)[len(self.prefix):].decode(errors="replace")
        return self._merge(vm_id, self._decode(kv.value, kv.key), int(kv.mod_revision),
                           int(kv.lease))

    def _apply(self, event: Any) -> bool:
        if event.type == event.DELETE:
            vm_id = bytes(event.kv.key)[len(self.prefix):].decode(errors="replace")
            return self._merge(vm_id, None, int(event.kv.mod_revision))
        return self._merge_kv(event.kv)

    async def _list(self) -> None:
        """Read the whole prefix; the watch goes on from the revision of this read."""
        kvs, revision = await self.client.get_prefix(self.prefix)
        changed = False
        seen = set()
        for kv in kvs:
            changed |= self._merge_kv(kv)
            seen.add(bytes(kv.key)[len(self.prefix):].decode(errors="replace"))
        for vm_id in list(self._entries):
            if vm_id not in seen:
                changed |= self._merge(vm_id, None, revision)
        for vm_id in [v for v, e in self._entries.items() if e.value is None
                      and e.revision <= revision]:
            del self._entries[vm_id]       # tombstones older than the list: no longer needed
        self._revision = max(self._revision, revision)
        self._synced = True
        self.stats["lists"] += 1
        log.info("etcd: listed %d VMs at revision %d", len(kvs), revision)
        if changed:
            self._notify()

    # -- running ------------------------------------------------------------------------------
    async def start(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Connect (waiting up to connect_timeout), take a lease, list, and watch; then keep
        calling `on_change` whenever the view changed."""
        self._on_change = on_change
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                await self._list()
                await self._new_lease()
                self._set_available(True)
                break
            except EtcdError as exc:
                self._set_available(False, str(exc))
                if time.monotonic() > deadline:
                    log.error("etcd unreachable at start (%s): no remote VMs and no claims "
                              "until it answers", exc)
                    break
                await asyncio.sleep(0.3)
        self._tasks = [asyncio.create_task(self._watching(), name="etcd-watch"),
                       asyncio.create_task(self._keeping_alive(), name="etcd-lease"),
                       asyncio.create_task(self._calling_back(), name="etcd-sync")]
        self._notify()

    async def close(self) -> None:
        """Stop. The lease is left to expire: a controller restarted within the TTL takes its
        keys over without remote NVEs ever losing its VMs."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.client.close()

    def _notify(self) -> None:
        self._changed.set()

    def _set_available(self, up: bool, reason: str = "") -> None:
        if up and not self.available:
            if self.stats["up"]:
                log.warning("etcd: available again at %s", self.client.endpoint)
            else:
                log.info("etcd: connected to %s", self.client.endpoint)
            self.stats["up"] += 1
            self._dirty = True
            self._notify()          # publish what waited, re-apply what changed meanwhile
        elif not up and self.available:
            log.warning("etcd: unavailable: %s", reason)
            self._down.set()
        if not up:
            self.down_reason = reason
        self.available = up

    async def _new_lease(self) -> None:
        self.lease = await self.client.grant(self.lease_ttl)
        self.stats["leases"] += 1
        self._dirty = True
        log.info("etcd: controller %s holds lease %016x (TTL %d s)", self.controller_id,
                 self.lease, self.lease_ttl)
        self._notify()

    async def _renew(self) -> None:
        """One keep-alive; a new lease when ours expired (our keys are gone: re-publish)."""
        async with self._renewing:
            if self.lease == 0:
                await self._new_lease()
            elif await self.client.keepalive(self.lease) <= 0:
                log.warning("etcd: lease %016x expired: our VMs were withdrawn; re-publishing",
                            self.lease)
                await self._new_lease()
        self._set_available(True)

    async def _keeping_alive(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down.wait(),
                                       self.lease_ttl / 3 if self.available else 0.3)
            self._down.clear()
            try:
                await self._renew()
            except EtcdError as exc:
                self._set_available(False, str(exc))
                continue
            if self._dirty:
                self._notify()      # a publication is still missing: reconcile again

    async def _watching(self) -> None:
        pause = 0.1
        while True:
            try:
                if not self._synced:
                    await self._list()
                self.stats["watches"] += 1
                async for response in self.client.watch(
                        self.prefix, prefix_end(self.prefix), self._revision + 1,
                        idle=max(1.0, self.lease_ttl / 2)):
                    pause, changed = 0.1, False
                    for event in response.events:
                        changed |= self._apply(event)
                        self._revision = max(self._revision, int(event.kv.mod_revision))
                    if changed:
                        self._notify()
            except EtcdCompacted as exc:
                log.warning("etcd: watch from revision %d compacted (%s): listing again",
                            self._revision + 1, exc)
                self._synced = False
            except EtcdError as exc:
                log.info("etcd: watch interrupted (%s); resuming from revision %d", exc,
                         self._revision + 1)
                await asyncio.sleep(pause)
                pause = min(1.0, pause * 2)

    async def _calling_back(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._on_change is None:
                continue
            try:
                await self._on_change()
            except Exception:  # keep the view flowing; the next change retries
                log.exception("etcd: applying a mapping change failed")
