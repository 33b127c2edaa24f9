"""Value types of the engine API contract (frozen, slotted dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "KeyField",
    "ActionInfo",
    "TableInfo",
    "CounterInfo",
    "ValueSetInfo",
    "Exact",
    "Lpm",
    "Ternary",
    "Range",
    "Optional_",
    "Match",
    "TableEntry",
]


@dataclass(frozen=True, slots=True)
class KeyField:
    """A table key field: name (P4Info match field name), match kind, bitwidth."""

    name: str
    match_type: str  # 'exact'|'lpm'|'ternary'|'range'|'optional'|'valid'
    bitwidth: int


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """An action and its parameters (name, bitwidth)."""

    name: str
    params: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """Static description of a table."""

    name: str
    keys: tuple[KeyField, ...]
    action_names: tuple[str, ...]
    size: int
    default_action: str
    default_args: tuple[int, ...]
    default_is_const: bool
    direct_counter: str | None
    has_const_entries: bool


@dataclass(frozen=True, slots=True)
class CounterInfo:
    """A counter array (indexed, or direct when ``direct_table`` is set)."""

    name: str
    size: int
    direct_table: str | None


@dataclass(frozen=True, slots=True)
class ValueSetInfo:
    """A parser value set; ``bitwidths`` has one width per field of a member."""

    name: str
    bitwidths: tuple[int, ...]
    size: int


@dataclass(frozen=True, slots=True)
class Exact:
    """Exact match value."""

    value: int


@dataclass(frozen=True, slots=True)
class Lpm:
    """Longest-prefix match value (host bits must be zero)."""

    value: int
    prefix_len: int


@dataclass(frozen=True, slots=True)
class Ternary:
    """Ternary match; mask 0 is a wildcard (value must then be 0)."""

    value: int
    mask: int


@dataclass(frozen=True, slots=True)
class Range:
    """Range match [low, high]; (0, 2^w-1) is a wildcard."""

    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Optional_:
    """Optional match; None is a wildcard."""

    value: int | None


Match = Union[Exact, Lpm, Ternary, Range, Optional_]


@dataclass(frozen=True, slots=True)
class TableEntry:
    """A table entry; its identity is (match, priority)."""

    match: tuple[Match, ...]
    priority: int
    action: str
    args: tuple[int, ...]
