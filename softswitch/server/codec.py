"""Translation between P4Runtime match/action messages and engine values, with validation.

Validation follows the spec section "Match Format" and bmv2/PI: unknown or duplicate
field ids, missing exact fields, too-wide values, ternary ``value & ~mask``, LPM host bits,
"don't care" encodings that must be omitted, and priority rules are INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finsy.proto import p4r

from softswitch.server.bytestrings import decode_uint, encode_uint
from softswitch.server.engine_api import EngineModule
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.schema import ActionSpec, FieldSpec, MatchType, Schema, Scope, TableSpec

Member = tuple[tuple[int, int], ...]
"""A value set member: one ``(value, mask)`` per field, ``(0, 0)`` meaning don't care."""


def _invalid(message: str) -> P4RuntimeError:
    return P4RuntimeError(Code.INVALID_ARGUMENT, message)


def _by_field(
    fields: Mapping[int, FieldSpec], matches: Sequence[p4r.FieldMatch], owner: str
) -> dict[int, p4r.FieldMatch]:
    """Map field id -> FieldMatch; refuses unknown and duplicate field ids."""
    given: dict[int, p4r.FieldMatch] = {}
    for match in matches:
        field = fields.get(match.field_id)
        if field is None:
            raise _invalid(f"{owner}: unknown match field id {match.field_id}")
        if field.id in given:
            raise _invalid(f"{owner}: duplicate match field {field.name!r}")
        given[field.id] = match
    return given


def decode_match(
    engine: EngineModule, table: TableSpec, matches: Sequence[p4r.FieldMatch]
) -> tuple[Any, ...]:
    """Decode the ``match`` of a table entry into the engine match tuple (key order)."""
    given = _by_field(table.fields, matches, f"table {table.name!r}")
    return tuple(
        _decode_field(engine, field, given.get(field.id)) for field in table.fields.values()
    )


def _decode_field(engine: EngineModule, field: FieldSpec, given: p4r.FieldMatch | None) -> Any:
    """Decode one field match (None: omitted, i.e. "don't care") into an engine Match."""
    width, name = field.bitwidth, field.name
    expected = MatchType.Name(field.match_type).lower()
    if given is not None and given.WhichOneof("field_match_type") != expected:
        raise _invalid(
            f"match field {name!r} is {expected}, got {given.WhichOneof('field_match_type')}"
        )
    match field.match_type:
        case MatchType.EXACT:
            if given is None:
                raise _invalid(f"missing exact match field {name!r}")
            return engine.Exact(decode_uint(given.exact.value, width, name))
        case MatchType.LPM:
            if given is None:
                return engine.Lpm(0, 0)
            value = decode_uint(given.lpm.value, width, name)
            prefix_len = given.lpm.prefix_len
            if not 0 < prefix_len <= width:
                raise _invalid(f"{name!r}: prefix length {prefix_len} not in 1..{width}")
            if value & ((1 << (width - prefix_len)) - 1):
                raise _invalid(f"{name!r}: LPM value has bits set beyond the prefix length")
            return engine.Lpm(value, prefix_len)
        case MatchType.TERNARY:
            if given is None:
                return engine.Ternary(0, 0)
            value = decode_uint(given.ternary.value, width, name)
            mask = decode_uint(given.ternary.mask, width, f"{name} mask")
            if mask == 0:
                raise _invalid(f"{name!r}: ternary mask 0 is a don't care, omit the field")
            if value & ~mask:
                raise _invalid(f"{name!r}: ternary value has bits set outside the mask")
            return engine.Ternary(value, mask)
        case MatchType.RANGE:
            full = (1 << width) - 1
            if given is None:
                return engine.Range(0, full)
            low = decode_uint(given.range.low, width, f"{name} low")
            high = decode_uint(given.range.high, width, f"{name} high")
            if low > high:
                raise _invalid(f"{name!r}: range low > high")
            if low == 0 and high == full:
                raise _invalid(f"{name!r}: full range is a don't care, omit the field")
            return engine.Range(low, high)
        case _:
            if given is None:
                return engine.Optional_(None)
            return engine.Optional_(decode_uint(given.optional.value, width, name))


def check_priority(table: TableSpec, priority: int) -> int:
    """Validate the priority of a (non-default) entry against the table's match kinds."""
    if table.needs_priority and priority <= 0:
        raise _invalid(f"table {table.name!r} needs a priority > 0 (ternary/range/optional key)")
    if not table.needs_priority and priority != 0:
        raise _invalid(f"table {table.name!r} entries must have priority 0")
    return priority


def encode_match(table: TableSpec, match: tuple[Any, ...]) -> list[p4r.FieldMatch]:
    """Encode an engine match tuple; "don't care" fields are omitted (canonical form)."""
    encoded = (_encode_field(field, value) for field, value in zip(table.fields.values(), match))
    return [field_match for field_match in encoded if field_match is not None]


def _encode_field(field: FieldSpec, value: Any) -> p4r.FieldMatch | None:
    field_match = p4r.FieldMatch(field_id=field.id)
    match field.match_type:
        case MatchType.EXACT:
            field_match.exact.value = encode_uint(value.value)
        case MatchType.LPM:
            if value.prefix_len == 0:
                return None
            field_match.lpm.value = encode_uint(value.value)
            field_match.lpm.prefix_len = value.prefix_len
        case MatchType.TERNARY:
            if value.mask == 0:
                return None
            field_match.ternary.value = encode_uint(value.value)
            field_match.ternary.mask = encode_uint(value.mask)
        case MatchType.RANGE:
            if value.low == 0 and value.high == (1 << field.bitwidth) - 1:
                return None
            field_match.range.low = encode_uint(value.low)
            field_match.range.high = encode_uint(value.high)
        case _:
            if value.value is None:
                return None
            field_match.optional.value = encode_uint(value.value)
    return field_match


