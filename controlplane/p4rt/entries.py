"""Value types for P4Runtime entities: table entries, default actions, multicast groups.

All types are frozen, hashable dataclasses, so a desired table state can be a
``frozenset[Entry]`` and compared with what a Read returns.

Canonical form: an `Entry` stores its match fields and action parameters as
tuples sorted by name, and a `MulticastGroup` stores its replicas sorted. A
wildcard ("don't care") match field is *omitted* from ``match``; the schema
rejects explicit don't-care values (ternary mask 0, LPM prefix 0, full range),
so an entry that validates round-trips through encode/decode unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias, TypeVar

from controlplane.p4rt.errors import P4ValueError

MAX_PRIORITY = 2**31 - 1
"""P4Runtime priorities are positive int32 values."""


def _check_uint(kind: str, name: str, value: object) -> None:
    """Raise P4ValueError unless `value` is a non-negative int (bool is refused)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise P4ValueError(f"{kind} {name} must be an int, got {value!r}")
    if value < 0:
        raise P4ValueError(f"{kind} {name} must be >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Exact:
    """Exact match on `value`."""

    value: int

    def __post_init__(self) -> None:
        """Check the value is a non-negative int."""
        _check_uint("Exact", "value", self.value)


def exact(value: int) -> Exact:
    """Exact(value) for a value already known to be a non-negative int (decoded and
    width-checked, or built by the controller): without __post_init__'s check, which costs
    more than the rest of building one."""
    match = object.__new__(Exact)
    object.__setattr__(match, "value", value)
    return match


@dataclass(frozen=True, slots=True)
class Lpm:
    """Longest-prefix match: the top `prefix_len` bits of `value`; host bits must be 0."""

    value: int
    prefix_len: int

    def __post_init__(self) -> None:
        """Check value and prefix length are non-negative ints."""
        _check_uint("Lpm", "value", self.value)
        _check_uint("Lpm", "prefix_len", self.prefix_len)


@dataclass(frozen=True, slots=True)
class Ternary:
    """Ternary match: bits set in `mask` must equal `value`; `value` has no bits outside `mask`."""

    value: int
    mask: int

    def __post_init__(self) -> None:
        """Check value and mask are non-negative ints and value lies inside mask."""
        _check_uint("Ternary", "value", self.value)
        _check_uint("Ternary", "mask", self.mask)
        if self.value & ~self.mask:
            raise P4ValueError(
                f"Ternary value {self.value:#x} has bits outside mask {self.mask:#x}"
            )


@dataclass(frozen=True, slots=True)
class Range:
    """Range match ``low <= field <= high``."""

    low: int
    high: int

    def __post_init__(self) -> None:
        """Check bounds are non-negative ints with low <= high."""
        _check_uint("Range", "low", self.low)
        _check_uint("Range", "high", self.high)
        if self.low > self.high:
            raise P4ValueError(f"Range low {self.low} > high {self.high}")


@dataclass(frozen=True, slots=True)
class Optional:
    """Optional match present with `value` (omit the field for a wildcard)."""

    value: int

    def __post_init__(self) -> None:
        """Check the value is a non-negative int."""
        _check_uint("Optional", "value", self.value)


MatchValue: TypeAlias = Exact | Lpm | Ternary | Range | Optional
MatchItems: TypeAlias = tuple[tuple[str, MatchValue], ...]
ParamItems: TypeAlias = tuple[tuple[str, int], ...]
EntryKey: TypeAlias = tuple[str, MatchItems, int]
"""Identity of a table entry on the device: (table, match, priority)."""

_MATCH_TYPES = (Exact, Lpm, Ternary, Range, Optional)


_V = TypeVar("_V")


def _sorted_items(
    kind: str, items: Mapping[str, _V] | Sequence[tuple[str, _V]]
) -> tuple[tuple[str, _V], ...]:
    """Return `items` as a name-sorted tuple; refuse duplicate or non-str names."""
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    names = [name for name, _ in pairs]
    for name in names:
        if not isinstance(name, str) or not name:
            raise P4ValueError(f"{kind} name must be a non-empty str, got {name!r}")
    if len(set(names)) != len(names):
        dups = sorted({name for name in names if names.count(name) > 1})
        raise P4ValueError(f"duplicate {kind} names: {dups}")
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def by_name(pairs: Iterable[tuple[str, _V]]) -> tuple[tuple[str, _V], ...]:
    """(name, value) pairs in canonical (name) order, for Entry.canonical. The names must be
    unique (the caller's to ensure): then tuple comparison never reaches the values, and a
    plain sort needs no Python key function."""
    return tuple(sorted(pairs))  # type: ignore[type-var]


def _params_tuple(params: Mapping[str, int] | Sequence[tuple[str, int]]) -> ParamItems:
    """Validate and canonicalize action parameters."""
    items: ParamItems = _sorted_items("action parameter", params)
    for name, value in items:
        _check_uint("action parameter", repr(name), value)
    return items


@dataclass(frozen=True, slots=True, init=False)
class Entry:
    """A table entry with a direct action.

    Identity on the device is `key()`: (table, match, priority). ``match`` and
    ``params`` accept a mapping or (name, value) pairs and are stored sorted.
    """

    table: str
    match: MatchItems
    action: str
    params: ParamItems
    priority: int

    def __init__(
        self,
        table: str,
        match: Mapping[str, MatchValue] | Sequence[tuple[str, MatchValue]],
        action: str,
        params: Mapping[str, int] | Sequence[tuple[str, int]] = (),
        priority: int = 0,
    ) -> None:
        """Build a canonical entry; raise P4ValueError on malformed input."""
        if not isinstance(table, str) or not table:
            raise P4ValueError(f"table must be a non-empty str, got {table!r}")
        if not isinstance(action, str) or not action:
            raise P4ValueError(f"action must be a non-empty str, got {action!r}")
        match_items: MatchItems = _sorted_items("match field", match)
        for name, value in match_items:
            if not isinstance(value, _MATCH_TYPES):
                raise P4ValueError(
                    f"match field {name!r}: expected Exact/Lpm/Ternary/Range/Optional, "
                    f"got {value!r}"
                )
        _check_uint("Entry", "priority", priority)
        if priority > MAX_PRIORITY:
            raise P4ValueError(f"priority {priority} exceeds {MAX_PRIORITY}")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "match", match_items)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "params", _params_tuple(params))
        object.__setattr__(self, "priority", priority)

    @classmethod
    def canonical(cls, table: str, match: MatchItems, action: str, params: ParamItems = (),
                  priority: int = 0) -> Entry:
        """An entry from parts already in canonical form (tuples sorted by name, valid values),
        as the controller's own builders make them: skips the checks of __init__, which cost
        more than everything else in building a desired state. The schema still checks every
        value against the P4Info before it is written."""
        entry = object.__new__(cls)
        object.__setattr__(entry, "table", table)
        object.__setattr__(entry, "match", match)
        object.__setattr__(entry, "action", action)
        object.__setattr__(entry, "params", params)
        object.__setattr__(entry, "priority", priority)
        return entry

    def key(self) -> EntryKey:
        """Return the identity of this entry on the device: (table, match, priority)."""
        return (self.table, self.match, self.priority)


