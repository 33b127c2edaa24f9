"""A blocking facade over the asyncio P4RuntimeClient, for PTF tests (which are synchronous).

The client lives on an event loop in a background thread; each call is scheduled there and
waited for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import Entry, Update

T = TypeVar("T")
CALL_TIMEOUT = 30.0


class SyncP4Client:
    """Connects as primary on construction; close() disconnects."""

    def __init__(self, address: str, device_id: int, election_id: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="p4rt-loop",
                                        daemon=True)
        self._thread.start()
        self.client = P4RuntimeClient()
        self._run(self.client.connect(address, device_id=device_id, election_id=election_id))

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def set_pipeline(self, p4info: str, config: str) -> bool:
        """Push the pipeline unless the device already runs it; True when pushed."""
        return self._run(self.client.set_pipeline(p4info, config))

    def write(self, updates: Sequence[Update]) -> None:
        """One Write batch."""
        self._run(self.client.write(list(updates)))

    def read_table_entries(self, table: str | None = None) -> list[Entry]:
        """Wildcard read of one table (or all)."""
        return self._run(self.client.read_table_entries(table))

    def read_counter(self, name: str, index: int) -> tuple[int, int]:
        """(packets, bytes) of one cell of an indexed counter."""
        return self._run(self.client.read_counter(name, index))[index]

    def read_direct_counter(self, entry: Entry) -> tuple[int, int]:
        """(packets, bytes) of one table entry's direct counter."""
        counters = self._run(self.client.read_direct_counters(entry.table))
        return counters[entry.key()]

    def packet_out(self, payload: bytes, **metadata: int) -> None:
        """Send a frame through the CPU port."""
        self._run(self.client.packet_out(payload, **metadata))

    def packet_in(self, timeout: float = 2.0) -> tuple[bytes, dict[str, int]] | None:
        """The next packet-in, or None when none arrives within `timeout`."""
        async def next_packet() -> tuple[bytes, dict[str, int]] | None:
            try:
                return await asyncio.wait_for(anext(aiter(self.client.packet_in())), timeout)
            except asyncio.TimeoutError:
                return None
        return self._run(next_packet(), timeout + 5)

    def close(self) -> None:
        """Disconnect and stop the loop thread."""
        try:
            self._run(self.client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
