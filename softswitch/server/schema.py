"""The P4Info of a pipeline, indexed by id and mapped onto the engine's names.

``build_schema`` checks that the P4Info describes the loaded program (same tables, match
fields in id order == engine key order, actions and parameters, counters, value sets) and
refuses the pipeline with INVALID_ARGUMENT naming the first mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from finsy.proto import p4i

from softswitch.server.engine_api import ProgramLike
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.packetio import ControllerHeader

MatchType = p4i.MatchField.MatchType
Scope = p4i.ActionRef.Scope
Unit = p4i.CounterSpec.Unit

_ENGINE_MATCH_TYPES = {
    MatchType.EXACT: "exact",
    MatchType.LPM: "lpm",
    MatchType.TERNARY: "ternary",
    MatchType.RANGE: "range",
    MatchType.OPTIONAL: "optional",
}
_PRIORITY_MATCH_TYPES = frozenset({MatchType.TERNARY, MatchType.RANGE, MatchType.OPTIONAL})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A match field of a table or value set."""

    id: int
    name: str
    bitwidth: int
    match_type: int


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """An action parameter; ``index`` is its position in the engine argument tuple."""

    id: int
    name: str
    bitwidth: int
    index: int


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """An action; ``params`` is keyed by P4Info param id, in engine argument order."""

    id: int
    name: str
    params: Mapping[int, ParamSpec]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table.

    ``fields`` is keyed by match field id, in engine key order (== id order);
    ``actions`` maps action id to its ``Scope``.
    """

    id: int
    name: str
    fields: Mapping[int, FieldSpec]
    actions: Mapping[int, int]
    const_default_action_id: int
    is_const: bool
    size: int
    direct_counter_id: int | None
    needs_priority: bool


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """An indexed counter array."""

    id: int
    name: str
    size: int
    unit: int


@dataclass(frozen=True, slots=True)
class DirectCounterSpec:
    """A direct counter attached to table ``table_id``."""

    id: int
    name: str
    table_id: int
    unit: int


@dataclass(frozen=True, slots=True)
class ValueSetSpec:
    """A parser value set; ``fields`` is keyed by match field id, in engine order."""

    id: int
    name: str
    fields: Mapping[int, FieldSpec]
    size: int


@dataclass(frozen=True, slots=True)
class Schema:
    """All P4Runtime-visible objects of a pipeline, keyed by P4Info id."""

    tables: Mapping[int, TableSpec]
    actions: Mapping[int, ActionSpec]
    action_ids: Mapping[str, int]
    counters: Mapping[int, CounterSpec]
    direct_counters: Mapping[int, DirectCounterSpec]
    value_sets: Mapping[int, ValueSetSpec]
    packet_in: ControllerHeader | None
    packet_out: ControllerHeader | None

    def table(self, table_id: int) -> TableSpec:
        """The table with ``table_id``; INVALID_ARGUMENT when unknown."""
        return _lookup(self.tables, table_id, "table")

    def action(self, action_id: int) -> ActionSpec:
        """The action with ``action_id``; INVALID_ARGUMENT when unknown."""
        return _lookup(self.actions, action_id, "action")

    def counter(self, counter_id: int) -> CounterSpec:
        """The indexed counter with ``counter_id``; INVALID_ARGUMENT when unknown."""
        return _lookup(self.counters, counter_id, "counter")

    def direct_counter(self, counter_id: int) -> DirectCounterSpec:
        """The direct counter with ``counter_id``; INVALID_ARGUMENT when unknown."""
        return _lookup(self.direct_counters, counter_id, "direct counter")

    def value_set(self, value_set_id: int) -> ValueSetSpec:
        """The value set with ``value_set_id``; INVALID_ARGUMENT when unknown."""
        return _lookup(self.value_sets, value_set_id, "value set")


_T = TypeVar("_T")


def _lookup(items: Mapping[int, _T], item_id: int, kind: str) -> _T:
    item = items.get(item_id)
    if item is None:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"unknown {kind} id {item_id}")
    return item


def build_schema(p4info: p4i.P4Info, program: ProgramLike) -> Schema:
    """Index ``p4info`` and check it against the loaded ``program``."""
    actions = {a.preamble.id: _action_spec(a, program) for a in p4info.actions}
    direct_counters = {
        c.preamble.id: DirectCounterSpec(
            c.preamble.id, c.preamble.name, c.direct_table_id, c.spec.unit
        )
        for c in p4info.direct_counters
    }
    tables = {
        t.preamble.id: _table_spec(t, program, actions, direct_counters) for t in p4info.tables
    }
    for counter in direct_counters.values():
        if counter.table_id not in tables:
            _mismatch(
                f"direct counter {counter.name!r} refers to unknown table id {counter.table_id}"
            )
    headers = {
        m.preamble.name: ControllerHeader.from_p4info(m) for m in p4info.controller_packet_metadata
    }
    return Schema(
        tables=tables,
        actions=actions,
        action_ids={action.name: action.id for action in actions.values()},
        counters={c.preamble.id: _counter_spec(c, program) for c in p4info.counters},
        direct_counters=direct_counters,
        value_sets={v.preamble.id: _value_set_spec(v, program) for v in p4info.value_sets},
        packet_in=headers.get("packet_in"),
        packet_out=headers.get("packet_out"),
    )


def _mismatch(message: str) -> NoReturn:
    raise P4RuntimeError(
        Code.INVALID_ARGUMENT, f"P4Info does not match the device config: {message}"
    )


def _action_spec(action: p4i.Action, program: ProgramLike) -> ActionSpec:
    name = action.preamble.name
    info = program.actions.get(name)
    if info is None:
        _mismatch(f"action {name!r} not in program")
    positions = {
        param_name: (index, width) for index, (param_name, width) in enumerate(info.params)
    }
    params: dict[int, ParamSpec] = {}
    for param in action.params:
        position = positions.get(param.name)
        if position is None or position[1] != param.bitwidth:
            _mismatch(f"parameter {param.name!r} of action {name!r} (bit<{param.bitwidth}>)")
        params[param.id] = ParamSpec(param.id, param.name, param.bitwidth, position[0])
    if len(params) != len(info.params):
        _mismatch(f"action {name!r} has {len(info.params)} parameters in the program")
    ordered = sorted(params.values(), key=lambda param: param.index)
    return ActionSpec(action.preamble.id, name, {param.id: param for param in ordered})


def _field_specs(
    fields: list[p4i.MatchField], engine_keys: list[tuple[str, int]], owner: str
) -> dict[int, FieldSpec]:
    """Pair P4Info match fields (in id order) with engine keys ``(match_type, bitwidth)``."""
    ordered = sorted(fields, key=lambda field: field.id)
    if len(ordered) != len(engine_keys):
        _mismatch(
            f"{owner} has {len(engine_keys)} key fields in the program, {len(ordered)} in P4Info"
        )
    specs: dict[int, FieldSpec] = {}
    for field, (engine_type, engine_width) in zip(ordered, engine_keys, strict=True):
        expected = _ENGINE_MATCH_TYPES.get(field.match_type)
        if expected is None:
            raise P4RuntimeError(
                Code.UNIMPLEMENTED,
                f"{owner}: match field {field.name!r} has an unsupported match type",
            )
        if engine_type not in (expected, "*") or engine_width != field.bitwidth:
            _mismatch(
                f"{owner} match field {field.name!r} is {engine_type} bit<{engine_width}> in the program"
            )
        specs[field.id] = FieldSpec(field.id, field.name, field.bitwidth, field.match_type)
    return specs


def _table_spec(
    table: p4i.Table,
    program: ProgramLike,
    actions: Mapping[int, ActionSpec],
    direct_counters: Mapping[int, DirectCounterSpec],
) -> TableSpec:
    name = table.preamble.name
    info = program.tables.get(name)
    if info is None:
        _mismatch(f"table {name!r} not in program")
    if table.implementation_id:
        raise P4RuntimeError(
            Code.UNIMPLEMENTED, f"table {name!r}: action profiles are not supported"
        )
    fields = _field_specs(
        list(table.match_fields),
        [(key.match_type, key.bitwidth) for key in info.keys],
        f"table {name!r}",
    )
    refs: dict[int, int] = {}
    for ref in table.action_refs:
        action = actions.get(ref.id)
        if action is None or action.name not in info.action_names:
            _mismatch(f"table {name!r} action id {ref.id} is not an action of the table")
        refs[ref.id] = ref.scope
    counter_ids = [rid for rid in table.direct_resource_ids if rid in direct_counters]
    if counter_ids and info.direct_counter is None:
        _mismatch(f"table {name!r} has no direct counter in the program")
    return TableSpec(
        id=table.preamble.id,
        name=name,
        fields=fields,
        actions=refs,
        const_default_action_id=table.const_default_action_id,
        is_const=table.is_const_table,
        size=table.size,
        direct_counter_id=counter_ids[0] if counter_ids else None,
        needs_priority=any(f.match_type in _PRIORITY_MATCH_TYPES for f in fields.values()),
    )


def _counter_spec(counter: p4i.Counter, program: ProgramLike) -> CounterSpec:
    name = counter.preamble.name
    info = program.counters.get(name)
    if info is None or info.direct_table is not None:
        _mismatch(f"indexed counter {name!r} not in program")
    if info.size != counter.size:
        _mismatch(f"counter {name!r} has size {info.size} in the program, {counter.size} in P4Info")
    return CounterSpec(counter.preamble.id, name, counter.size, counter.spec.unit)


def _value_set_spec(value_set: p4i.ValueSet, program: ProgramLike) -> ValueSetSpec:
    name = value_set.preamble.name
    info = program.value_sets.get(name)
    if info is None:
        _mismatch(f"value set {name!r} not in program")
    fields = _field_specs(
        list(value_set.match), [("*", width) for width in info.bitwidths], f"value set {name!r}"
    )
    for field in fields.values():
        if field.match_type == MatchType.RANGE:
            raise P4RuntimeError(
                Code.UNIMPLEMENTED, f"value set {name!r}: range match is not supported"
            )
    return ValueSetSpec(value_set.preamble.id, name, fields, value_set.size)
