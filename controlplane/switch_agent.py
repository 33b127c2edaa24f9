"""One switch: connection, pipeline, what is installed, and writing the difference.

The agent believes `installed` only as far as it has read it back or written it without error.
At start, after a write error and after the switch came back from a restart, it reads the tables
back and reconciles them against the desired state: adds what is missing, removes what is stale,
never duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.config import SwitchConfig
from controlplane.intent import DesiredState
from controlplane.p4rt import p4names as P
from controlplane.p4rt.batcher import batches
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.diff import diff
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
                 election_id: int = 1) -> None:
        self.config = config
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

    async def connect(self) -> None:
        """Connect as primary, push the pipeline unless it already runs, read the tables back."""
        self.client = P4RuntimeClient()
        await self.client.connect(self.config.grpc_addr, device_id=self.config.device_id,
                                  election_id=self.election_id)
        if not self.client.is_primary:
            await self.client.close()
            raise P4ConnectionError(f"{self.name}: another controller is primary")
        if await self.client.set_pipeline(self.p4info, self.bmv2_json):
            self.pipeline_pushes += 1
            log.info("switch=%s pipeline pushed", self.name)
        await self.read_back()
        self.connected = True

    async def close(self) -> None:
        """Disconnect."""
        self.connected = False
        await self.client.close()

    async def read_back(self) -> None:
        """Replace what we believe is installed with what the switch says."""
        entries: set[Entry | MulticastGroup] = set()
        for table in MANAGED_TABLES:
            entries.update(await self.client.read_table_entries(table))
        entries.update(await self.client.read_multicast_groups())
        self.installed = entries

    async def apply(self, desired: DesiredState) -> int:
        """Write the difference between desired and installed; return the number of updates.

        On a write error the tables are read back (so `installed` is true again) and the error
        is raised for the caller to roll back.
        """
        async with self.lock:
            changes = diff(desired.entries | desired.groups, self.installed)
            if not changes:
                return 0
            try:
                await self.client.write_batches(batches(changes))
            except P4RuntimeRpcError:
                await self.read_back()
                raise
            self.installed = set(desired.entries | desired.groups)
            self.stats.batches += len(batches(changes))
            self.stats.updates += len(changes)
            for kind, count in changes.counts().items():
                self.stats.by_kind[kind] += count
            log.info("switch=%s wrote %s", self.name, changes.counts())
            return len(changes)

    async def watch(self, desired: Callable[[], DesiredState], retry: float = 0.5) -> None:
        """Forever: notice a lost connection or a switch that lost its pipeline, reconnect,
        restore pipeline and entries from the desired state."""
        while True:
            await asyncio.sleep(retry)
            if self.connected and await self._healthy():
                continue
            self.connected = False
            try:
                await self.client.close()
                await self.connect()
                written = await self.apply(desired())
                log.warning("switch=%s recovered: %d updates restored", self.name, written)
            except (P4ConnectionError, P4RuntimeRpcError, OSError) as exc:
                log.info("switch=%s unavailable: %s", self.name, exc)

    async def _healthy(self) -> bool:
        """The stream is up and the switch still runs our pipeline."""
        if self.client.stream_failure is not None:
            log.warning("switch=%s stream failed: %s", self.name, self.client.stream_failure)
            return False
        try:
            cookie = await self.client.get_pipeline_cookie()
        except (P4ConnectionError, P4RuntimeRpcError) as exc:
            log.warning("switch=%s does not answer: %s", self.name, exc)
            return False
        if cookie != self.client.schema.cookie:
            log.warning("switch=%s lost its pipeline (cookie %s)", self.name, cookie)
            return False
        return True
