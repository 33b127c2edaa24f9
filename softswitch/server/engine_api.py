"""The part of the ``softswitch.engine`` contract the server relies on, as typing protocols.

The server never imports the engine at module level: the engine module is handed to it
(``softswitch.engine`` by default, a stand-in in tests), see ``load_engine_module``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class KeyFieldLike(Protocol):
    """``softswitch.engine.KeyField``."""

    name: str
    match_type: str
    bitwidth: int


class ActionInfoLike(Protocol):
    """``softswitch.engine.ActionInfo``."""

    name: str
    params: tuple[tuple[str, int], ...]


class TableInfoLike(Protocol):
    """``softswitch.engine.TableInfo``."""

    name: str
    keys: tuple[KeyFieldLike, ...]
    action_names: tuple[str, ...]
    size: int
    default_action: str
    default_args: tuple[int, ...]
    default_is_const: bool
    direct_counter: str | None
    has_const_entries: bool


class CounterInfoLike(Protocol):
    """``softswitch.engine.CounterInfo``."""

    name: str
    size: int
    direct_table: str | None


class ValueSetInfoLike(Protocol):
    """``softswitch.engine.ValueSetInfo``."""

    name: str
    bitwidths: tuple[int, ...]
    size: int


class ProgramLike(Protocol):
    """``softswitch.engine.Program``."""

    tables: Mapping[str, TableInfoLike]
    actions: Mapping[str, ActionInfoLike]
    counters: Mapping[str, CounterInfoLike]
    value_sets: Mapping[str, ValueSetInfoLike]


class TableEntryLike(Protocol):
    """``softswitch.engine.TableEntry``."""

    match: tuple[Any, ...]
    priority: int
    action: str
    args: tuple[int, ...]


class TableLike(Protocol):
    """``softswitch.engine.Table``."""

    info: TableInfoLike

    def insert(self, entry: Any) -> None: ...
    def modify(self, entry: Any) -> None: ...
    def delete(self, match: tuple[Any, ...], priority: int) -> None: ...
    def get(self, match: tuple[Any, ...], priority: int) -> TableEntryLike | None: ...
    def entries(self) -> list[TableEntryLike]: ...
    def __len__(self) -> int: ...
    def set_default(self, action: str, args: tuple[int, ...]) -> None: ...
    def get_default(self) -> tuple[str, tuple[int, ...]]: ...
    def reset_default(self) -> None: ...
    def direct_counter(self, match: tuple[Any, ...], priority: int) -> tuple[int, int]: ...
    def set_direct_counter(
        self, match: tuple[Any, ...], priority: int, packets: int, bytes_: int
    ) -> None: ...


class CounterArrayLike(Protocol):
    """``softswitch.engine.CounterArray``."""

    info: CounterInfoLike

    def read(self, index: int) -> tuple[int, int]: ...
    def write(self, index: int, packets: int, bytes_: int) -> None: ...


class ValueSetLike(Protocol):
    """``softswitch.engine.ValueSet``."""

    info: ValueSetInfoLike

    def set_members(self, members: Sequence[tuple[tuple[int, int], ...]]) -> None: ...
    def members(self) -> list[tuple[tuple[int, int], ...]]: ...


class SwitchLike(Protocol):
    """``softswitch.engine.Switch``."""

    program: ProgramLike
    lock: threading.RLock

    def process(self, in_port: int, data: bytes) -> list[tuple[int, bytes]]: ...
    def table(self, name: str) -> TableLike: ...
    def counter(self, name: str) -> CounterArrayLike: ...
    def set_multicast_group(self, group_id: int, replicas: Sequence[tuple[int, int]]) -> None: ...
    def delete_multicast_group(self, group_id: int) -> None: ...
    def multicast_groups(self) -> dict[int, tuple[tuple[int, int], ...]]: ...
    def value_set(self, name: str) -> ValueSetLike: ...


class EngineModule(Protocol):
    """The ``softswitch.engine`` module: its functions, classes and exceptions."""

    EngineError: type[Exception]
    UnsupportedConstruct: type[Exception]
    DuplicateEntry: type[Exception]
    EntryNotFound: type[Exception]
    TableFull: type[Exception]
    InvalidEntry: type[Exception]
    Exact: type[Any]
    Lpm: type[Any]
    Ternary: type[Any]
    Range: type[Any]
    Optional_: type[Any]
    TableEntry: type[Any]
    Switch: type[Any]

    def load_program(self, source: str | bytes | dict[str, Any]) -> ProgramLike: ...


def load_engine_module() -> EngineModule:
    """Import and return ``softswitch.engine``."""
    module: EngineModule = importlib.import_module("softswitch.engine")
    return module