@dataclass(frozen=True, slots=True, init=False)
class DefaultAction:
    """The default action of `table` (the entry used on a miss); only MODIFY applies."""

    table: str
    action: str
    params: ParamItems

    def __init__(
        self,
        table: str,
        action: str,
        params: Mapping[str, int] | Sequence[tuple[str, int]] = (),
    ) -> None:
        """Build a canonical default action; raise P4ValueError on malformed input."""
        if not isinstance(table, str) or not table:
            raise P4ValueError(f"table must be a non-empty str, got {table!r}")
        if not isinstance(action, str) or not action:
            raise P4ValueError(f"action must be a non-empty str, got {action!r}")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "params", _params_tuple(params))


MAX_REPLICA_ID = 2**16 - 1
"""bmv2 (and v1model) egress_rid is 16 bits wide."""
MAX_PORT = 2**32 - 1
"""P4Runtime SDN ports are at most 32 bits wide."""


@dataclass(frozen=True, slots=True, init=False)
class MulticastGroup:
    """A multicast group: copies go to each (port, replica id) pair.

    Replicas are stored sorted and must be unique; group id 0 is reserved.
    """

    group_id: int
    replicas: tuple[tuple[int, int], ...]

    def __init__(self, group_id: int, replicas: Iterable[tuple[int, int]] = ()) -> None:
        """Build a canonical multicast group; raise P4ValueError on malformed input."""
        _check_uint("MulticastGroup", "group_id", group_id)
        if group_id == 0:
            raise P4ValueError("multicast group id 0 is reserved")
        pairs = [tuple(pair) for pair in replicas]
        for pair in pairs:
            if len(pair) != 2:
                raise P4ValueError(f"replica must be (port, rid), got {pair!r}")
            port, rid = pair
            _check_uint("replica", "port", port)
            _check_uint("replica", "rid", rid)
            if port > MAX_PORT:
                raise P4ValueError(f"replica port {port} exceeds {MAX_PORT}")
            if rid > MAX_REPLICA_ID:
                raise P4ValueError(f"replica rid {rid} exceeds {MAX_REPLICA_ID}")
        if len(set(pairs)) != len(pairs):
            raise P4ValueError(f"duplicate replicas in multicast group {group_id}")
        object.__setattr__(self, "group_id", group_id)
        object.__setattr__(self, "replicas", tuple(sorted(pairs)))

    @classmethod
    def canonical(cls, group_id: int, replicas: tuple[tuple[int, int], ...]) -> MulticastGroup:
        """A group from replicas already sorted, unique and in range (the controller's own
        builders); skips the checks of __init__."""
        group = object.__new__(cls)
        object.__setattr__(group, "group_id", group_id)
        object.__setattr__(group, "replicas", replicas)
        return group


