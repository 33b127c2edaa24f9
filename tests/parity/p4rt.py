"""P4Runtime helpers shared by both targets: connect and program the scenario, collect
packet-ins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import CounterValue
from controlplane.p4rt.stream import PacketIn
from parity import scenario as S

BUILD = Path(__file__).resolve().parents[2] / "p4src" / "build"
P4INFO, BMV2_JSON = BUILD / "nve.p4info.txtpb", BUILD / "nve.json"
ELECTION_ID = 10


@contextlib.asynccontextmanager
async def programmed_client(address: str) -> AsyncIterator[P4RuntimeClient]:
    """A primary client of the device at ``address`` with the NVE pipeline and the scenario's
    entries written."""
    async with P4RuntimeClient(packet_queue_size=65536) as client:
        await client.connect(address, S.DEVICE_ID, ELECTION_ID)
        await client.set_pipeline(P4INFO, BMV2_JSON, force=True)
        await client.write_batches(S.updates())
        yield client


async def counter_snapshot(client: P4RuntimeClient) -> dict[str, CounterValue]:
    """Every non-zero cell of every indexed and direct counter, keyed by a readable name."""
    p4info = client.schema.p4info
    cells: dict[str, CounterValue] = {}
    for counter in p4info.counters:
        name = counter.preamble.name
        for index, value in (await client.read_counter(name)).items():
            cells[f"{name}[{index}]"] = value
    for table in p4info.tables:
        if table.direct_resource_ids:
            name = table.preamble.name
            for (_, match, priority), value in (await client.read_direct_counters(name)).items():
                cells[f"{name} {dict(match)} priority {priority}"] = value
    return {key: value for key, value in cells.items() if value != (0, 0)}


class PacketInCollector:
    """Hands every packet-in of ``client`` to ``deliver`` until stopped."""

    def __init__(self, client: P4RuntimeClient, deliver: Callable[[PacketIn], None]) -> None:
        self._task = asyncio.create_task(self._collect(client, deliver), name="packet-ins")

    @staticmethod
    async def _collect(client: P4RuntimeClient, deliver: Callable[[PacketIn], None]) -> None:
        async for packet in client.packet_in():
            deliver(packet)

    async def stop(self) -> None:
        """Stop collecting."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
