"""Packet engine: executes p4c's bmv2 JSON (v1model) with bmv2 simple_switch semantics.

Public API (see the engine API contract): :func:`load_program`, :class:`Program`,
:class:`Switch`, :class:`Table`, :class:`CounterArray`, :class:`ValueSet`, the value types and
the exceptions.
"""

from __future__ import annotations

from ..bmv2json.errors import (
    DuplicateEntry,
    EngineError,
    EntryNotFound,
    InvalidEntry,
    InvalidProgram,
    TableFull,
    UnsupportedConstruct,
)
from .program import Program, load_program
from .switch import CounterArray, Switch
from .tables import Table
from .types import (
    ActionInfo,
    CounterInfo,
    Exact,
    KeyField,
    Lpm,
    Match,
    Optional_,
    Range,
    TableEntry,
    TableInfo,
    Ternary,
    ValueSetInfo,
)
from .valueset import ValueSet

__all__ = [
    "EngineError",
    "UnsupportedConstruct",
    "InvalidProgram",
    "DuplicateEntry",
    "EntryNotFound",
    "TableFull",
    "InvalidEntry",
    "load_program",
    "Program",
    "Switch",
    "Table",
    "CounterArray",
    "ValueSet",
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
