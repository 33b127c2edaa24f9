"""Async P4Runtime client for one device, built on finsy's low-level `P4Client`.

finsy's `P4Client` gives the gRPC channel, the stub calls and the decoding of
per-update error details (`P4ClientError.details`). This layer adds explicit
arbitration (one election id, no silent retries), cookie-checked pipeline
setup, validation of whole batches before anything is sent, one WriteRequest
per batch with every failure reported, typed reads and packet I/O.

Usage::

    async with P4RuntimeClient() as client:
        await client.connect("127.0.0.1:9559", device_id=1, election_id=10)
        await client.set_pipeline("nve.p4info.txtpb", "nve.json")
        await client.write([Update(WriteOp.INSERT, entry)])
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from finsy.grpcutil import GRPCStatusCode
from finsy.p4client import P4Client, P4ClientError
from finsy.p4schema import P4RuntimeVersion
from finsy.proto import U128, p4r

from controlplane.p4rt.debug import dump
from controlplane.p4rt.entries import (
    CounterValue,
    DefaultAction,
    Entry,
    EntryKey,
    MulticastGroup,
    Update,
    ValueSet,
    WriteOp,
)
from controlplane.p4rt.errors import (
    P4ConnectionError,
    P4RuntimeRpcError,
    P4RuntimeWriteError,
    P4ValueError,
    WriteFailure,
)
from controlplane.p4rt.schema import DEFAULT_API_VERSION, PipelineSchema
from controlplane.p4rt.stream import PacketIn, StreamErrorReport, StreamSession

LOG = logging.getLogger(__name__)

_CONNECTION_CODES = frozenset(
    {GRPCStatusCode.UNAVAILABLE, GRPCStatusCode.CANCELLED, GRPCStatusCode.DEADLINE_EXCEEDED}
)


def _rpc_error(operation: str, ex: P4ClientError) -> P4ConnectionError | P4RuntimeRpcError:
    """Translate a finsy error: transport problems become P4ConnectionError."""
    if ex.code in _CONNECTION_CODES:
        return P4ConnectionError(f"{operation}: {ex.code.name}: {ex.message}")
    return P4RuntimeRpcError(operation, ex.code.name, ex.message)


class P4RuntimeClient:
    """P4Runtime client of one device: arbitration, pipeline, writes, reads, packet I/O."""

    def __init__(self, *, arbitration_timeout: float = 10.0, packet_queue_size: int = 1024) -> None:
        """Configure the client; `connect` opens the connection.

        `packet_queue_size` bounds the packet-ins waiting for `packet_in`
        consumers; further packets are dropped (and logged).
        """
        self._arbitration_timeout = arbitration_timeout
        self._packet_queue_size = packet_queue_size
        self._p4client: P4Client | None = None
        self._session: StreamSession | None = None
        self._schema: PipelineSchema | None = None
        self._device_id = 0
        self._role = ""
        self._api_version = DEFAULT_API_VERSION

    async def __aenter__(self) -> Self:
        """Return the client; connect with `connect`."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        await self.close()

    # -- connection ---------------------------------------------------------------

    async def connect(
        self, address: str, device_id: int, election_id: int, role: str | None = None
    ) -> None:
        """Open the channel and the stream, and arbitrate with `election_id`.

        Returns once the device answered the arbitration; `is_primary` tells
        the outcome. Fails fast (no waiting for the device to come up): raises
        P4ConnectionError when the device is unreachable, does not answer the
        arbitration in time, or `election_id` is already used.
        """
        if self._p4client is not None:
            raise P4ConnectionError("already connected; close() first")
        if election_id <= 0:
            raise P4ValueError(f"election id must be > 0, got {election_id}")
        self._device_id, self._role = device_id, role or ""
        self._p4client = P4Client(address, wait_for_ready=False)
        await self._p4client.open()
        try:
            self._api_version = await self._capabilities()
            self._session = StreamSession(
                self._p4client,
                device_id,
                self._role,
                self._decode_packet,
                self._packet_queue_size,
            )
            await self._session.arbitrate(election_id, self._arbitration_timeout)
        except BaseException:
            await self.close()
            raise
        LOG.info(
            "connected to %s device %d (P4Runtime %s), %s",
            address,
            device_id,
            self._api_version,
            "primary" if self.is_primary else "backup",
        )

    async def arbitrate(self, election_id: int) -> bool:
        """Arbitrate again on the open stream with `election_id`; return `is_primary`.

        A backup takes over this way when the device reports no primary
        (`arbitration_status` NOT_FOUND): the new id must be at least
        `primary_election_id`, the highest id the device has seen.
        """
        if election_id <= 0:
            raise P4ValueError(f"election id must be > 0, got {election_id}")
        await self._stream.arbitrate(election_id, self._arbitration_timeout)
        return self.is_primary

    async def _capabilities(self) -> P4RuntimeVersion:
        """Return the device's P4Runtime version (default when it does not say)."""
        try:
            reply = await self._client.request(p4r.CapabilitiesRequest())
        except P4ClientError as ex:
            if ex.code == GRPCStatusCode.UNIMPLEMENTED:
                return DEFAULT_API_VERSION
            raise _rpc_error("Capabilities", ex) from None
        try:
            return P4RuntimeVersion.parse(reply.p4runtime_api_version)
        except ValueError:
            return DEFAULT_API_VERSION

    async def close(self) -> None:
        """Close the stream and the channel; safe to call more than once."""
        if self._session is not None:
            await self._session.stop()
        if self._p4client is not None:
            await self._p4client.close()
        self._p4client = None

    @property
    def is_primary(self) -> bool:
        """True while the stream is up and the device says we are the primary."""
        return self._session is not None and self._session.alive and self._session.is_primary

    @property
    def primary_election_id(self) -> int | None:
        """Highest election id the device reported (the primary's, when there is one)."""
        return self._session.primary_election_id if self._session else None

    @property
    def arbitration_status(self) -> str:
        """Status of the last arbitration update: OK (primary), ALREADY_EXISTS or NOT_FOUND."""
        return self._session.arbitration_status if self._session else ""

    @property
    def stream_failure(self) -> str | None:
        """Why the stream ended by itself, or None while it is up (or was closed by us)."""
        return self._session.failure if self._session else None

    @property
    def stream_errors(self) -> tuple[StreamErrorReport, ...]:
        """StreamError reports sent by the device (e.g. refused packet-outs)."""
        return self._session.stream_errors if self._session else ()

    @property
    def schema(self) -> PipelineSchema:
        """The pipeline schema set by `set_pipeline`."""
        if self._schema is None:
            raise P4ValueError("no pipeline: call set_pipeline() first")
        return self._schema

    @property
    def _client(self) -> P4Client:
        """The open finsy client."""
        if self._p4client is None:
            raise P4ConnectionError("not connected")
        return self._p4client

    # -- pipeline -----------------------------------------------------------------

    async def get_pipeline_cookie(self) -> int | None:
        """Return the cookie of the device's pipeline, None when it has none."""
        request = p4r.GetForwardingPipelineConfigRequest(
            device_id=self._device_id,
            response_type=p4r.GetForwardingPipelineConfigRequest.COOKIE_ONLY,
        )
        dump("send", request)
        try:
            reply = await self._client.request(request)
        except P4ClientError as ex:
            if ex.is_pipeline_missing:
                return None
            raise _rpc_error("GetForwardingPipelineConfig", ex) from None
        dump("recv", reply)
        if not reply.config.HasField("cookie"):
            return None
        return int(reply.config.cookie.cookie)

    async def set_pipeline(
        self,
        p4info_path: str | Path,
        bmv2_json_path: str | Path | None,
        force: bool = False,
    ) -> bool:
        """Install the pipeline unless the device already runs it.

        Returns False, pushing nothing (so the device keeps its entries), when
        the device's cookie equals ours; True when the pipeline was pushed.
        The cookie hashes the P4Info and the device config (bmv2 JSON).
        """
        schema = PipelineSchema.load(p4info_path, bmv2_json_path)
        if not force and await self.get_pipeline_cookie() == schema.cookie:
            self._schema = schema
            LOG.info("device %d already runs pipeline %#x", self._device_id, schema.cookie)
            return False
        request = p4r.SetForwardingPipelineConfigRequest(
            device_id=self._device_id,
            role=self._role,
            election_id=U128.encode(self._stream.election_id),
            action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            config=schema.pipeline_config(),
        )
        dump("send", request)
        try:
            await self._client.request(request)
        except P4ClientError as ex:
            raise _rpc_error("SetForwardingPipelineConfig", ex) from None
        self._schema = schema
        LOG.info("device %d: pipeline %#x installed", self._device_id, schema.cookie)
        return True

    # -- writes -------------------------------------------------------------------

    async def write(self, updates: Sequence[Update]) -> None:
        """Validate `updates`, then send them as ONE WriteRequest.

        Raises P4NameError/P4ValueError before sending if any update is
        invalid, and P4RuntimeWriteError listing every failed update.
        """
        await self._send_batch(updates, self._encode_batch(updates))

    async def write_batches(self, batches: Sequence[Sequence[Update]]) -> None:
        """Validate every batch, then send them one after the other.

        Stops at the first failed batch; its P4RuntimeWriteError has
        `batch_index` set. Later batches are not sent.
        """
        encoded = [self._encode_batch(batch) for batch in batches]
        for index, (batch, msgs) in enumerate(zip(batches, encoded, strict=True)):
            try:
                await self._send_batch(batch, msgs)
            except P4RuntimeWriteError as ex:
                ex.batch_index = index
                raise

    def _encode_batch(self, updates: Sequence[Update]) -> list[p4r.Update]:
        """Validate and encode a batch."""
        return [self.schema.encode_update(update, self._api_version) for update in updates]

    async def _send_batch(self, updates: Sequence[Update], msgs: list[p4r.Update]) -> None:
        """Send one encoded batch and translate its errors."""
        if not msgs:
            return
        counts = Counter(update.op for update in updates)
        LOG.info(
            "device %d: write batch of %d updates (INSERT %d, MODIFY %d, DELETE %d)",
            self._device_id,
            len(msgs),
            counts[WriteOp.INSERT],
            counts[WriteOp.MODIFY],
            counts[WriteOp.DELETE],
        )
        request = p4r.WriteRequest(
            device_id=self._device_id,
            role=self._role,
            election_id=U128.encode(self._stream.election_id),
            updates=msgs,
        )
        dump("send", request)
        try:
            await self._client.request(request)
        except P4ClientError as ex:
            if not ex.details and ex.code in _CONNECTION_CODES:
                raise _rpc_error("Write", ex) from None
            failures = [
                WriteFailure(
                    index,
                    detail.canonical_code.name,
                    detail.message,
                    repr(updates[index]) if index < len(updates) else "<no such update>",
                )
                for index, detail in sorted(ex.details.items())
            ]
            raise P4RuntimeWriteError(ex.code.name, ex.message, failures, len(msgs)) from None

    # -- reads --------------------------------------------------------------------

    async def _read(self, entity: p4r.Entity) -> list[p4r.Entity]:
        """Send one ReadRequest and collect every entity of every response."""
        request = p4r.ReadRequest(device_id=self._device_id, role=self._role, entities=[entity])
        dump("send", request)
        entities: list[p4r.Entity] = []
        try:
            async for reply in self._client.request_iter(request):
                dump("recv", reply)
                entities.extend(reply.entities)
        except P4ClientError as ex:
            raise _rpc_error("Read", ex) from None
        return entities

    async def read_table_entries(self, table: str | None = None) -> list[Entry]:
        """Wildcard read of `table`'s entries (every table when None).

        Default entries and const entries (of a const table, or flagged
        ``is_const`` by the device) are left out: the controller cannot change
        them, so they are never part of a desired state.
        """
        schema = self.schema
        entries: list[Entry] = []
        for entity in await self._read(schema.table_read(table)):
            if schema.is_const_entry(entity.table_entry):
                continue
            entry = schema.decode_table_entry(entity.table_entry)
            if isinstance(entry, Entry):
                entries.append(entry)
        return entries

    async def read_default_entry(self, table: str) -> DefaultAction:
        """Read `table`'s default action."""
        for entity in await self._read(self.schema.default_read(table)):
            decoded = self.schema.decode_table_entry(entity.table_entry)
            if isinstance(decoded, DefaultAction):
                return decoded
        raise P4RuntimeRpcError(
            "Read", "NOT_FOUND", f"device returned no default entry for {table}"
        )

    async def read_counter(self, name: str, index: int | None = None) -> dict[int, CounterValue]:
        """Read indexed counter `name`: one cell, or every cell when `index` is None."""
        result: dict[int, CounterValue] = {}
        for entity in await self._read(self.schema.counter_read(name, index)):
            entry = entity.counter_entry
            result[entry.index.index] = CounterValue(entry.data.packet_count, entry.data.byte_count)
        return result

    async def read_direct_counters(self, table: str) -> dict[EntryKey, CounterValue]:
        """Read the direct counter of every entry of `table`, keyed by `Entry.key()`."""
        info = self.schema.direct_counter_table(table)
        result: dict[EntryKey, CounterValue] = {}
        for entity in await self._read(self.schema.table_read(info.name, counters=True)):
            entry = self.schema.decode_table_entry(entity.table_entry)
            if isinstance(entry, Entry):
                data = entity.table_entry.counter_data
                result[entry.key()] = CounterValue(data.packet_count, data.byte_count)
        return result

    # -- multicast ----------------------------------------------------------------

    async def insert_multicast_group(self, group: MulticastGroup) -> None:
        """Create a multicast group."""
        await self.write([Update(WriteOp.INSERT, group)])

    async def modify_multicast_group(self, group: MulticastGroup) -> None:
        """Replace the replicas of an existing multicast group."""
        await self.write([Update(WriteOp.MODIFY, group)])

    async def delete_multicast_group(self, group_id: int) -> None:
        """Delete a multicast group."""
        await self.write([Update(WriteOp.DELETE, MulticastGroup(group_id))])

    async def read_multicast_groups(self, group_id: int | None = None) -> list[MulticastGroup]:
        """Read one multicast group, or every group when `group_id` is None."""
        entity = p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=p4r.MulticastGroupEntry(multicast_group_id=group_id or 0)
            )
        )
        return [
            PipelineSchema.decode_multicast_group(
                e.packet_replication_engine_entry.multicast_group_entry
            )
            for e in await self._read(entity)
        ]

    # -- parser value sets ----------------------------------------------------------

    async def read_value_set(self, name: str) -> list[int]:
        """Read the members of single-field value set `name`, sorted."""
        members: set[int] = set()
        for entity in await self._read(self.schema.value_set_read(name)):
            members.update(self.schema.decode_value_set(entity.value_set_entry).members)
        return sorted(members)

    async def set_value_set(self, name: str, values: Iterable[int]) -> None:
        """Replace the members of single-field value set `name` (one MODIFY)."""
        await self.write([Update(WriteOp.MODIFY, ValueSet(name, values))])

    # -- packet I/O ---------------------------------------------------------------

    async def packet_out(self, payload: bytes, **metadata: int) -> None:
        """Send a packet to the device with the packet_out metadata given by name."""
        packet = self.schema.encode_packet_out(payload, metadata)
        await self._stream.send(p4r.StreamMessageRequest(packet=packet))

    async def packet_in(self) -> AsyncIterator[PacketIn]:
        """Yield (payload, metadata) packet-ins until the connection is closed.

        Raises P4ConnectionError if the stream fails.
        """
        async for packet in self._stream.packets():
            yield packet

    @property
    def _stream(self) -> StreamSession:
        """The stream session of the current connection."""
        if self._session is None:
            raise P4ConnectionError("not connected")
        return self._session

    def _decode_packet(self, packet: p4r.PacketIn) -> PacketIn:
        """Decode a packet-in with the current schema (no metadata before a pipeline)."""
        if self._schema is None:
            return PacketIn(packet.payload, {})
        return PacketIn(*self._schema.decode_packet_in(packet))
