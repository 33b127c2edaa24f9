"""One switch: connection, pipeline, what is installed, and writing the difference.

The agent believes `installed` only as far as it has read it back or written it without error.
At start, after a write error and after the switch came back from a restart, it reads the tables
back and reconciles them against the desired state: adds what is missing, removes what is stale,
never duplicates.

A `standby` agent (a backup controller) may connect while another controller is primary: it stays
connected as a backup and writes nothing. When the switch reports that no controller is primary
any more (the primary died), it arbitrates again with an election id above the highest the
switch has seen, becomes primary and hands over to `on_primary` (or restores the desired state).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.config import SwitchConfig
from controlplane.intent import DesiredState
from controlplane.intent.tracker import Delta
from controlplane.p4rt import p4names as P
from controlplane.p4rt.batcher import batches
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.diff import Diff, diff
from controlplane.p4rt.entries import Entry, MulticastGroup
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeRpcError

log = logging.getLogger(__name__)

MANAGED_TABLES = (P.PORT_ROLE, P.PUNT, P.PORT_VLAN_TO_VNI, P.VAP_SRC_MAC, P.LOCAL_VTEP, P.DSCP_TO_PCP, P.VN,
                  P.ACL, P.FDB, P.UNDERLAY_ROUTE, P.FLOOD_REPLICA, P.PCP_TO_DSCP)


@dataclass
class WriteStats:
    """Updates written to one switch since start, for metrics and tests."""

    batches: int = 0
    updates: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: {"insert": 0, "modify": 0,
                                                             "delete": 0})


class SwitchAgent:
    """Keeps one switch's tables equal to the desired state the controller hands it."""

    def __init__(self, config: SwitchConfig, p4info: Path, bmv2_json: Path,
                 election_id: int = 1, standby: bool = False) -> None:
        self.config = config
        self.standby = standby
        self.takeovers = 0
        self._converging = False      # primary again, entries not restored yet
        self.p4info = p4info
        self.bmv2_json = bmv2_json
        self.election_id = election_id
        self.client = P4RuntimeClient()
        self.installed: set[Entry | MulticastGroup] = set()
        self.stats = WriteStats()
        self.pipeline_pushes = 0
        self.lock = asyncio.Lock()
        self.connected = False

    @property
    def name(self) -> str:
        """The switch's name from the config."""
        return self.config.name

    @property
    def is_primary(self) -> bool:
        """Connected, the switch says this agent is its primary controller, and the entries are
        restored (False while a take-over or a reconnection is still converging)."""
        return self.connected and self.client.is_primary and not self._converging

    async def connect(self) -> None:
        """Connect as primary, push the pipeline unless it already runs, read the tables back.

        A standby agent that finds another primary stays connected as a backup instead."""
        self.client = P4RuntimeClient()
        await self.client.connect(self.config.grpc_addr, device_id=self.config.device_id,
                                  election_id=self.election_id)
        if not self.client.is_primary:
            if self.standby:
                self.connected = True
                log.info("switch=%s connected as backup (election id %d, primary's %s)",
                         self.name, self.election_id, self.client.primary_election_id)
                return
            await self.client.close()
            raise P4ConnectionError(f"{self.name}: another controller is primary")
        await self._prepare()
        self.connected = True

    async def _prepare(self) -> None:
        """As primary: push the pipeline unless it already runs, read the tables back."""
        if await self.client.set_pipeline(self.p4info, self.bmv2_json):
            self.pipeline_pushes += 1
            log.info("switch=%s pipeline pushed", self.name)
        await self.read_back()

    async def take_over(self) -> bool:
        """A connected standby backup: become primary if the switch has none, push the pipeline
        if missing and read the tables back; True if it is primary. The caller restores.

        P4Runtime lets a controller become primary with an election id at least as high as the
        highest the switch has seen, so arbitrate above it. (bmv2 promotes the highest live
        backup by itself; then there is nothing to arbitrate.)
        """
        if not self.client.is_primary:
            if self.client.arbitration_status != "NOT_FOUND":
                return False                              # a primary is alive
            highest = self.client.primary_election_id or 0
            self.election_id = max(int(time.time() * 1000), highest + 1)
            if not await self.client.arbitrate(self.election_id):
                return False
            log.warning("switch=%s: primary gone; took over with election id %d", self.name,
                        self.election_id)
        await self._prepare()
        return True

    async def close(self) -> None:
        """Disconnect."""
        self.connected = False
        await self.client.close()

    async def read_back(self) -> None:
        """Replace what we believe is installed with what the switch says."""
        # One wildcard Read for every table: one round trip instead of one per table.
        managed = set(MANAGED_TABLES)
        entries: set[Entry | MulticastGroup] = {
            e for e in await self.client.read_table_entries() if e.table in managed}
        entries.update(await self.client.read_multicast_groups())
        self.installed = entries

    async def apply(self, desired: DesiredState) -> int:
        """Write the difference between desired and installed; return the number of updates.

        On a write error the tables are read back (so `installed` is true again) and the error
        is raised for the caller to roll back.
        """
        async with self.lock:
            self._check_writable()
            return await self._write_whole(desired)

    async def apply_delta(self, delta: Delta, desired: Callable[[], DesiredState]) -> int:
        """Write what a change did to the desired state (`delta`: items no longer wanted, new
        items): in proportion to the change, not to the tables. When the delta does not fit what
        is installed (a write failed or the switch changed behind our back since), fall back to
        the whole `desired()` state. Errors as in `apply`."""
        async with self.lock:
            self._check_writable()
            removed, added = set(delta.removed), set(delta.added)
            kept = removed & added
            removed -= kept
            added -= kept
            if not removed <= self.installed or not self.installed.isdisjoint(added):
                log.warning("switch=%s: installed entries differ from what the controller "
                            "expected; writing the whole difference", self.name)
                return await self._write_whole(desired())
            written = await self._write(diff(added, removed))
            self.installed -= removed
            self.installed |= added
            return written

    async def _write_whole(self, desired: DesiredState) -> int:
        """Write the difference between all of `desired` and what is installed (lock held)."""
        wanted = desired.entries | desired.groups
        written = await self._write(diff(wanted, self.installed))
        # Also when nothing was written: the desired state's items replace equal ones read
        # back, so the two share one copy of each entry.
        self.installed = self._as_written(wanted)
        return written

    def _check_writable(self) -> None:
        if not self.connected:
            raise P4ConnectionError(f"switch {self.name} is not connected; the controller "
                                    "restores it when it answers again")
        if self.standby and not self.client.is_primary:
            raise P4ConnectionError(
                f"switch {self.name}: this controller is a backup (the primary has election "
                f"id {self.client.primary_election_id}); it writes nothing")

    async def _write(self, changes: Diff) -> int:
        """Send `changes`; on an error read the tables back and raise."""
        if not changes:
            return 0
        writes = batches(changes)
        try:
            await self.client.write_batches(writes)
        except P4RuntimeRpcError:
            await self.read_back()
            raise
        self.stats.batches += len(writes)
        self.stats.updates += len(changes)
        for kind, count in changes.counts().items():
            self.stats.by_kind[kind] += count
        log.info("switch=%s wrote %s", self.name, changes.counts())
        return len(changes)

    def _as_written(self, wanted: frozenset[Entry | MulticastGroup]) -> set[Entry | MulticastGroup]:
        """What the switch holds once `diff` wrote `wanted`: one item per key, the one `diff`
        kept. Two wanted items with one key are a bug upstream: say so, but believe the truth."""
        by_key: dict[tuple[object, ...], Entry | MulticastGroup] = {}
        for item in wanted:                   # the same iteration as diff's: the same winner
            by_key[("entry", *item.key()) if isinstance(item, Entry)
                   else ("group", item.group_id)] = item
        if len(by_key) != len(wanted):
            log.error("switch=%s: the desired state has %d items with a key used twice",
                      self.name, len(wanted) - len(by_key))
        return set(by_key.values())

    async def watch(self, desired: Callable[[], DesiredState], retry: float = 0.5,
                    on_primary: Callable[[SwitchAgent], Awaitable[None]] | None = None) -> None:
        """Forever: notice a lost connection or a switch that lost its pipeline, reconnect,
        restore pipeline and entries from the desired state.

        Standby: while a backup, take over when the primary is gone; once primary (by take-over
        or on reconnecting) `on_primary(self)` restores the entries (default: apply desired())."""
        was_primary = self.is_primary
        while True:
            await asyncio.sleep(retry)
            try:
                if self.standby and self.connected and self.client.stream_failure is None:
                    if not self.client.is_primary:
                        if was_primary:
                            log.warning("switch=%s: another controller became primary; now a "
                                        "backup", self.name)
                        was_primary = self._converging = False
                        if self.client.arbitration_status != "NOT_FOUND":
                            continue                          # a primary is alive
                    if not was_primary or self._converging:   # orphaned, or promoted (bmv2)
                        self._converging = True
                        if await self.take_over():
                            was_primary = True
                            written = await self._restore(desired, on_primary)
                            self._converging = False
                            self.takeovers += 1
                            log.warning("switch=%s: primary, %d updates to converge", self.name,
                                        written)
                        continue
                if self.connected and await self._healthy():
                    if self._converging and self.client.is_primary:   # the restore failed
                        written = await self._restore(desired, on_primary)
                        self._converging = False
                        log.warning("switch=%s recovered: %d updates restored", self.name,
                                    written)
                    continue
            except (P4ConnectionError, P4RuntimeRpcError, OSError) as exc:
                log.info("switch=%s not restored yet: %s", self.name, exc)
                continue
            self.connected = False
            try:
                await self.client.close()
                self._converging = True
                await self.connect()
                was_primary = self.client.is_primary
                if was_primary:
                    written = await self._restore(desired, on_primary)
                    log.warning("switch=%s recovered: %d updates restored", self.name, written)
                self._converging = False
            except (P4ConnectionError, P4RuntimeRpcError, OSError) as exc:
                log.info("switch=%s unavailable: %s", self.name, exc)

    async def _restore(self, desired: Callable[[], DesiredState],
                       on_primary: Callable[[SwitchAgent], Awaitable[None]] | None) -> int:
        """Make the switch hold the desired state now that this agent is primary."""
        if self.standby and on_primary is not None:
            before = self.stats.updates
            await on_primary(self)
            return self.stats.updates - before
        return await self.apply(desired())

    async def _healthy(self) -> bool:
        """The stream is up and the switch still runs our pipeline."""
        if self.client.stream_failure is not None:
            log.warning("switch=%s stream failed: %s", self.name, self.client.stream_failure)
            return False
        if self.standby and not self.client.is_primary:
            return True                           # a backup has no pipeline of its own to check
        try:
            cookie = await self.client.get_pipeline_cookie()
        except (P4ConnectionError, P4RuntimeRpcError) as exc:
            log.warning("switch=%s does not answer: %s", self.name, exc)
            return False
        if cookie != self.client.schema.cookie:
            log.warning("switch=%s lost its pipeline (cookie %s)", self.name, cookie)
            return False
        return True
