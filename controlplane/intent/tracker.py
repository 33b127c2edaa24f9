"""The desired state of every switch, kept up to date change by change.

A change of VM records (or of other controllers' locations) marks the slices whose inputs it
touched (see controlplane.intent.desired for the slices); only those are rebuilt, and the items
of the rebuilt slices before and after are the difference to write. The work per change is in
proportion to the change, not to the number of VMs; `state()` still gives the whole desired
state for a full reconciliation.

Locations: our own active records place their MACs at their switch's VTEP and win over what
other controllers published (`external`, plus the configured static hosts) for the same
(VNI, MAC).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.config import ControllerConfig, StaticHost, SwitchConfig
from controlplane.intent.desired import (
    DesiredState,
    Item,
    flood_group,
    flood_group_ids,
    remote_fdb_entry,
    switch_base,
    vm_entries,
    vn_entries,
    vtep_replica_ids,
    vtep_replicas,
)
from controlplane.model import Location, VmRecord
from controlplane.p4rt.entries import Entry

log = logging.getLogger(__name__)

Key = tuple[str, str]                       # (vm_id, hypervisor)
LocKey = tuple[int, int]                    # (vni, mac)
Transition = tuple[VmRecord | None, VmRecord | None]


@dataclass
class Delta:
    """What a change did to one switch's desired state: items no longer wanted, new items."""

    removed: list[Item] = field(default_factory=list)
    added: list[Item] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.removed or self.added)


@dataclass
class _Slices:
    """One switch's desired state, slice by slice, with entry counts per table."""

    switch: dict[str, tuple[Item, ...]] = field(default_factory=dict)   # "base", "vteps"
    vn: dict[int, tuple[Item, ...]] = field(default_factory=dict)
    vm: dict[str, tuple[Item, ...]] = field(default_factory=dict)
    remote: dict[LocKey, Entry] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class _Dirty:
    """The slices of one switch a change touched."""

    vteps: bool = False
    vns: set[int] = field(default_factory=set)
    vms: set[str] = field(default_factory=set)
    remotes: set[LocKey] = field(default_factory=set)


