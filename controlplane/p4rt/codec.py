"""Canonical P4Runtime encoding of values, match fields, action parameters and packet metadata.

Values go through finsy's `p4values.encode_exact`, which yields the canonical
(shortest) P4Runtime byte strings. Decoding is strict: a value wider than its
field, or a match kind other than the P4Info's, raises P4ValueError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from finsy import p4values
from finsy.proto import p4r

from controlplane.p4rt.entries import Exact, Lpm, MatchValue, Optional, Range, Ternary, exact
from controlplane.p4rt.errors import P4ValueError
from controlplane.p4rt.p4info import ActionInfo, BitsInfo, MatchFieldInfo, MatchKind, NamedIds


def check_width(what: str, value: int, width: int) -> None:
    """Raise P4ValueError unless `value` is an unsigned int that fits in `width` bits."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise P4ValueError(f"{what}: expected an unsigned int, got {value!r}")
    if value >> width:
        raise P4ValueError(f"{what}: value {value} ({value:#x}) does not fit in bit<{width}>")


def encode_value(value: int, width: int) -> bytes:
    """Encode an unsigned value as a canonical P4Runtime byte string."""
    return p4values.encode_exact(value, width)


def decode_value(what: str, data: bytes, width: int) -> int:
    """Decode a P4Runtime byte string, refusing values wider than `width`."""
    value = int.from_bytes(data, "big")
    if not data:
        raise P4ValueError(f"{what}: empty byte string from device")
    check_width(what, value, width)
    return value


def encode_match(field: MatchFieldInfo, value: MatchValue) -> p4r.FieldMatch:
    """Encode one validated match value."""
    width = field.bitwidth
    match value:
        case Exact(v):
            return p4r.FieldMatch(
                field_id=field.id, exact=p4r.FieldMatch.Exact(value=encode_value(v, width))
            )
        case Lpm(v, prefix_len):
            return p4r.FieldMatch(
                field_id=field.id,
                lpm=p4r.FieldMatch.LPM(value=encode_value(v, width), prefix_len=prefix_len),
            )
        case Ternary(v, mask):
            return p4r.FieldMatch(
                field_id=field.id,
                ternary=p4r.FieldMatch.Ternary(
                    value=encode_value(v, width), mask=encode_value(mask, width)
                ),
            )
        case Range(low, high):
            return p4r.FieldMatch(
                field_id=field.id,
                range=p4r.FieldMatch.Range(
                    low=encode_value(low, width), high=encode_value(high, width)
                ),
            )
        case Optional(v):
            return p4r.FieldMatch(
                field_id=field.id, optional=p4r.FieldMatch.Optional(value=encode_value(v, width))
            )
    raise AssertionError(f"unreachable: {value!r}")


def _fits(data: bytes, width: int) -> int | None:
    """The value of a device's byte string when it is non-empty and fits `width` bits (the
    common case, checked without building an error message)."""
    value = int.from_bytes(data, "big")
    return value if data and not value >> width else None


def decode_match(table: str, field: MatchFieldInfo, msg: p4r.FieldMatch) -> MatchValue | None:
    """Decode one match field of `table`; None for a don't-care (canonical: omitted)."""
    width = field.bitwidth
    kind = msg.WhichOneof("field_match_type")
    if kind == "exact" and field.kind is MatchKind.EXACT:      # most fields: the fast path
        value = _fits(msg.exact.value, width)
        if value is not None:
            return exact(value)
    what = f"table {table} match field {field.name!r}"
    if field.kind is None or kind != field.kind.name.lower():
        raise P4ValueError(f"{what}: device sent a {kind} match, the P4Info says {field.kind}")
    match kind:
        case "exact":
            return Exact(decode_value(what, msg.exact.value, width))
        case "lpm":
            if msg.lpm.prefix_len == 0:
                return None
            if msg.lpm.prefix_len > width:
                raise P4ValueError(f"{what}: prefix length {msg.lpm.prefix_len} > {width}")
            return Lpm(decode_value(what, msg.lpm.value, width), msg.lpm.prefix_len)
        case "ternary":
            mask = decode_value(what, msg.ternary.mask, width)
            if mask == 0:
                return None
            return Ternary(decode_value(what, msg.ternary.value, width), mask)
        case "range":
            low = decode_value(what, msg.range.low, width)
            high = decode_value(what, msg.range.high, width)
            if low == 0 and high == (1 << width) - 1:
                return None
            return Range(low, high)
        case "optional":
            return Optional(decode_value(what, msg.optional.value, width))
    raise P4ValueError(f"{what}: unsupported match kind {kind!r} from device")


def decode_params(action: ActionInfo, params: Iterable[p4r.Action.Param]) -> list[tuple[str, int]]:
    """Decode action parameters by id."""
    result: list[tuple[str, int]] = []
    by_id = action.params.by_id
    for param in params:
        info = by_id.get(param.param_id) or action.params.from_device(param.param_id)
        data = param.value
        value = _fits(data, info.bitwidth)
        if value is None:
            value = decode_value(f"action {action.name} parameter {info.name!r}", data,
                                 info.bitwidth)
        result.append((info.name, value))
    return result


def encode_metadata(
    header: NamedIds[BitsInfo], metadata: Mapping[str, int]
) -> list[p4r.PacketMetadata]:
    """Encode controller packet metadata by name; padding fields default to 0."""
    for name in metadata:
        header.lookup(name, header.kind.removesuffix(" metadata"))
    fields: list[p4r.PacketMetadata] = []
    for field in header:
        what = f"{header.kind} {field.name!r}"
        value = metadata.get(field.name, 0 if field.padding else None)
        if value is None:
            raise P4ValueError(f"{what} missing")
        check_width(what, value, field.bitwidth)
        fields.append(
            p4r.PacketMetadata(metadata_id=field.id, value=encode_value(value, field.bitwidth))
        )
    return fields


def decode_metadata(
    header: NamedIds[BitsInfo], items: Iterable[p4r.PacketMetadata]
) -> dict[str, int]:
    """Decode controller packet metadata by id into a dict by name, without padding fields."""
    metadata: dict[str, int] = {}
    for item in items:
        field = header.from_device(item.metadata_id)
        value = decode_value(f"{header.kind} {field.name!r}", item.value, field.bitwidth)
        if not field.padding:
            metadata[field.name] = value
    return metadata
