"""Pipeline schema: validate our entities against the P4Info and encode/decode p4.v1 protobuf.

Everything is checked before anything is sent: unknown names raise
`P4NameError` (listing the valid names), values that do not fit raise
`P4ValueError` (naming the field, the value and the width). Values are encoded
with finsy's `p4values` (canonical P4Runtime byte strings). Decoding produces
the canonical form of `controlplane.p4rt.entries`, so for every entity that
validates, ``decode(encode(e)) == e``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from finsy.p4entity import P4Replica, encode_replica
from finsy.p4schema import P4RuntimeVersion, P4SchemaCache
from finsy.proto import p4i, p4r

from controlplane.p4rt.codec import (
    check_width,
    decode_match,
    decode_metadata,
    decode_params,
    decode_value,
    encode_match,
    encode_metadata,
    encode_value,
)
from controlplane.p4rt.entries import (
    DefaultAction,
    Entity,
    Entry,
    Exact,
    Lpm,
    MatchValue,
    MulticastGroup,
    Optional,
    ParamItems,
    Range,
    Ternary,
    Update,
    ValueSet,
    WriteOp,
    by_name,
)
from controlplane.p4rt.errors import P4ValueError
from controlplane.p4rt.p4info import (
    ActionScope,
    BitsInfo,
    CounterInfo,
    MatchFieldInfo,
    MatchKind,
    NamedIds,
    P4InfoIndex,
    TableInfo,
    load_p4info,
)

DEFAULT_API_VERSION = P4RuntimeVersion(1, 3, 0, "")
"""P4Runtime version assumed when the device does not answer Capabilities."""

_KIND_OF_VALUE: dict[type, MatchKind] = {
    Exact: MatchKind.EXACT,
    Lpm: MatchKind.LPM,
    Ternary: MatchKind.TERNARY,
    Range: MatchKind.RANGE,
    Optional: MatchKind.OPTIONAL,
}

_UPDATE_TYPES = {
    WriteOp.INSERT: p4r.Update.INSERT,
    WriteOp.MODIFY: p4r.Update.MODIFY,
    WriteOp.DELETE: p4r.Update.DELETE,
}


class PipelineSchema:
    """One pipeline: P4Info index, device config (bmv2 JSON) and its cookie."""

    def __init__(self, p4info: p4i.P4Info, device_config: bytes = b"") -> None:
        """Index `p4info`; the cookie covers both the P4Info and `device_config`."""
        self._p4info = p4info
        self._device_config = device_config
        self._index = P4InfoIndex.build(p4info)
        # Same function finsy's P4Schema.p4cookie uses, so finsy-managed and
        # our controllers agree on whether a pipeline is already installed.
        self._cookie = P4SchemaCache.compute_cookie(
            p4info.SerializeToString(deterministic=True), device_config
        )

    @classmethod
    def load(
        cls, p4info_path: str | Path, device_config_path: str | Path | None = None
    ) -> PipelineSchema:
        """Load a P4Info text file and optionally the target's device config file."""
        config = Path(device_config_path).read_bytes() if device_config_path else b""
        return cls(load_p4info(p4info_path), config)

    @property
    def p4info(self) -> p4i.P4Info:
        """The P4Info message."""
        return self._p4info

    @property
    def index(self) -> P4InfoIndex:
        """Name/id lookups over the P4Info."""
        return self._index

    @property
    def cookie(self) -> int:
        """Pipeline cookie: 64-bit hash of the P4Info and the device config."""
        return self._cookie

    def pipeline_config(self) -> p4r.ForwardingPipelineConfig:
        """Return the ForwardingPipelineConfig to push, cookie included."""
        return p4r.ForwardingPipelineConfig(
            p4info=self._p4info,
            p4_device_config=self._device_config,
            cookie=p4r.ForwardingPipelineConfig.Cookie(cookie=self._cookie),
        )

    # -- validation ---------------------------------------------------------------

    def validate(self, entity: Entity) -> None:
        """Raise P4NameError / P4ValueError if `entity` does not fit this pipeline."""
        if isinstance(entity, Entry):
            self._validate_entry(entity)
        elif isinstance(entity, DefaultAction):
            table = self._index.tables.lookup(entity.table)
            if table.const_default_action_id:
                raise P4ValueError(f"table {table.name}: the default action is const")
            self._validate_action(table, entity.action, entity.params, default=True)
        elif isinstance(entity, ValueSet):
            field = self._value_set_field(entity.name)
            info = self._index.value_sets.lookup(entity.name)
            if info.size and len(entity.members) > info.size:
                raise P4ValueError(
                    f"value set {info.name} holds at most {info.size} members, "
                    f"got {len(entity.members)}"
                )
            for member in entity.members:
                check_width(f"value set {info.name} member", member, field.bitwidth)
        else:
            check_width(f"multicast group {entity.group_id}", entity.group_id, 32)

    def _value_set_field(self, name: str) -> MatchFieldInfo:
        """The single exact field of value set `name` (the only kind we support)."""
        info = self._index.value_sets.lookup(name)
        if len(info.fields) != 1 or info.fields[0].kind is not MatchKind.EXACT:
            raise P4ValueError(f"value set {info.name}: only single-field exact sets are supported")
        return info.fields[0]

    def _validate_entry(self, entry: Entry) -> None:
        """Check table, match fields, priority and action of a table entry."""
        table = self._index.tables.lookup(entry.table)
        if table.is_const:
            raise P4ValueError(f"table {table.name} is const: its entries cannot be written")
        where = f"table {table.name}"
        for name, value in entry.match:
            self._validate_match(table, table.fields.lookup(name, where), value)
        missing = [
            f.name
            for f in table.fields
            if f.kind is MatchKind.EXACT and f.name not in dict(entry.match)
        ]
        if missing:
            raise P4ValueError(f"{where}: exact match field(s) missing: {missing}")
        if table.needs_priority and entry.priority == 0:
            raise P4ValueError(f"{where} has ternary/range/optional keys: priority must be > 0")
        if not table.needs_priority and entry.priority != 0:
            raise P4ValueError(
                f"{where} has no ternary/range/optional key: priority must be 0, "
                f"got {entry.priority}"
            )
        self._validate_action(table, entry.action, entry.params, default=False)

    @staticmethod
    def _validate_match(table: TableInfo, field: MatchFieldInfo, value: MatchValue) -> None:
        """Check one match value against the field's kind and bitwidth."""
        what = f"table {table.name} match field {field.name!r}"
        if field.bitwidth == 0:
            raise P4ValueError(f"{what}: string (bitwidth 0) fields are not supported")
        kind = _KIND_OF_VALUE[type(value)]
        if field.kind is not kind:
            expected = field.kind.name if field.kind else "an unsupported kind"
            raise P4ValueError(f"{what} is {expected}, got {kind.name} value {value!r}")
        width = field.bitwidth
        match value:
            case Exact(v) | Optional(v):
                check_width(what, v, width)
            case Lpm(v, prefix_len):
                check_width(what, v, width)
                if prefix_len > width:
                    raise P4ValueError(f"{what}: prefix length {prefix_len} > bitwidth {width}")
                if prefix_len == 0:
                    raise P4ValueError(f"{what}: /0 is a wildcard; omit the field instead")
                if v & ((1 << (width - prefix_len)) - 1):
                    raise P4ValueError(
                        f"{what}: value {v:#x} has bits set beyond prefix /{prefix_len}"
                    )
            case Ternary(v, mask):
                check_width(f"{what} mask", mask, width)
                if mask == 0:
                    raise P4ValueError(f"{what}: mask 0 is a wildcard; omit the field instead")
            case Range(low, high):
                check_width(f"{what} high", high, width)
                if low == 0 and high == (1 << width) - 1:
                    raise P4ValueError(f"{what}: full range is a wildcard; omit the field instead")

    def _validate_action(
        self, table: TableInfo, action_name: str, params: ParamItems, *, default: bool
    ) -> None:
        """Check the action is allowed in `table` and its parameters fit."""
        action = self._index.actions.lookup(action_name)
        scope = table.action_scopes.get(action.name)
        if scope is None:
            raise P4ValueError(
                f"action {action.name} is not an action of table {table.name}; "
                f"allowed: {sorted(table.action_scopes)}"
            )
        refused = ActionScope.TABLE_ONLY if default else ActionScope.DEFAULT_ONLY
        if scope is refused:
            use = "a table entry" if default else "the default action"
            raise P4ValueError(
                f"action {action.name} is {scope.name} in table {table.name}: it can only be {use}"
            )
        where = f"action {action.name}"
        for name, value in params:
            param = action.params.lookup(name, where)
            check_width(f"{where} parameter {name!r}", value, param.bitwidth)
        missing = sorted(set(action.params.by_name) - {name for name, _ in params})
        if missing:
            raise P4ValueError(f"{where}: missing parameter(s) {missing}")

    # -- encoding ----------------------------------------------------------------

    def encode_update(
        self, update: Update, api_version: P4RuntimeVersion = DEFAULT_API_VERSION
    ) -> p4r.Update:
        """Validate and encode one Write update."""
        self.validate(update.entity)
        with_action = update.op is not WriteOp.DELETE
        return p4r.Update(
            type=_UPDATE_TYPES[update.op],
            entity=self.encode_entity(update.entity, api_version, with_action=with_action),
        )

    def encode_entity(
        self,
        entity: Entity,
        api_version: P4RuntimeVersion = DEFAULT_API_VERSION,
        *,
        with_action: bool = True,
    ) -> p4r.Entity:
        """Encode a validated entity (call `validate` first)."""
        if isinstance(entity, Entry):
            return p4r.Entity(table_entry=self._encode_entry(entity, with_action))
        if isinstance(entity, DefaultAction):
            table = self._index.tables.lookup(entity.table)
            return p4r.Entity(
                table_entry=p4r.TableEntry(
                    table_id=table.id,
                    action=self._encode_action(entity.action, entity.params),
                    is_default_action=True,
                )
            )
        if isinstance(entity, ValueSet):
            field = self._value_set_field(entity.name)
            members = [
                p4r.ValueSetMember(match=[encode_match(field, Exact(value))])
                for value in entity.members
            ]
            value_set_id = self._index.value_sets.lookup(entity.name).id
            return p4r.Entity(
                value_set_entry=p4r.ValueSetEntry(value_set_id=value_set_id, members=members)
            )
        replicas = [encode_replica(pair, api_version) for pair in entity.replicas]
        group = p4r.MulticastGroupEntry(multicast_group_id=entity.group_id, replicas=replicas)
        return p4r.Entity(
            packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                multicast_group_entry=group
            )
        )

    def _encode_entry(self, entry: Entry, with_action: bool) -> p4r.TableEntry:
        """Encode a table entry; match fields in field-id order."""
        table = self._index.tables.lookup(entry.table)
        fields = sorted(
            ((table.fields.lookup(name), value) for name, value in entry.match),
            key=lambda item: item[0].id,
        )
        msg = p4r.TableEntry(
            table_id=table.id,
            match=[encode_match(f, v) for f, v in fields],
            priority=entry.priority,
        )
        if with_action:
            msg.action.CopyFrom(self._encode_action(entry.action, entry.params))
        return msg

    def _encode_action(self, name: str, params: ParamItems) -> p4r.TableAction:
        """Encode a direct action with parameters in param-id order."""
        action = self._index.actions.lookup(name)
        encoded = sorted(
            ((action.params.lookup(pname), value) for pname, value in params),
            key=lambda item: item[0].id,
        )
        return p4r.TableAction(
            action=p4r.Action(
                action_id=action.id,
                params=[
                    p4r.Action.Param(param_id=p.id, value=encode_value(v, p.bitwidth))
                    for p, v in encoded
                ],
            )
        )

    # -- decoding ----------------------------------------------------------------

    def decode_table_entry(self, msg: p4r.TableEntry) -> Entry | DefaultAction:
        """Decode a table entry read from the device into our canonical form.

        A restart decodes every installed entry, so this is written for speed: each protobuf
        sub-message is fetched once, and every value is width-checked here, so the entry is
        built without Entry's own (costly) checks."""
        table = self._index.tables.from_device(msg.table_id)
        table_action = msg.action
        kind = table_action.WhichOneof("type")
        if kind != "action":
            raise P4ValueError(
                f"table {table.name}: only direct actions are supported, got {kind!r}")
        call = table_action.action
        action = self._index.actions.from_device(call.action_id)
        params = decode_params(action, call.params)
        if msg.is_default_action:
            return DefaultAction(table.name, action.name, params)
        match: list[tuple[str, MatchValue]] = []
        fields = table.fields
        for field_msg in msg.match:
            field = fields.from_device(field_msg.field_id)
            value = decode_match(table.name, field, field_msg)
            if value is not None:
                match.append((field.name, value))
        for pairs in (match, params):
            if len(pairs) > 1 and len({name for name, _ in pairs}) != len(pairs):
                raise P4ValueError(f"table {table.name}: a match field or parameter sent twice")
        priority = msg.priority
        if priority < 0:
            raise P4ValueError(f"table {table.name}: negative priority {priority}")
        return Entry.canonical(table.name, by_name(match), action.name, by_name(params),
                               priority)

    def decode_value_set(self, msg: p4r.ValueSetEntry) -> ValueSet:
        """Decode a value set read from the device."""
        info = self._index.value_sets.from_device(msg.value_set_id)
        field = self._value_set_field(info.name)
        what = f"value set {info.name} member"
        values = []
        for member in msg.members:
            if len(member.match) != 1 or member.match[0].WhichOneof("field_match_type") != "exact":
                raise P4ValueError(f"{what}: expected one exact match, got {member}")
            values.append(decode_value(what, member.match[0].exact.value, field.bitwidth))
        return ValueSet(info.name, values)

    def value_set_read(self, name: str) -> p4r.Entity:
        """Read of every member of value set `name`."""
        value_set_id = self._index.value_sets.lookup(name).id
        return p4r.Entity(value_set_entry=p4r.ValueSetEntry(value_set_id=value_set_id))

    def is_const_entry(self, msg: p4r.TableEntry) -> bool:
        """True for an entry the controller cannot write: flagged const or in a const table."""
        return msg.is_const or self._index.tables.from_device(msg.table_id).is_const

    @staticmethod
    def decode_multicast_group(msg: p4r.MulticastGroupEntry) -> MulticastGroup:
        """Decode a multicast group read from the device."""
        replicas = [P4Replica.decode(replica) for replica in msg.replicas]
        return MulticastGroup(msg.multicast_group_id, [(r.port, r.instance) for r in replicas])

    # -- reads, counters and packets ----------------------------------------------

    def table_read(self, table: str | None, *, counters: bool = False) -> p4r.Entity:
        """Wildcard read of `table`'s entries (all tables when None)."""
        msg = p4r.TableEntry(table_id=self._index.tables.lookup(table).id if table else 0)
        if counters:
            msg.counter_data.CopyFrom(p4r.CounterData())
        return p4r.Entity(table_entry=msg)

    def default_read(self, table: str) -> p4r.Entity:
        """Read of `table`'s default entry."""
        table_id = self._index.tables.lookup(table).id
        return p4r.Entity(table_entry=p4r.TableEntry(table_id=table_id, is_default_action=True))

    def direct_counter_table(self, table: str) -> TableInfo:
        """Return `table`, refusing tables without a direct counter."""
        info = self._index.tables.lookup(table)
        if not info.direct_counter_id:
            raise P4ValueError(f"table {info.name} has no direct counter")
        return info

    def counter_read(self, name: str, index: int | None) -> p4r.Entity:
        """Read of indexed counter `name`: one cell, or all cells when `index` is None."""
        counter: CounterInfo = self._index.counters.lookup(name)
        entry = p4r.CounterEntry(counter_id=counter.id)
        if index is not None:
            if not 0 <= index < counter.size:
                raise P4ValueError(
                    f"counter {counter.name}: index {index} out of range 0..{counter.size - 1}"
                )
            entry.index.index = index
        return p4r.Entity(counter_entry=entry)

    def encode_packet_out(self, payload: bytes, metadata: Mapping[str, int]) -> p4r.PacketOut:
        """Encode a PacketOut; every packet_out metadata field but padding must be given."""
        header = self._packet_header("packet_out", bool(metadata))
        fields = encode_metadata(header, metadata) if header is not None else []
        return p4r.PacketOut(payload=payload, metadata=fields)

    def decode_packet_in(self, msg: p4r.PacketIn) -> tuple[bytes, dict[str, int]]:
        """Decode a PacketIn into (payload, metadata by name); padding fields are left out."""
        header = self._packet_header("packet_in", bool(msg.metadata))
        metadata = decode_metadata(header, msg.metadata) if header is not None else {}
        return msg.payload, metadata

    def _packet_header(self, name: str, required: bool) -> NamedIds[BitsInfo] | None:
        """Return controller header `name`; raise if `required` and the P4Info lacks it."""
        header = self._index.packet_metadata.get(name)
        if header is None and required:
            raise P4ValueError(f"the P4Info has no {name} controller header, metadata given")
        return header