class Intent:
    """Desired state of `switches` (default: every configured switch), from VM records and
    other controllers' locations."""

    def __init__(self, cfg: ControllerConfig, switches: Iterable[SwitchConfig] | None = None,
                 records: Iterable[VmRecord] = (), external: Iterable[Location] = ()) -> None:
        self.cfg = cfg
        self.switches = {sw.name: sw for sw in (cfg.switches if switches is None else switches)}
        self._vtep_of = {sw.name: sw.vtep_ip for sw in cfg.switches}
        self._group_ids = flood_group_ids(cfg)
        self._static = _static_locations(cfg, cfg.static_hosts)
        self._vn_base = {vn.vni: vn_entries(vn, self._group_ids[vn.vni]) for vn in cfg.vns}
        # Indexes of the inputs.
        self._local: dict[str, dict[str, tuple[VmRecord, ...]]] = {n: {} for n in self.switches}
        self._vn_vms: dict[tuple[str, int], set[str]] = {}      # (switch, vni) -> VM ids there
        self._own: dict[int, VmRecord] = {}                     # our active MACs' records
        self._external: dict[LocKey, int] = {}                 # set below, with the static hosts
        self._where: dict[int, dict[int, int]] = {}             # vni -> mac -> VTEP in effect
        self._vteps: dict[int, Counter[int]] = {}               # vni -> VTEP -> MACs there
        self._rids: dict[int, int] = {}
        self._slices = {name: _Slices() for name in self.switches}
        dirty = {n: _Dirty() for n in self.switches}
        moved = self._index_records({(r.vm_id, r.hypervisor): (None, r) for r in records}, dirty)
        moved |= self._set_external(external)
        self._relocate(moved, dirty)
        self._rebuild_all(dirty)

    # -- reading --------------------------------------------------------------------------------
    def state(self, switch: str) -> DesiredState:
        """Everything `switch` must hold."""
        return DesiredState.of(self._items(self._slices[switch]))

    def counts(self, switch: str) -> Mapping[str, int]:
        """Entries per table (short name) `switch` must hold."""
        return self._slices[switch].counts

    @staticmethod
    def _items(s: _Slices) -> Iterable[Item]:
        for items in (*s.switch.values(), *s.vn.values(), *s.vm.values()):
            yield from items
        yield from s.remote.values()

    # -- changing -------------------------------------------------------------------------------
    def update(self, changes: Mapping[Key, Transition]) -> dict[str, Delta]:
        """Records changed ((before, after) per key; None: absent); what each switch's desired
        state lost and gained. `update` with every pair swapped undoes it."""
        dirty = {n: _Dirty() for n in self.switches}
        moved = self._index_records(changes, dirty)
        self._relocate(moved, dirty)
        return self._rebuild(dirty)

    def set_external(self, locations: Iterable[Location]) -> dict[str, Delta]:
        """Other controllers' locations are now `locations` (the whole set)."""
        dirty = {n: _Dirty() for n in self.switches}
        before = set(self._rids)
        moved = self._set_external(locations)
        self._relocate(moved, dirty)
        if set(self._rids) != before:            # replica ids shift: every slice may change
            return self._rebuild_all(dirty)
        return self._rebuild(dirty)

    def _index_records(self, changes: Mapping[Key, Transition],
                       dirty: dict[str, _Dirty]) -> set[LocKey]:
        moved: set[LocKey] = set()
        for key, (before, after) in changes.items():
            if before is not None:
                self._unindex(key, before, dirty, moved)
            if after is not None:
                self._index(key, after, dirty, moved)
        return moved

    def _unindex(self, key: Key, record: VmRecord, dirty: dict[str, _Dirty],
                 moved: set[LocKey]) -> None:
        if record.active:
            for mac in record.macs:
                owner = self._own.get(mac)
                if owner is not None and (owner.vm_id, owner.hypervisor) == key:
                    del self._own[mac]
                moved.add((record.vni, mac))     # even when another record took the MAC over
        local = self._local.get(record.switch)
        if local is None:
            return
        rest = tuple(r for r in local.get(record.vm_id, ()) if r.hypervisor != record.hypervisor)
        if rest:
            local[record.vm_id] = rest
        else:
            local.pop(record.vm_id, None)
        if not any(r.vni == record.vni for r in rest):
            members = self._vn_vms.get((record.switch, record.vni))
            if members is not None:
                members.discard(record.vm_id)
                if not members:
                    del self._vn_vms[(record.switch, record.vni)]
        dirty[record.switch].vms.add(record.vm_id)
        dirty[record.switch].vns.add(record.vni)

    def _index(self, key: Key, record: VmRecord, dirty: dict[str, _Dirty],
               moved: set[LocKey]) -> None:
        if record.active and record.switch in self._vtep_of:
            for mac in record.macs:
                self._own[mac] = record
                moved.add((record.vni, mac))
        local = self._local.get(record.switch)
        if local is None:
            return
        others = tuple(r for r in local.get(record.vm_id, ()) if r.hypervisor != record.hypervisor)
        local[record.vm_id] = (*others, record)
        self._vn_vms.setdefault((record.switch, record.vni), set()).add(record.vm_id)
        dirty[record.switch].vms.add(record.vm_id)
        dirty[record.switch].vns.add(record.vni)

    def _set_external(self, locations: Iterable[Location]) -> set[LocKey]:
        wanted = dict(self._static)
        wanted.update(((loc.vni, loc.mac), loc.vtep_ip) for loc in locations)
        moved = {k for k in wanted.keys() | self._external.keys()
                 if wanted.get(k) != self._external.get(k)}
        self._external = wanted
        known = set(self._vtep_of.values()) | set(wanted.values())
        self._rids = vtep_replica_ids(known)
        return moved

    def _relocate(self, moved: set[LocKey], dirty: dict[str, _Dirty]) -> None:
        """Bring the effective locations of `moved` up to date; mark what they feed."""
        for loc in moved:
            vni, mac = loc
            own = self._own.get(mac)
            if own is not None and own.vni == vni:
                now: int | None = self._vtep_of[own.switch]
            else:
                now = self._external.get(loc)
            where = self._where.setdefault(vni, {})
            before = where.get(mac)
            if now == before:
                continue
            vteps = self._vteps.setdefault(vni, Counter())
            vtep_set_changed = False
            if before is not None:
                vteps[before] -= 1
                if not vteps[before]:
                    del vteps[before]
                    vtep_set_changed = True
            if now is None:
                del where[mac]
            else:
                where[mac] = now
                vtep_set_changed |= vteps[now] == 0
                vteps[now] += 1
            for name in self.switches:
                if (name, vni) in self._vn_vms:
                    dirty[name].remotes.add(loc)
                    if vtep_set_changed:
                        dirty[name].vns.add(vni)
                        dirty[name].vteps = True

    # -- rebuilding slices ------------------------------------------------------------------
    def _rebuild_all(self, dirty: dict[str, _Dirty]) -> dict[str, Delta]:
        """Rebuild every slice of every switch (and whatever `dirty` marked besides)."""
        deltas = {}
        for name, sw in self.switches.items():
            s, d = self._slices[name], dirty[name]
            delta = Delta()
            _replace(s, s.switch, "base", switch_base(self.cfg, sw), delta)
            d.vteps = True
            d.vns |= set(s.vn) | {v for (n, v) in self._vn_vms if n == name}
            d.vms |= set(s.vm) | set(self._local[name])
            d.remotes |= set(s.remote)
            deltas[name] = self._rebuild_switch(name, d, delta)
        return deltas

    def _rebuild(self, dirty: dict[str, _Dirty]) -> dict[str, Delta]:
        return {name: self._rebuild_switch(name, d, Delta()) for name, d in dirty.items()}

    def _rebuild_switch(self, name: str, dirty: _Dirty, delta: Delta) -> Delta:
        sw, s = self.switches[name], self._slices[name]
        for vni in dirty.vns:
            used = (name, vni) in self._vn_vms
            if used != (vni in s.vn):           # the VN arrives or leaves: its remote MACs too
                dirty.remotes.update((vni, mac) for mac in self._where.get(vni, ()))
                dirty.remotes.update(loc for loc in s.remote if loc[0] == vni)
                dirty.vteps = True
            _replace(s, s.vn, vni, self._vn_slice(name, sw, vni) if used else None, delta)
        for vm_id in dirty.vms:
            records = self._local[name].get(vm_id, ())
            _replace(s, s.vm, vm_id, _vm_slice(records) if records else None, delta)
        for loc in dirty.remotes:
            old, new = s.remote.get(loc), self._remote_entry(name, sw, loc)
            if new != old:
                _account(s, () if old is None else (old,), () if new is None else (new,), delta)
                if new is None:
                    del s.remote[loc]
                else:
                    s.remote[loc] = new
        if dirty.vteps:
            _replace(s, s.switch, "vteps", self._vtep_slice(sw, name), delta)
        return delta

    def _vn_slice(self, name: str, sw: SwitchConfig, vni: int) -> tuple[Item, ...] | None:
        base = self._vn_base.get(vni)
        if base is None:
            log.error("switch=%s: records in VNI %d, which is not configured", name, vni)
            return None
        local = (r for vm_id in self._vn_vms[(name, vni)] for r in self._local[name][vm_id]
                 if r.vni == vni)
        remote = [v for v in self._vteps.get(vni, ()) if v != sw.vtep_ip]
        return (*base, flood_group(sw, self._group_ids[vni], local, remote, self._rids))

    def _remote_entry(self, name: str, sw: SwitchConfig, loc: LocKey) -> Entry | None:
        vni, mac = loc
        vtep = self._where.get(vni, {}).get(mac)
        if vtep is None or vtep == sw.vtep_ip or (name, vni) not in self._vn_vms:
            return None
        return remote_fdb_entry(vni, mac, vtep)

    def _vtep_slice(self, sw: SwitchConfig, name: str) -> tuple[Item, ...]:
        vteps = {v for (n, vni) in self._vn_vms if n == name for v in self._vteps.get(vni, ())}
        vteps.discard(sw.vtep_ip)
        return vtep_replicas(sw, vteps, self._rids)


