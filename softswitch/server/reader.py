"""The Read RPC: turn one read request entity (a filter, maybe with wildcards) into entities."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from finsy.proto import p4r

from softswitch.server.bytestrings import encode_uint
from softswitch.server.codec import (
    check_priority,
    decode_match,
    encode_action,
    encode_match,
    encode_member,
)
from softswitch.server.engine_api import EngineModule, TableEntryLike, TableLike
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.pipeline import EntryExtras, Pipeline
from softswitch.server.schema import TableSpec, Unit
from softswitch.server.writer import counter_index

_UNSUPPORTED = {
    "action_profile_member": "action_profile_id",
    "action_profile_group": "action_profile_id",
    "meter_entry": "meter_id",
    "register_entry": "register_id",
    "digest_entry": "digest_id",
    "extern_entry": "extern_type_id",
}
"""Entity kinds this target has none of, with their id field: a wildcard read finds nothing."""


def read_entities(
    engine: EngineModule, pipeline: Pipeline, request: p4r.Entity
) -> list[p4r.Entity]:
    """All entities matching ``request``; raises P4RuntimeError for an invalid request."""
    reader = _Reader(engine, pipeline)
    kind = request.WhichOneof("entity")
    with pipeline.switch.lock:
        match kind:
            case "table_entry":
                found: Iterable[p4r.Entity] = reader.table_entries(request.table_entry)
            case "counter_entry":
                found = reader.counter_entries(request.counter_entry)
            case "direct_counter_entry":
                found = reader.direct_counter_entries(request.direct_counter_entry)
            case "packet_replication_engine_entry":
                found = reader.pre_entries(request.packet_replication_engine_entry)
            case "value_set_entry":
                found = reader.value_set_entries(request.value_set_entry)
            case None:
                raise P4RuntimeError(Code.INVALID_ARGUMENT, "entity is not set")
            case _ if kind in _UNSUPPORTED and not getattr(
                getattr(request, kind), _UNSUPPORTED[kind]
            ):
                return []
            case _:
                raise P4RuntimeError(Code.UNIMPLEMENTED, f"reading {kind} is not supported")
        try:
            return list(found)
        except engine.EngineError as exc:
            raise P4RuntimeError(Code.INTERNAL, f"engine error: {exc}") from exc


class _Reader:
    """Reads entities of one pipeline (caller holds the engine lock)."""

    def __init__(self, engine: EngineModule, pipeline: Pipeline) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.schema = pipeline.schema
        self.switch = pipeline.switch

    def _tables(self, table_id: int) -> list[TableSpec]:
        if table_id == 0:
            return [self.schema.tables[key] for key in sorted(self.schema.tables)]
        return [self.schema.table(table_id)]

    # -- table entries -------------------------------------------------------------------

    def table_entries(self, request: p4r.TableEntry) -> Iterator[p4r.Entity]:
        """Entries selected by the table id, match, priority, action and metadata filters."""
        with_counter = request.HasField("counter_data")
        for table in self._tables(request.table_id):
            engine_table = self.switch.table(table.name)
            if request.is_default_action:
                yield self._default_entry(table, engine_table)
                continue
            for entry in self._selected(table, engine_table, request):
                yield self._entry(table, engine_table, entry, with_counter)

    def _selected(
        self, table: TableSpec, engine_table: TableLike, request: p4r.TableEntry
    ) -> Iterator[TableEntryLike]:
        if request.match:
            match = decode_match(self.engine, table, request.match)
            found = engine_table.get(match, check_priority(table, request.priority))
            candidates = [found] if found is not None else []
        else:
            candidates = engine_table.entries()
        action_id = request.action.action.action_id if request.HasField("action") else 0
        for entry in candidates:
            extras = self._extras(table, entry)
            if request.priority and entry.priority != request.priority:
                continue
            if action_id and self.schema.action_ids.get(entry.action) != action_id:
                continue
            if (
                request.controller_metadata
                and extras.controller_metadata != request.controller_metadata
            ):
                continue
            if request.metadata and extras.metadata != request.metadata:
                continue
            yield entry

    def _extras(self, table: TableSpec, entry: TableEntryLike) -> EntryExtras:
        key = (table.name, entry.match, entry.priority)
        return self.pipeline.entry_extras.get(key, EntryExtras(0, b""))

    def _entry(
        self, table: TableSpec, engine_table: TableLike, entry: TableEntryLike, with_counter: bool
    ) -> p4r.Entity:
        extras = self._extras(table, entry)
        result = p4r.TableEntry(
            table_id=table.id,
            match=encode_match(table, entry.match),
            priority=entry.priority,
            controller_metadata=extras.controller_metadata,
            metadata=extras.metadata,
            is_const=table.is_const,
        )
        result.action.action.CopyFrom(encode_action(self.schema, entry.action, entry.args))
        if with_counter and table.direct_counter_id is not None:
            packets, bytes_ = engine_table.direct_counter(entry.match, entry.priority)
            result.counter_data.CopyFrom(p4r.CounterData(packet_count=packets, byte_count=bytes_))
        return p4r.Entity(table_entry=result)

    def _default_entry(self, table: TableSpec, engine_table: TableLike) -> p4r.Entity:
        name, args = engine_table.get_default()
        extras = self.pipeline.entry_extras.get((table.name, None, 0), EntryExtras(0, b""))
        result = p4r.TableEntry(
            table_id=table.id,
            is_default_action=True,
            controller_metadata=extras.controller_metadata,
            metadata=extras.metadata,
        )
        if name in self.schema.action_ids:
            result.action.action.CopyFrom(encode_action(self.schema, name, args))
        return p4r.Entity(table_entry=result)

    # -- counters ------------------------------------------------------------------------

    def counter_entries(self, request: p4r.CounterEntry) -> Iterator[p4r.Entity]:
        """Indexed counter cells; counter id 0 and an unset index are wildcards."""
        if request.counter_id == 0:
            specs = [self.schema.counters[key] for key in sorted(self.schema.counters)]
        else:
            specs = [self.schema.counter(request.counter_id)]
        for spec in specs:
            array = self.switch.counter(spec.name)
            if request.HasField("index"):
                indexes: Iterable[int] = [counter_index(request.index.index, spec.size)]
            else:
                indexes = range(spec.size)
            for index in indexes:
                yield p4r.Entity(
                    counter_entry=p4r.CounterEntry(
                        counter_id=spec.id,
                        index=p4r.Index(index=index),
                        data=counter_data(spec.unit, *array.read(index)),
                    )
                )

    def direct_counter_entries(self, request: p4r.DirectCounterEntry) -> Iterator[p4r.Entity]:
        """Direct counters of one entry, of all entries of a table, or of all tables."""
        selector = request.table_entry
        if selector.is_default_action:
            raise P4RuntimeError(
                Code.UNIMPLEMENTED, "direct counter of a default entry is not supported"
            )
        tables = [
            (table, self.schema.direct_counters[table.direct_counter_id].unit)
            for table in self._tables(selector.table_id)
            if table.direct_counter_id is not None
        ]
        if selector.table_id and not tables:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, f"table id {selector.table_id} has no direct counter"
            )
        for table, unit in tables:
            engine_table = self.switch.table(table.name)
            entries = list(self._selected(table, engine_table, selector))
            if selector.match and not entries:
                raise P4RuntimeError(Code.NOT_FOUND, f"table {table.name!r}: entry not found")
            for entry in entries:
                table_entry = self._entry(
                    table, engine_table, entry, with_counter=False
                ).table_entry
                packets, bytes_ = engine_table.direct_counter(entry.match, entry.priority)
                yield p4r.Entity(
                    direct_counter_entry=p4r.DirectCounterEntry(
                        table_entry=table_entry, data=counter_data(unit, packets, bytes_)
                    )
                )

    # -- multicast groups and value sets --------------------------------------------------

    def pre_entries(self, request: p4r.PacketReplicationEngineEntry) -> Iterator[p4r.Entity]:
        """Multicast groups; group id 0 is a wildcard. There are no clone sessions."""
        kind = request.WhichOneof("type")
        if kind == "clone_session_entry" and request.clone_session_entry.session_id == 0:
            return
        if kind != "multicast_group_entry":
            code = Code.UNIMPLEMENTED if kind else Code.INVALID_ARGUMENT
            raise P4RuntimeError(code, f"unsupported packet replication entry {kind}")
        wanted = request.multicast_group_entry.multicast_group_id
        for group_id, replicas in sorted(self.switch.multicast_groups().items()):
            if wanted and group_id != wanted:
                continue
            extras = self.pipeline.group_extras.get(group_id)
            group = p4r.MulticastGroupEntry(
                multicast_group_id=group_id, metadata=extras.metadata if extras else b""
            )
            for port, instance in replicas:
                if extras is None or extras.port_as_bytes:
                    group.replicas.add(port=encode_uint(port), instance=instance)
                else:
                    group.replicas.add(egress_port=port, instance=instance)
            yield p4r.Entity(
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    multicast_group_entry=group
                )
            )

    def value_set_entries(self, request: p4r.ValueSetEntry) -> Iterator[p4r.Entity]:
        """Value set members; value set id 0 is a wildcard."""
        if request.value_set_id == 0:
            specs = [self.schema.value_sets[key] for key in sorted(self.schema.value_sets)]
        else:
            specs = [self.schema.value_set(request.value_set_id)]
        for spec in specs:
            members = self.switch.value_set(spec.name).members()
            yield p4r.Entity(
                value_set_entry=p4r.ValueSetEntry(
                    value_set_id=spec.id,
                    members=[encode_member(spec.fields, member) for member in members],
                )
            )


def counter_data(unit: int, packets: int, bytes_: int) -> p4r.CounterData:
    """Counter data showing only the values the counter unit counts."""
    data = p4r.CounterData()
    if unit in (Unit.PACKETS, Unit.BOTH, Unit.UNSPECIFIED):
        data.packet_count = packets
    if unit in (Unit.BYTES, Unit.BOTH, Unit.UNSPECIFIED):
        data.byte_count = bytes_
    return data