def decode_action(
    schema: Schema, table: TableSpec, action: p4r.TableAction, *, default: bool
) -> tuple[str, tuple[int, ...]]:
    """Decode a direct table action into ``(engine action name, args)``.

    An action not allowed by its scope is PERMISSION_DENIED, as the spec requires.
    """
    kind = action.WhichOneof("type")
    if kind != "action":
        raise _invalid(f"table {table.name!r} is a direct table, got {kind or 'no action'}")
    spec = schema.action(action.action.action_id)
    scope = table.actions.get(spec.id)
    if scope is None:
        raise _invalid(f"action {spec.name!r} is not an action of table {table.name!r}")
    if default and scope == Scope.TABLE_ONLY:
        raise P4RuntimeError(Code.PERMISSION_DENIED, f"action {spec.name!r} is TABLE_ONLY")
    if not default and scope == Scope.DEFAULT_ONLY:
        raise P4RuntimeError(Code.PERMISSION_DENIED, f"action {spec.name!r} is DEFAULT_ONLY")
    return spec.name, _decode_params(spec, action.action.params)


def _decode_params(spec: ActionSpec, params: Sequence[p4r.Action.Param]) -> tuple[int, ...]:
    values: dict[int, int] = {}
    for param in params:
        param_spec = spec.params.get(param.param_id)
        if param_spec is None:
            raise _invalid(f"action {spec.name!r}: unknown parameter id {param.param_id}")
        if param_spec.id in values:
            raise _invalid(f"action {spec.name!r}: duplicate parameter {param_spec.name!r}")
        values[param_spec.id] = decode_uint(
            param.value, param_spec.bitwidth, f"{spec.name}.{param_spec.name}"
        )
    missing = [param.name for param in spec.params.values() if param.id not in values]
    if missing:
        raise _invalid(f"action {spec.name!r}: missing parameters {', '.join(missing)}")
    return tuple(values[param_id] for param_id in spec.params)


def encode_action(schema: Schema, name: str, args: tuple[int, ...]) -> p4r.Action:
    """Encode an engine action and its arguments."""
    spec = schema.action(schema.action_ids.get(name, 0))
    return p4r.Action(
        action_id=spec.id,
        params=[
            p4r.Action.Param(param_id=param.id, value=encode_uint(arg))
            for param, arg in zip(spec.params.values(), args)
        ],
    )


def decode_member(
    fields: Mapping[int, FieldSpec], matches: Sequence[p4r.FieldMatch], owner: str
) -> Member:
    """Decode a value set member into one ``(value, mask)`` per field."""
    given = _by_field(fields, matches, owner)
    return tuple(
        _decode_member_field(field, given.get(field.id), owner) for field in fields.values()
    )


def _decode_member_field(
    field: FieldSpec, given: p4r.FieldMatch | None, owner: str
) -> tuple[int, int]:
    width, name = field.bitwidth, field.name
    full = (1 << width) - 1
    if given is None:
        if field.match_type == MatchType.EXACT:
            raise _invalid(f"{owner}: missing exact match field {name!r}")
        return 0, 0
    kind = given.WhichOneof("field_match_type")
    if kind == "exact":
        return decode_uint(given.exact.value, width, name), full
    if kind == "optional":
        return decode_uint(given.optional.value, width, name), full
    if kind == "ternary":
        value = decode_uint(given.ternary.value, width, name)
        mask = decode_uint(given.ternary.mask, width, f"{name} mask")
        if value & ~mask:
            raise _invalid(f"{owner}: {name!r} value has bits set outside the mask")
        return value, mask
    if kind == "lpm":
        value = decode_uint(given.lpm.value, width, name)
        prefix_len = given.lpm.prefix_len
        if not 0 <= prefix_len <= width:
            raise _invalid(f"{owner}: {name!r} prefix length {prefix_len} out of range")
        mask = full ^ ((1 << (width - prefix_len)) - 1)
        if value & ~mask:
            raise _invalid(f"{owner}: {name!r} LPM value has bits set beyond the prefix")
        return value, mask
    raise _invalid(f"{owner}: unsupported match kind {kind} for {name!r}")


def encode_member(fields: Mapping[int, FieldSpec], member: Member) -> p4r.ValueSetMember:
    """Encode a value set member in the match kinds declared in P4Info."""
    result = p4r.ValueSetMember()
    for field, (value, mask) in zip(fields.values(), member):
        full = (1 << field.bitwidth) - 1
        if mask == 0 and field.match_type != MatchType.EXACT:
            continue
        field_match = result.match.add(field_id=field.id)
        if field.match_type == MatchType.EXACT:
            field_match.exact.value = encode_uint(value)
        elif field.match_type == MatchType.OPTIONAL and mask == full:
            field_match.optional.value = encode_uint(value)
        elif field.match_type == MatchType.LPM:
            field_match.lpm.value = encode_uint(value)
            field_match.lpm.prefix_len = mask.bit_count()
        else:
            field_match.ternary.value = encode_uint(value)
            field_match.ternary.mask = encode_uint(mask)
    return result