def _vm_slice(records: tuple[VmRecord, ...]) -> tuple[Item, ...]:
    """The entries of one VM's records on a switch; when two copies want one key (the same VM
    on one port with one VID), the active copy's entry wins."""
    if len(records) == 1:
        return vm_entries(records[0])
    chosen: dict[tuple[object, ...], Entry] = {}
    for record in sorted(records, key=lambda r: (r.active, r.hypervisor)):
        for entry in vm_entries(record):
            chosen[entry.key()] = entry
    return tuple(chosen.values())


def _replace(s: _Slices, slices: dict[Any, tuple[Item, ...]], key: object,
             new: tuple[Item, ...] | None, delta: Delta) -> None:
    old = slices.get(key, ())
    if new == old or (new is None and not old):
        return
    _account(s, old, new or (), delta)
    if new is None:
        del slices[key]
    else:
        slices[key] = new


def _account(s: _Slices, old: Iterable[Item], new: Iterable[Item], delta: Delta) -> None:
    """Record what a slice lost and gained (items in both are unchanged: left out)."""
    old, new = tuple(old), tuple(new)
    if old and new:
        kept = set(old) & set(new)
        old = tuple(i for i in old if i not in kept)
        new = tuple(i for i in new if i not in kept)
    for item in old:
        delta.removed.append(item)
        if isinstance(item, Entry):
            s.counts[_short(item.table)] -= 1
    for item in new:
        delta.added.append(item)
        if isinstance(item, Entry):
            s.counts[_short(item.table)] += 1


@functools.cache
def _short(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _static_locations(cfg: ControllerConfig, hosts: Iterable[StaticHost]) -> dict[LocKey, int]:
    out = {}
    for host in hosts:
        vn = cfg.vn_by_name(host.vn)
        if vn is not None:
            out[(vn.vni, host.mac)] = host.vtep_ip
    return out
