"""The Write RPC: apply a batch of updates to a pipeline, with per-update results.

Every applied update returns an undo function, so ROLLBACK_ON_ERROR can restore the state.
The whole batch runs under the engine lock, and the engine takes that lock per packet, so
no packet sees a partial batch; that makes ROLLBACK_ON_ERROR also DATAPLANE_ATOMIC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from finsy.proto import p4r

from softswitch.server.bytestrings import decode_uint
from softswitch.server.codec import check_priority, decode_action, decode_match, decode_member
from softswitch.server.engine_api import EngineModule, TableLike
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.pipeline import EntryExtras, EntryKey, GroupExtras, Pipeline
from softswitch.server.schema import TableSpec

LOGGER = logging.getLogger(__name__)

Undo = Callable[[], None]
UpdateType = p4r.Update.Type
Atomicity = p4r.WriteRequest.Atomicity

PORT_BITWIDTH = 9
"""v1model ``standard_metadata.egress_spec`` width: the largest valid port is 511."""
INSTANCE_BITWIDTH = 16
"""v1model ``egress_rid`` width."""


def _nothing() -> None:
    """Undo of an update that changed nothing."""


def engine_error(engine: EngineModule, exc: Exception) -> P4RuntimeError:
    """Map an engine exception to the canonical P4Runtime error."""
    for kind, code in (
        (engine.DuplicateEntry, Code.ALREADY_EXISTS),
        (engine.EntryNotFound, Code.NOT_FOUND),
        (engine.TableFull, Code.RESOURCE_EXHAUSTED),
        (engine.InvalidEntry, Code.INVALID_ARGUMENT),
        (engine.UnsupportedConstruct, Code.UNIMPLEMENTED),
    ):
        if isinstance(exc, kind):
            return P4RuntimeError(code, str(exc))
    return P4RuntimeError(Code.INTERNAL, f"engine error: {exc}")


def write_batch(
    engine: EngineModule, pipeline: Pipeline, updates: Sequence[p4r.Update], atomicity: int
) -> list[P4RuntimeError | None]:
    """Apply ``updates``; returns one result per update (None for success).

    CONTINUE_ON_ERROR attempts every update. ROLLBACK_ON_ERROR and DATAPLANE_ATOMIC stop at
    the first error, undo what was applied and report ABORTED for every other update.
    """
    writer = _Writer(engine, pipeline)
    results: list[P4RuntimeError | None] = []
    undos: list[Undo] = []
    with pipeline.switch.lock:
        for index, update in enumerate(updates):
            try:
                undos.append(writer.apply(update))
                results.append(None)
            except P4RuntimeError as exc:
                LOGGER.debug("update %d failed: %s", index, exc.message)
                results.append(exc)
                if atomicity == Atomicity.CONTINUE_ON_ERROR:
                    continue
                for undo in reversed(undos):
                    undo()
                aborted = P4RuntimeError(Code.ABORTED, "batch rolled back")
                return [exc if i == index else aborted for i in range(len(updates))]
    return results


class _Writer:
    """Applies single updates to one pipeline."""

    def __init__(self, engine: EngineModule, pipeline: Pipeline) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.schema = pipeline.schema
        self.switch = pipeline.switch

    def apply(self, update: p4r.Update) -> Undo:
        """Apply one update and return its undo; raises P4RuntimeError."""
        if update.type not in (UpdateType.INSERT, UpdateType.MODIFY, UpdateType.DELETE):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "update type is not set")
        entity = update.entity
        kind = entity.WhichOneof("entity")
        try:
            match kind:
                case "table_entry":
                    return self._table_entry(update.type, entity.table_entry)
                case "counter_entry":
                    return self._counter_entry(update.type, entity.counter_entry)
                case "direct_counter_entry":
                    return self._direct_counter_entry(update.type, entity.direct_counter_entry)
                case "packet_replication_engine_entry":
                    return self._pre_entry(update.type, entity.packet_replication_engine_entry)
                case "value_set_entry":
                    return self._value_set_entry(update.type, entity.value_set_entry)
                case None:
                    raise P4RuntimeError(Code.INVALID_ARGUMENT, "entity is not set")
                case _:
                    raise P4RuntimeError(Code.UNIMPLEMENTED, f"writing {kind} is not supported")
        except self.engine.EngineError as exc:
            raise engine_error(self.engine, exc) from exc

    # -- table entries -------------------------------------------------------------------

    def _table_entry(self, update_type: int, entry: p4r.TableEntry) -> Undo:
        table = self.schema.table(entry.table_id)
        if update_type != UpdateType.DELETE:
            _check_entry_fields(table, entry)
        engine_table = self.switch.table(table.name)
        if entry.is_default_action:
            return self._default_entry(update_type, table, engine_table, entry)
        if table.is_const and (update_type != UpdateType.MODIFY or entry.HasField("action")):
            raise P4RuntimeError(Code.PERMISSION_DENIED, f"table {table.name!r} is const")
        if not table.fields and update_type == UpdateType.INSERT:
            raise P4RuntimeError(Code.INVALID_ARGUMENT, f"table {table.name!r} is keyless")
        match = decode_match(self.engine, table, entry.match)
        priority = check_priority(table, entry.priority)
        if update_type == UpdateType.INSERT:
            return self._insert(table, engine_table, entry, match, priority)
        if update_type == UpdateType.MODIFY:
            return self._modify(table, engine_table, entry, match, priority)
        return self._delete(table, engine_table, match, priority)

    def _insert(
        self,
        table: TableSpec,
        engine_table: TableLike,
        entry: p4r.TableEntry,
        match: tuple[Any, ...],
        priority: int,
    ) -> Undo:
        if not entry.HasField("action"):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "action must be set for INSERT")
        name, args = decode_action(self.schema, table, entry.action, default=False)
        key: EntryKey = (table.name, match, priority)
        engine_table.insert(self.engine.TableEntry(match, priority, name, args))
        if entry.HasField("counter_data"):
            data = entry.counter_data
            engine_table.set_direct_counter(match, priority, data.packet_count, data.byte_count)
        self.pipeline.entry_extras[key] = EntryExtras(entry.controller_metadata, entry.metadata)

        def undo() -> None:
            engine_table.delete(match, priority)
            self.pipeline.entry_extras.pop(key, None)

        return undo

    def _modify(
        self,
        table: TableSpec,
        engine_table: TableLike,
        entry: p4r.TableEntry,
        match: tuple[Any, ...],
        priority: int,
    ) -> Undo:
        key: EntryKey = (table.name, match, priority)
        old = engine_table.get(match, priority)
        if old is None:
            raise P4RuntimeError(Code.NOT_FOUND, f"table {table.name!r}: entry not found")
        old_extras = self.pipeline.entry_extras.get(key)
        old_counter = (
            engine_table.direct_counter(match, priority) if table.direct_counter_id else None
        )
        if entry.HasField("action"):
            name, args = decode_action(self.schema, table, entry.action, default=False)
            engine_table.modify(self.engine.TableEntry(match, priority, name, args))
            self.pipeline.entry_extras[key] = EntryExtras(entry.controller_metadata, entry.metadata)
        if entry.HasField("counter_data"):
            data = entry.counter_data
            engine_table.set_direct_counter(match, priority, data.packet_count, data.byte_count)

        def undo() -> None:
            engine_table.modify(old)
            if old_counter is not None:
                engine_table.set_direct_counter(match, priority, *old_counter)
            if old_extras is not None:
                self.pipeline.entry_extras[key] = old_extras

        return undo

    def _delete(
        self, table: TableSpec, engine_table: TableLike, match: tuple[Any, ...], priority: int
    ) -> Undo:
        key: EntryKey = (table.name, match, priority)
        old = engine_table.get(match, priority)
        if old is None:
            raise P4RuntimeError(Code.NOT_FOUND, f"table {table.name!r}: entry not found")
        old_counter = (
            engine_table.direct_counter(match, priority)
            if engine_table.info.direct_counter
            else None
        )
        engine_table.delete(match, priority)
        old_extras = self.pipeline.entry_extras.pop(key, None)

        def undo() -> None:
            engine_table.insert(old)
            if old_counter is not None:
                engine_table.set_direct_counter(match, priority, *old_counter)
            if old_extras is not None:
                self.pipeline.entry_extras[key] = old_extras

        return undo

    def _default_entry(
        self, update_type: int, table: TableSpec, engine_table: TableLike, entry: p4r.TableEntry
    ) -> Undo:
        if update_type != UpdateType.MODIFY:
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "the default entry can only be modified")
        if entry.match or entry.priority:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, "default entry must have no match and priority 0"
            )
        if table.const_default_action_id:
            raise P4RuntimeError(
                Code.PERMISSION_DENIED, f"table {table.name!r} has a const default action"
            )
        if entry.HasField("counter_data"):
            raise P4RuntimeError(
                Code.UNIMPLEMENTED, "direct counter of a default entry is not supported"
            )
        key: EntryKey = (table.name, None, 0)
        old_action, old_args = engine_table.get_default()
        old_extras = self.pipeline.entry_extras.get(key)
        if entry.HasField("action"):
            name, args = decode_action(self.schema, table, entry.action, default=True)
            engine_table.set_default(name, args)
            self.pipeline.entry_extras[key] = EntryExtras(entry.controller_metadata, entry.metadata)
        else:
            engine_table.reset_default()
            self.pipeline.entry_extras.pop(key, None)

        def undo() -> None:
            engine_table.set_default(old_action, old_args)
            if old_extras is None:
                self.pipeline.entry_extras.pop(key, None)
            else:
                self.pipeline.entry_extras[key] = old_extras

        return undo

    # -- counters ------------------------------------------------------------------------

    def _counter_entry(self, update_type: int, entry: p4r.CounterEntry) -> Undo:
        spec = self.schema.counter(entry.counter_id)
        if update_type != UpdateType.MODIFY:
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "counter entries can only be modified")
        indexes = (
            [counter_index(entry.index.index, spec.size)]
            if entry.HasField("index")
            else range(spec.size)
        )
        if not entry.HasField("data"):
            return _nothing
        array = self.switch.counter(spec.name)
        old = [(index, array.read(index)) for index in indexes]
        for index in indexes:
            array.write(index, entry.data.packet_count, entry.data.byte_count)

        def undo() -> None:
            for index, (packets, bytes_) in old:
                array.write(index, packets, bytes_)

        return undo

    def _direct_counter_entry(self, update_type: int, entry: p4r.DirectCounterEntry) -> Undo:
        if update_type != UpdateType.MODIFY:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, "direct counter entries can only be modified"
            )
        table = self.schema.table(entry.table_entry.table_id)
        if table.direct_counter_id is None:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, f"table {table.name!r} has no direct counter"
            )
        if entry.table_entry.is_default_action:
            raise P4RuntimeError(
                Code.UNIMPLEMENTED, "direct counter of a default entry is not supported"
            )
        match = decode_match(self.engine, table, entry.table_entry.match)
        priority = check_priority(table, entry.table_entry.priority)
        engine_table = self.switch.table(table.name)
        old = engine_table.direct_counter(match, priority)
        if not entry.HasField("data"):
            return _nothing
        engine_table.set_direct_counter(
            match, priority, entry.data.packet_count, entry.data.byte_count
        )
        return lambda: engine_table.set_direct_counter(match, priority, *old)

    # -- multicast groups ----------------------------------------------------------------

    def _pre_entry(self, update_type: int, entry: p4r.PacketReplicationEngineEntry) -> Undo:
        kind = entry.WhichOneof("type")
        if kind != "multicast_group_entry":
            code = Code.UNIMPLEMENTED if kind else Code.INVALID_ARGUMENT
            raise P4RuntimeError(code, f"unsupported packet replication entry {kind}")
        group = entry.multicast_group_entry
        group_id = group.multicast_group_id
        if group_id == 0:
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "multicast group id 0 is not valid")
        groups = self.switch.multicast_groups()
        old = groups.get(group_id)
        old_extras = self.pipeline.group_extras.get(group_id)
        if update_type == UpdateType.INSERT and old is not None:
            raise P4RuntimeError(Code.ALREADY_EXISTS, f"multicast group {group_id} exists")
        if update_type != UpdateType.INSERT and old is None:
            raise P4RuntimeError(Code.NOT_FOUND, f"multicast group {group_id} not found")
        if update_type == UpdateType.DELETE:
            self.switch.delete_multicast_group(group_id)
            self.pipeline.group_extras.pop(group_id, None)
        else:
            replicas, port_as_bytes = decode_replicas(group.replicas)
            self.switch.set_multicast_group(group_id, replicas)
            self.pipeline.group_extras[group_id] = GroupExtras(group.metadata, port_as_bytes)

        def undo() -> None:
            if old is None:
                self.switch.delete_multicast_group(group_id)
            else:
                self.switch.set_multicast_group(group_id, old)
            if old_extras is None:
                self.pipeline.group_extras.pop(group_id, None)
            else:
                self.pipeline.group_extras[group_id] = old_extras

        return undo

    # -- value sets ----------------------------------------------------------------------

    def _value_set_entry(self, update_type: int, entry: p4r.ValueSetEntry) -> Undo:
        spec = self.schema.value_set(entry.value_set_id)
        if update_type != UpdateType.MODIFY:
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "value set entries can only be modified")
        owner = f"value set {spec.name!r}"
        members: list[tuple[tuple[int, int], ...]] = []
        for member in entry.members:
            decoded = decode_member(spec.fields, member.match, owner)
            if decoded in members:
                raise P4RuntimeError(Code.ALREADY_EXISTS, f"{owner}: duplicate member")
            members.append(decoded)
        if len(members) > spec.size:
            raise P4RuntimeError(
                Code.RESOURCE_EXHAUSTED, f"{owner} holds at most {spec.size} members"
            )
        value_set = self.switch.value_set(spec.name)
        old = value_set.members()
        value_set.set_members(members)
        return lambda: value_set.set_members(old)


def _check_entry_fields(table: TableSpec, entry: p4r.TableEntry) -> None:
    """Refuse INSERT/MODIFY fields this target does not have (DELETE ignores non-key fields)."""
    if entry.is_const:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, "is_const must be false in a write")
    if entry.HasField("time_since_last_hit") or entry.idle_timeout_ns:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"table {table.name!r} has no idle timeout")
    if entry.HasField("meter_config") or entry.HasField("meter_counter_data"):
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"table {table.name!r} has no direct meter")
    if entry.HasField("counter_data") and table.direct_counter_id is None:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"table {table.name!r} has no direct counter")


def counter_index(index: int, size: int) -> int:
    """Validate a counter index: negative is INVALID_ARGUMENT, too large OUT_OF_RANGE."""
    if index < 0:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"negative counter index {index}")
    if index >= size:
        raise P4RuntimeError(Code.OUT_OF_RANGE, f"counter index {index} >= size {size}")
    return index


def decode_replicas(replicas: Sequence[p4r.Replica]) -> tuple[list[tuple[int, int]], bool]:
    """Decode replicas into ``(port, instance)`` pairs; also tells if ports came as bytes."""
    decoded: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    port_as_bytes = True
    for replica in replicas:
        if replica.backup_replicas:
            raise P4RuntimeError(Code.UNIMPLEMENTED, "backup replicas are not supported")
        if replica.WhichOneof("port_kind") == "egress_port":
            port = replica.egress_port
            port_as_bytes = False
            if port.bit_length() > PORT_BITWIDTH:
                raise P4RuntimeError(Code.INVALID_ARGUMENT, f"replica port {port} is too large")
        else:
            port = decode_uint(replica.port, PORT_BITWIDTH, "replica port")
        if replica.instance.bit_length() > INSTANCE_BITWIDTH:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, f"replica instance {replica.instance} is too large"
            )
        pair = (port, replica.instance)
        if pair in seen:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, f"duplicate replica (port, instance) {pair}"
            )
        seen.add(pair)
        decoded.append(pair)
    return decoded, port_as_bytes