@dataclass(frozen=True, slots=True, init=False)
class ValueSet:
    """The members of a single-field parser value set; only MODIFY applies (whole set)."""

    name: str
    members: tuple[int, ...]

    def __init__(self, name: str, members: Iterable[int] = ()) -> None:
        """Build a canonical value set (members sorted, duplicates removed)."""
        if not isinstance(name, str) or not name:
            raise P4ValueError(f"value set name must be a non-empty str, got {name!r}")
        values = set(members)
        for value in values:
            _check_uint("value set", "member", value)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "members", tuple(sorted(values)))


class WriteOp(enum.Enum):
    """Kind of a Write update."""

    INSERT = "INSERT"
    MODIFY = "MODIFY"
    DELETE = "DELETE"


Entity: TypeAlias = Entry | DefaultAction | MulticastGroup | ValueSet


@dataclass(frozen=True, slots=True)
class Update:
    """One update of a Write batch."""

    op: WriteOp
    entity: Entity

    def __post_init__(self) -> None:
        """Check the operation applies to the entity kind."""
        if not isinstance(self.op, WriteOp):
            raise P4ValueError(f"op must be a WriteOp, got {self.op!r}")
        if not isinstance(self.entity, (Entry, DefaultAction, MulticastGroup, ValueSet)):
            raise P4ValueError(f"unsupported entity {self.entity!r}")
        if isinstance(self.entity, (DefaultAction, ValueSet)) and self.op is not WriteOp.MODIFY:
            raise P4ValueError(f"{self.entity!r} can only be modified, not {self.op.name}")


class CounterValue(NamedTuple):
    """A counter cell: packet and byte counts."""

    packets: int
    bytes: int
