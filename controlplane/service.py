"""The NVE service: signalling requests -> lifecycle -> records -> desired state -> switches.

One mutation at a time (a lock); a second request for a VM whose first is still in flight is
answered BUSY. Signalling requests queue for a group commit: the requests waiting when the
previous commit ends are planned one after the other (each sees the ones before it) and
committed as one mutation. A mutation updates the desired state (controlplane.intent.tracker,
in proportion to the change), writes the difference to every switch (switches that gain an
active VM first: make-before-break), commits the records to SQLite, and only then answers
SUCCESS. Any failure on the way rolls the switches back to the previous desired state and
answers FAIL: never half-installed. A group that fails is retried one request at a time, so each
request gets the answer it would have got alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace

from controlplane.config import ControllerConfig, HypervisorConfig, VnConfig, format_mac
from controlplane.intent import DesiredState, desired_state
from controlplane.intent.tracker import Delta, Intent
from controlplane.lifecycle import Event, InvalidTransition, Phase, State, is_aged_out, transition
from controlplane.model import VmRecord
from controlplane.p4rt.entries import Entry
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeRpcError
from controlplane.resources import MAX_VID, MIN_VID, choose_vap_id, choose_vid, vids_in_use
from controlplane.signalling.messages import (
    Answer,
    CounterView,
    FailReason,
    Notification,
    NotificationKind,
    PortView,
    Refused,
    Request,
    TableRow,
    TableView,
    VmRefRequest,
    VmRequest,
    VmView,
    VnSelector,
    VnView,
)
from controlplane.store.mapping import InProcessMapping, MappingAuthority, MappingUnavailable
from controlplane.store.sqlite import StoreError, VmStore
from controlplane.switch_agent import MANAGED_TABLES, SwitchAgent

log = logging.getLogger(__name__)

Key = tuple[str, str]          # (vm_id, hypervisor)
Changes = dict[Key, VmRecord | None]
NONE = Phase(State.NONE)


class NveService:
    """Implements controlplane.service_api.NveApi."""

    def __init__(self, cfg: ControllerConfig, store: VmStore, agents: Mapping[str, SwitchAgent],
                 capacities: Mapping[str, int], clock: Callable[[], float] = time.time,
                 mapping: MappingAuthority | None = None) -> None:
        self.cfg = cfg
        self.mapping = mapping or InProcessMapping({sw.name: sw.vtep_ip for sw in cfg.switches})
        self.store = store
        self.agents = dict(agents)
        self.capacities = dict(capacities)
        self.clock = clock
        self.records: dict[Key, VmRecord] = {(r.vm_id, r.hypervisor): r for r in store.load()}
        self.intent = self._new_intent()
        self._mutex = asyncio.Lock()
        self._in_flight: set[str] = set()
        self._queue: list[_Pending] = []
        self._committer: asyncio.Task[None] | None = None
        self._subscribers: dict[str, set[asyncio.Queue[Notification]]] = {}
        # (operation, result, seconds) of every signalling request, for metrics.
        self.on_outcome: Callable[[str, str, float], None] = lambda op, result, seconds: None

    async def reload(self) -> None:
        """Take the records from the store again, between two mutations (a backup controller
        taking over from the primary that wrote them)."""
        async with self._mutex:
            self.records = {(r.vm_id, r.hypervisor): r for r in self.store.load()}
            self.intent = self._new_intent()

    # -- desired state ------------------------------------------------------------------------
    def _new_intent(self) -> Intent:
        return Intent(self.cfg, [self.cfg.switch(name) for name in self.agents],
                      records=self.records.values(), external=self.mapping.locations(()))

    def refresh_locations(self) -> None:
        """Take other controllers' locations from the mapping authority again (after it listed
        them at start, before the switches are reconciled against the desired state)."""
        self.intent.set_external(self.mapping.locations(()))

    def desired(self, switch: str, records: Mapping[Key, VmRecord] | None = None) -> DesiredState:
        """The entries switch `switch` must hold for `records` (default: the current ones,
        kept up to date change by change)."""
        if records is None:
            return self.intent.state(switch)
        return desired_state(self.cfg, self.cfg.switch(switch), records.values(),
                             self.mapping.locations(()))

    # -- signalling ---------------------------------------------------------------------------
    async def signal(self, identity: str, request: Request) -> Answer:
        """Handle one hypervisor request; a refusal is an Answer, never an exception."""
        started = time.perf_counter()
        if request.vm_id in self._in_flight:
            answer = Answer(FailReason.BUSY, f"another request for VM {request.vm_id} is in flight")
            self.on_outcome(request.event.value, "busy", time.perf_counter() - started)
            return answer
        self._in_flight.add(request.vm_id)
        answer = await self._submit(identity, request)
        level = logging.INFO if answer.success else logging.WARNING
        log.log(level, "hypervisor=%s vm=%s %s -> %s%s", identity, request.vm_id,
                request.event.value, "SUCCESS" if answer.success else "FAIL",
                "" if answer.success else f" ({answer.reason.value}: {answer.detail})")  # type: ignore[union-attr]
        self.on_outcome(request.event.value,
                        "success" if answer.success else answer.reason.name.lower(),  # type: ignore[union-attr]
                        time.perf_counter() - started)
        return answer

    async def _submit(self, identity: str, request: Request) -> Answer:
        """Queue the request for the next group commit and wait for its answer (which comes
        even when the caller gave up waiting: the commit is never cut short)."""
        pending = _Pending(identity, request, asyncio.get_running_loop().create_future())
        # In flight until answered, even when the caller stops waiting first.
        pending.answer.add_done_callback(lambda _answer: self._in_flight.discard(request.vm_id))
        self._queue.append(pending)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued(), name="group-commit")
        return await asyncio.shield(pending.answer)

    async def _commit_queued(self) -> None:
        """Commit what is queued, all requests waiting at a time together: their changes go to
        each switch in one Write and to SQLite in one transaction, so a burst of requests costs
        little more than one. Requests that arrive meanwhile form the next group."""
        while self._queue:
            group, self._queue = self._queue, []
            try:
                async with self._mutex:
                    await self._commit_group(group)
            except Exception as exc:                  # a bug: fail this group, go on with the next
                log.exception("group commit of %d requests failed", len(group))
                for pending in group:
                    if not pending.answer.done():
                        pending.answer.set_exception(exc)

    async def _commit_group(self, group: list[_Pending]) -> None:
        planned: list[tuple[_Pending, Changes, list[Notification]]] = []
        working = dict(self.records)          # each request sees the ones planned before it
        for pending in group:
            try:
                changes, notes = self._plan(pending.identity, pending.request, working)
            except (Refused, InvalidTransition) as exc:
                pending.answer.set_result(_refusal(pending.request, exc))
                continue
            _apply(working, changes)
            planned.append((pending, changes, notes))
        if len(planned) == 1:
            pending, changes, notes = planned[0]
            pending.answer.set_result(await self._commit_one(pending, changes, notes))
            return
        if planned:
            merged: Changes = {}
            for _pending, changes, _notes in planned:
                merged.update(changes)        # disjoint: one request per VM in flight
            before = {key: self.records.get(key) for key in merged}
            try:
                await self._commit(merged, [n for _p, _c, notes in planned for n in notes])
            except Refused as refused:
                log.info("a group of %d requests was refused (%s): one at a time now",
                         len(planned), refused.detail)
            else:
                for pending, changes, _notes in planned:
                    pending.answer.set_result(
                        _success(pending.identity, pending.request, changes, before))
                return
        for pending, _changes, _notes in planned:
            try:
                changes, notes = self._plan(pending.identity, pending.request, self.records)
            except (Refused, InvalidTransition) as exc:
                pending.answer.set_result(_refusal(pending.request, exc))
                continue
            pending.answer.set_result(await self._commit_one(pending, changes, notes))

    async def _commit_one(self, pending: _Pending, changes: Changes,
                          notes: list[Notification]) -> Answer:
        before = {key: self.records.get(key) for key in changes}
        try:
            await self._commit(changes, notes)
        except Refused as refused:
            return _refusal(pending.request, refused)
        return _success(pending.identity, pending.request, changes, before)

    async def _handle(self, identity: str, request: Request) -> Answer:
        """Plan one request against the current records and commit it (Refused when it
        cannot be done)."""
        changes, notes = self._plan(identity, request, self.records)
        before = {key: self.records.get(key) for key in changes}
        await self._commit(changes, notes)
        return _success(identity, request, changes, before)

    def _plan(self, identity: str, request: Request,
              records: Mapping[Key, VmRecord]) -> tuple[Changes, list[Notification]]:
        """The record changes `request` asks for, given `records`; Refused or
        InvalidTransition when it cannot be done."""
        hv = self.cfg.hypervisor(identity)
        if hv is None:
            raise Refused(FailReason.FAILED_AUTHORIZATION,
                          f"hypervisor {identity!r} is not known to this NVE")
        now = self.clock()
        current = records.get((request.vm_id, identity))
        if isinstance(request, VmRefRequest):
            return self._ref_request(hv, request, current, now, records)
        return self._vm_request(hv, request, current, now, records)

    def _ref_request(self, hv: HypervisorConfig, request: VmRefRequest,
                     current: VmRecord | None, now: float,
                     records: Mapping[Key, VmRecord]) -> tuple[Changes, list[Notification]]:
        if current is None:
            owners = sorted({r.hypervisor for r in records.values()
                             if r.vm_id == request.vm_id})
            if owners:
                log.warning("hypervisor=%s touched VM %s of %s", hv.name, request.vm_id, owners)
                raise Refused(FailReason.FAILED_AUTHORIZATION,
                              f"VM {request.vm_id} belongs to hypervisor {owners[0]}, not {hv.name}")
            raise Refused(FailReason.INVALID_REQUEST, f"unknown VM {request.vm_id}")
        step = transition(current.phase, request.event)
        key = (current.vm_id, current.hypervisor)
        if step.phase.state is State.TERMINATED:
            return {key: None}, []
        if step.phase.active and not current.active:
            # A resumed copy must not run beside the copy that immigrated elsewhere meanwhile
            # (two active copies would want the same FDB entries).
            active = [r for r in records.values() if r.vm_id == current.vm_id
                      and r.hypervisor != current.hypervisor and r.active]
            if active:
                raise Refused(FailReason.CONFLICT_POLICIES,
                              f"VM {current.vm_id} is active at {active[0].switch} via "
                              f"{active[0].hypervisor}; to bring it back here, terminate this "
                              "copy and immigrate it")
        return {key: current.with_phase(step.phase, now)}, []

    def _vm_request(self, hv: HypervisorConfig, request: VmRequest, current: VmRecord | None,
                    now: float, records: Mapping[Key, VmRecord]
                    ) -> tuple[Changes, list[Notification]]:
        if request.event in (Event.PRE_ASSOCIATE, Event.ASSOCIATE):
            # Only Immigration moves a VM between hypervisors; a plain (pre-)association of a
            # VM another hypervisor holds would displace it.
            owners = sorted({r.hypervisor for r in records.values()
                             if r.vm_id == request.vm_id and r.hypervisor != hv.name})
            if owners:
                log.warning("hypervisor=%s refused: %s of VM %s, which belongs to %s",
                            hv.name, request.event.value, request.vm_id, owners)
                raise Refused(FailReason.FAILED_AUTHORIZATION,
                              f"VM {request.vm_id} belongs to hypervisor {owners[0]}, not "
                              f"{hv.name}; a VM changes hypervisor by immigration")
        vn = self._resolve_vn(request)
        if vn.name not in hv.vns:
            log.warning("hypervisor=%s refused: VN %s (VNI %d) not allowed", hv.name, vn.name,
                        vn.vni)
            raise Refused(FailReason.FAILED_AUTHORIZATION,
                          f"hypervisor {hv.name} may not join VN {vn.name} (VNI {vn.vni})")
        nve = request.nve or hv.switch
        if nve != hv.switch:
            raise Refused(FailReason.FAILED_AUTHORIZATION,
                          f"hypervisor {hv.name} is attached to {hv.switch}, not {nve}")
        nve = hv.switch                   # the configuration's string, shared by its records
        port = request.port or hv.ports[0]
        if port not in hv.ports:
            raise Refused(FailReason.FAILED_AUTHORIZATION,
                          f"hypervisor {hv.name} is not attached to {nve} port {port}")
        pcp = self._pcp(vn, request.vm_class)
        self._check_conflicts(request, vn, records)
        step = transition(current.phase if current else NONE, request.event)
        others = [r for r in records.values() if (r.vm_id, r.hypervisor) != (request.vm_id, hv.name)]
        same_place = current is not None and current.switch == nve and current.port == port
        vid = choose_vid(others, nve, port, request.vm_id, request.requested_vid,
                         current.vid if same_place else None)
        if current is not None and current.switch == nve:
            vap_id = current.vap_id
        else:
            vap_id = choose_vap_id(others, nve, self.capacities.get("port_vlan_to_vni", 8192))
        record = VmRecord(vm_id=request.vm_id, hypervisor=hv.name, switch=nve, port=port,
                          vni=vn.vni, macs=tuple(sorted(set(request.macs))),
                          ipv4=tuple(request.ipv4), ipv6=tuple(request.ipv6), vid=vid, pcp=pcp,
                          vap_id=vap_id, phase=step.phase, last_seen=now, origin=request.origin,
                          vm_class=request.vm_class)
        changes: Changes = {(record.vm_id, record.hypervisor): record}
        notes: list[Notification] = []
        if record.active:
            # The later association wins: any other active copy of the VM steps aside.
            for other in records.values():
                if other.vm_id == record.vm_id and other.hypervisor != hv.name and other.active:
                    changes[(other.vm_id, other.hypervisor)] = other.with_phase(
                        Phase(State.ASSOCIATED, emigrated=True), now)
                    notes.append(Notification(NotificationKind.DISPLACED, other.vm_id,
                                              other.hypervisor, new_nve=nve,
                                              detail=f"now active at {nve} via {hv.name}"))
        return changes, notes

    def _resolve_vn(self, request: VmRequest) -> VnConfig:
        if request.vn.vni is not None:
            vn = self.cfg.vn_by_vni(request.vn.vni)
            if vn is None:
                raise Refused(FailReason.INVALID_REQUEST, f"VNI {request.vn.vni} is not configured")
        else:
            vn = self.cfg.vn_by_name(request.vn.name or "")
            if vn is None:
                raise Refused(FailReason.INVALID_REQUEST, f"VN {request.vn.name!r} is not configured")
        return vn

    @staticmethod
    def _pcp(vn: VnConfig, vm_class: str) -> int:
        if not vm_class:
            return vn.default_pcp
        if vm_class not in vn.pcp_classes:
            raise Refused(FailReason.CONFLICT_POLICIES,
                          f"VM class {vm_class!r} has no PCP in VN {vn.name}; known: "
                          f"{sorted(vn.pcp_classes)}")
        return vn.pcp_classes[vm_class]

    def _check_conflicts(self, request: VmRequest, vn: VnConfig,
                         records: Mapping[Key, VmRecord]) -> None:
        wanted = set(request.macs)
        for other in records.values():
            if other.vm_id == request.vm_id:
                if other.vni != vn.vni and other.hypervisor != "":
                    if other.active or other.phase.emigrated:
                        raise Refused(FailReason.CONFLICT_POLICIES,
                                      f"VM {request.vm_id} is in VNI {other.vni} at "
                                      f"{other.switch}; it cannot join VNI {vn.vni}")
                continue
            if not wanted.isdisjoint(other.macs):
                clash = wanted.intersection(other.macs)
                raise Refused(FailReason.CONFLICT_POLICIES,
                              f"MAC {format_mac(min(clash))} is bound to VM {other.vm_id} "
                              f"(VNI {other.vni})")
        for loc in self.mapping.locations(()):      # other controllers' VMs (etcd), if any
            if loc.vm_id != request.vm_id and loc.mac in wanted:
                raise Refused(FailReason.CONFLICT_POLICIES,
                              f"MAC {format_mac(loc.mac)} is bound to VM {loc.vm_id} "
                              f"(VNI {loc.vni}) at {loc.switch or 'another NVE'}")

    # -- committing a change ------------------------------------------------------------------
    async def _commit(self, changes: Changes, notes: list[Notification]) -> None:
        proposed = dict(self.records)
        for key, record in changes.items():
            if record is None:
                proposed.pop(key, None)
            else:
                proposed[key] = record
        transitions = {key: (self.records.get(key), record) for key, record in changes.items()}
        deltas = self.intent.update(transitions)
        undo = {key: (after, before) for key, (before, after) in transitions.items()}
        try:
            self._check_capacity()
            await self.mapping.check(self.records, proposed)
        except MappingUnavailable as exc:
            self.intent.update(undo)
            raise Refused(FailReason.BUSY, str(exc)) from None
        except Refused:
            self.intent.update(undo)
            raise
        # Make-before-break: switches that gain an active VM first, then the others.
        gaining = [n for n in self.agents if self._gains_active(n, changes)]
        applied: list[str] = []
        stored = False
        try:
            for group in (gaining, [n for n in self.agents if n not in gaining]):
                applied += group
                await self._apply_deltas({n: deltas[n] for n in group})
            # In a worker thread: requests that arrive during the fsync (or a lock wait) are
            # received meanwhile and form the next group.
            await asyncio.to_thread(self.store.commit,
                                    [r for r in changes.values() if r is not None],
                                    [k for k, r in changes.items() if r is None])
            stored = True
            # Last: a claim on the shared mapping authority (etcd) is the commit point.
            await self.mapping.publish(self.records, proposed)
        except (P4RuntimeRpcError, P4ConnectionError, StoreError, MappingUnavailable) as exc:
            if stored:
                self._restore(changes)
            self.intent.update(undo)
            await self._roll_back(applied)
            raise Refused(self._reason_for(exc), str(exc)) from None
        self.records = proposed
        for note in notes:
            self._notify(note)

    async def _apply_deltas(self, deltas: Mapping[str, Delta]) -> None:
        """Write each switch's delta, the switches concurrently; the first error once all are
        done (no write is left running behind a roll-back)."""
        results = await asyncio.gather(
            *(self.agents[name].apply_delta(delta, lambda name=name: self.intent.state(name))
              for name, delta in deltas.items() if delta), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _restore(self, changes: Changes) -> None:
        """Put the changed records back in SQLite as they were (their publication failed)."""
        try:
            self.store.commit([self.records[k] for k in changes if k in self.records],
                              [k for k in changes if k not in self.records])
        except StoreError as exc:
            log.error("could not restore the records after a failed publication: %s", exc)

    async def sync_mapping(self) -> None:
        """The mapping authority's view changed (a watch event, a new lease, etcd back): step
        aside for our VMs another NVE claimed after us (emigrated here, DISPLACED to their
        hypervisor), publish what the authority lacks, and bring every switch's remote FDB
        entries and replication lists up to date."""
        async with self._mutex:
            if any(getattr(agent, "standby", False) and not agent.is_primary
                   for agent in self.agents.values()):
                return                            # a backup controller: the primary publishes
            now = self.clock()
            changes: Changes = {}
            notes: list[Notification] = []
            for moved in self.mapping.displaced(self.records.values()):
                for key, record in self.records.items():
                    if record.vm_id == moved.vm_id and record.active:
                        changes[key] = record.with_phase(Phase(State.ASSOCIATED, emigrated=True),
                                                         now)
                        notes.append(Notification(NotificationKind.DISPLACED, record.vm_id,
                                                  record.hypervisor, new_nve=moved.new_nve,
                                                  detail=moved.detail))
                        log.warning("hypervisor=%s vm=%s displaced: %s", record.hypervisor,
                                    record.vm_id, moved.detail)
            if changes:
                try:
                    await self._commit(changes, notes)
                except Refused as refused:
                    log.error("could not step aside for displaced VMs: %s", refused.detail)
            try:
                await self.mapping.reconcile(self.records)
            except MappingUnavailable as exc:
                log.warning("mapping authority not reconciled yet: %s", exc)
            deltas = self.intent.set_external(self.mapping.locations(()))
            for name, agent in self.agents.items():
                try:
                    await agent.apply_delta(deltas[name], lambda name=name: self.desired(name))
                except (P4RuntimeRpcError, P4ConnectionError) as exc:
                    log.warning("switch=%s remote locations not applied: %s", name, exc)

    def _gains_active(self, switch: str, changes: Changes) -> bool:
        return any(r is not None and r.switch == switch and r.active for r in changes.values())

    def _check_capacity(self) -> None:
        for name in self.agents:
            for table, count in self.intent.counts(name).items():
                limit = self.capacities.get(table)
                if limit is not None and count > limit:
                    raise Refused(FailReason.NON_SUFFICIENT_RESOURCES,
                                  f"table {table} on {name} would need {count} entries; "
                                  f"it holds {limit}")

    async def _roll_back(self, switches: list[str]) -> None:
        for name in reversed(switches):
            try:
                await self.agents[name].apply(self.desired(name))
            except (P4RuntimeRpcError, P4ConnectionError) as exc:
                # The agent re-read its tables; its watcher reconciles once the switch answers.
                log.error("switch=%s roll-back failed: %s", name, exc)

    @staticmethod
    def _reason_for(exc: Exception) -> FailReason:
        if isinstance(exc, P4RuntimeRpcError) and "RESOURCE_EXHAUSTED" in str(exc):
            return FailReason.NON_SUFFICIENT_RESOURCES
        return FailReason.BUSY

    # -- aging --------------------------------------------------------------------------------
    async def age_out(self) -> list[str]:
        """Terminate every VM silent for longer than the aging time; return their ids."""
        async with self._mutex:
            now = self.clock()
            expired = [r for r in self.records.values()
                       if is_aged_out(r.last_seen, now, self.cfg.aging_time)
                       and r.vm_id not in self._in_flight]
            if not expired:
                return []
            for record in expired:
                transition(record.phase, Event.AGE_OUT)
            changes: Changes = {(r.vm_id, r.hypervisor): None for r in expired}
            notes = [Notification(NotificationKind.AGED_OUT, r.vm_id, r.hypervisor)
                     for r in expired]
            await self._commit(changes, notes)
            for record in expired:
                log.info("hypervisor=%s vm=%s aged out -> terminated", record.hypervisor,
                         record.vm_id)
            return [r.vm_id for r in expired]

    # -- notifications ------------------------------------------------------------------------
    def _notify(self, note: Notification) -> None:
        for queue in self._subscribers.get(note.hypervisor, ()):
            queue.put_nowait(note)

    async def notifications(self, identity: str) -> AsyncIterator[Notification]:
        """NVE-initiated messages about `identity`'s VMs until the caller stops iterating."""
        queue: asyncio.Queue[Notification] = asyncio.Queue()
        self._subscribers.setdefault(identity, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[identity].discard(queue)

    # -- operators ----------------------------------------------------------------------------
    async def list_vms(self) -> list[VmView]:
        """Every VM record."""
        now = self.clock()
        return [VmView(vm_id=r.vm_id, hypervisor=r.hypervisor, nve=r.switch, port=r.port,
                       vni=r.vni, vn=self._vn_name(r.vni),
                       macs=tuple(format_mac(m) for m in r.macs),
                       ips=tuple([_ipv4_text(a) for a in r.ipv4] + list(r.ipv6)),
                       vid=r.vid, pcp=r.pcp, vap_id=r.vap_id, state=str(r.phase),
                       origin=r.origin.value, idle_seconds=round(now - r.last_seen, 1))
                for r in sorted(self.records.values(), key=lambda r: (r.switch, r.port, r.vid))]

    async def list_vns(self) -> list[VnView]:
        """Every configured VN with where it is in use."""
        views = []
        for vn in self.cfg.vns:
            members = [r for r in self.records.values() if r.vni == vn.vni]
            views.append(VnView(name=vn.name, vni=vn.vni, default_action=vn.default_action,
                                acl_rules=len(vn.acl), nves=tuple(sorted({r.switch for r in members})),
                                vms=len({r.vm_id for r in members})))
        return views

    async def list_ports(self) -> list[PortView]:
        """Access and network ports of every switch."""
        views = []
        records = list(self.records.values())
        pool = MAX_VID - MIN_VID + 1
        for sw in self.cfg.switches:
            for port in sw.access_ports:
                used = len(vids_in_use(records, sw.name, port))
                views.append(PortView(sw.name, port, "access", used, pool - used))
            for port in sw.network_ports:
                views.append(PortView(sw.name, port, "network", 0, 0))
        return views

    async def read_tables(self, nve: str, table: str | None) -> TableView:
        """Entries read back from a switch, with occupancy and capacity."""
        agent = self._agent(nve)
        if table is not None:
            table = _full_table_name(table)
        entries = await agent.client.read_table_entries(table)
        rows = tuple(TableRow(table=e.table.rsplit(".", 1)[-1], match=_match_text(e),
                              priority=e.priority, action=e.action.rsplit(".", 1)[-1],
                              params=", ".join(f"{k}={v}" for k, v in e.params))
                     for e in sorted(entries, key=lambda e: (e.table, repr(e.match))))
        occupancy = Counter(row.table for row in rows)
        return TableView(rows, dict(occupancy), dict(self.capacities))

    async def read_counters(self, nve: str) -> list[CounterView]:
        """Per-VAP counters of the switch's VMs and the drop counters."""
        from controlplane.p4rt import p4names as P  # noqa: PLC0415 - only operators need it

        agent = self._agent(nve)
        views: list[CounterView] = []
        for name, label in ((P.INGRESS_DROPS, "ingress drops"), (P.EGRESS_DROPS, "egress drops")):
            for index, (packets, nbytes) in sorted((await agent.client.read_counter(name)).items()):
                if packets:
                    views.append(CounterView(name.rsplit(".", 1)[-1], index, label, packets, nbytes))
        for record in sorted(self.records.values(), key=lambda r: r.vap_id):
            if record.switch != nve:
                continue
            for name in (P.VAP_RX, P.VAP_TX):
                packets, nbytes = (await agent.client.read_counter(name, record.vap_id))[record.vap_id]
                views.append(CounterView(name.rsplit(".", 1)[-1], record.vap_id,
                                         f"vm {record.vm_id}", packets, nbytes))
        return views

    async def set_vid(self, vm_id: str, vid: int) -> Answer:
        """Give the VM's active (or only) record another VID and tell its hypervisor."""
        async with self._mutex:
            try:
                record = self._operator_target(vm_id)
                others = [r for r in self.records.values() if r is not record]
                new_vid = choose_vid(others, record.switch, record.port, vm_id, vid, None)
                updated = replace(record, vid=new_vid)
                note = Notification(NotificationKind.VID_CHANGED, vm_id, record.hypervisor,
                                    old_vid=record.vid, new_vid=new_vid)
                await self._commit({(vm_id, record.hypervisor): updated}, [note])
            except Refused as refused:
                return Answer(refused.reason, refused.detail)
        log.info("operator: vm=%s VID %d -> %d", vm_id, record.vid, new_vid)
        return Answer(None, vid=new_vid, pcp=updated.pcp, state=str(updated.phase))

    async def migrate(self, vm_id: str, to_nve: str, to_port: int) -> Answer:
        """Make-before-break: Immigration(Pre-Asso) then Immigration(Asso) at the destination
        (which emigrates the source in the same step), then Termination at the source."""
        async with self._mutex:
            try:
                source = self._operator_target(vm_id)
                hv = next((h for h in self.cfg.hypervisors
                           if h.switch == to_nve and (not to_port or to_port in h.ports)
                           and self._vn_name(source.vni) in h.vns),
                          None)
                if hv is None:
                    raise Refused(FailReason.CONFLICT_POLICIES,
                                  f"no hypervisor on {to_nve} port {to_port or 'any'} may host "
                                  f"VNI {source.vni}")
                if hv.name == source.hypervisor:
                    raise Refused(FailReason.INVALID_REQUEST, f"VM {vm_id} is already there")
                request = VmRequest(Event.IMMIGRATE_PRE_ASSOCIATE, vm_id,
                                    vn=VnSelector(vni=source.vni), macs=source.macs,
                                    ipv4=source.ipv4, ipv6=source.ipv6, nve=to_nve,
                                    port=to_port or hv.ports[0], vm_class=source.vm_class)
                for event in (Event.IMMIGRATE_PRE_ASSOCIATE, Event.IMMIGRATE_ASSOCIATE):
                    await self._handle(hv.name, replace(request, event=event))
                await self._handle(source.hypervisor, VmRefRequest(Event.TERMINATE, vm_id))
            except Refused as refused:
                return Answer(refused.reason, refused.detail)
            except InvalidTransition as exc:
                return Answer(FailReason.INVALID_REQUEST, str(exc))
            moved = self.records[(vm_id, hv.name)]
        log.info("operator: vm=%s migrated %s -> %s", vm_id, source.switch, to_nve)
        return Answer(None, vid=moved.vid, pcp=moved.pcp, state=str(moved.phase))

    def _operator_target(self, vm_id: str) -> VmRecord:
        records = [r for r in self.records.values() if r.vm_id == vm_id]
        if not records:
            raise Refused(FailReason.INVALID_REQUEST, f"unknown VM {vm_id}")
        active = [r for r in records if r.active]
        return (active or records)[0]

    def _vn_name(self, vni: int) -> str:
        vn = self.cfg.vn_by_vni(vni)
        return vn.name if vn else f"vni-{vni}"

    def _agent(self, nve: str) -> SwitchAgent:
        if nve not in self.agents:
            raise Refused(FailReason.INVALID_REQUEST,
                          f"unknown NVE {nve!r}; known: {sorted(self.agents)}")
        return self.agents[nve]


@dataclass
class _Pending:
    """A signalling request waiting for its group commit."""

    identity: str
    request: Request
    answer: asyncio.Future[Answer]


def _apply(records: dict[Key, VmRecord], changes: Changes) -> None:
    for key, record in changes.items():
        if record is None:
            records.pop(key, None)
        else:
            records[key] = record


def _refusal(request: Request, exc: Exception) -> Answer:
    if isinstance(exc, Refused):
        return Answer(exc.reason, exc.detail)
    return Answer(FailReason.INVALID_REQUEST, f"VM {request.vm_id}: {exc}")


def _success(identity: str, request: Request, changes: Changes,
             before: Mapping[Key, VmRecord | None]) -> Answer:
    """Log the state changes of a committed request; its SUCCESS answer."""
    for (vm_id, hypervisor), changed in changes.items():
        prior = before.get((vm_id, hypervisor))
        log.info("hypervisor=%s vm=%s state=%s->%s", hypervisor, vm_id,
                 prior.phase if prior else NONE,
                 changed.phase if changed else State.TERMINATED.value)
    record = changes.get((request.vm_id, identity))
    if record is None:
        return Answer(None, state=State.TERMINATED.value)
    return Answer(None, vid=record.vid, pcp=record.pcp, state=str(record.phase))


def _full_table_name(name: str) -> str:
    """The P4 name of a table given its short name ('fdb') or its full name."""
    for full in MANAGED_TABLES:
        if name in (full, full.rsplit(".", 1)[-1]):
            return full
    raise Refused(FailReason.INVALID_REQUEST,
                  f"unknown table {name!r}; tables: {[t.rsplit('.', 1)[-1] for t in MANAGED_TABLES]}")


def _ipv4_text(value: int) -> str:
    return ".".join(str(value >> shift & 0xFF) for shift in (24, 16, 8, 0))


def _match_text(entry: Entry) -> str:
    parts = []
    for name, value in entry.match:
        fields = ",".join(f"{getattr(value, f):#x}" for f in value.__slots__)  # type: ignore[attr-defined]
        parts.append(f"{name}={type(value).__name__.lower()}({fields})")
    return " ".join(parts)
