"""FAKE ENGINE for the server unit tests: implements the ``softswitch.engine`` contract.

It is not a P4 engine. ``load_program`` takes a small JSON description of tables, actions,
counters and value sets (see ``FAKE_PROGRAM`` in ``test_softswitch_server_support``), and
``Switch.process`` runs one fixed behaviour over those tables:

* a frame from the CPU port starts with a 2-byte ``packet_out`` header (egress port: 9 bits,
  7 pad bits) and is sent out of that port;
* a frame whose EtherType is in value set ``parser.tpids`` is dropped;
* otherwise table ``ingress.fwd`` (exact on the ingress port) picks the action:
  ``ingress.set_port(port)``, ``ingress.flood(group)`` (multicast), ``ingress.to_cpu``
  (2-byte ``packet_in`` header: ingress port, 7 pad bits), else drop;
* counter ``ingress.port_counter[ingress port]`` and the direct counter of the hit entry
  count every frame.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any


class EngineError(Exception):
    """Base of the fake engine errors."""


class UnsupportedConstruct(EngineError):
    """Construct the fake cannot run."""


class DuplicateEntry(EngineError):
    """Entry exists."""


class EntryNotFound(EngineError):
    """Entry does not exist."""


class TableFull(EngineError):
    """Table is full."""


class InvalidEntry(EngineError):
    """Entry is not valid for the table."""


# The contract's value types are the real engine's; only the behaviour below is fake.
from softswitch.engine.types import (  # noqa: E402, F401 - the server reads them off this module
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


class Program:
    """The loaded fake program."""

    def __init__(self, description: Mapping[str, Any]) -> None:
        self.actions = {
            a["name"]: ActionInfo(a["name"], tuple((p, w) for p, w in a["params"]))
            for a in description["actions"]
        }
        self.tables = {
            t["name"]: TableInfo(
                name=t["name"],
                keys=tuple(
                    KeyField(f"k{i}", kind, width) for i, (kind, width) in enumerate(t["keys"])
                ),
                action_names=tuple(t["actions"]),
                size=t["size"],
                default_action=t.get("default_action", "NoAction"),
                default_args=tuple(t.get("default_args", ())),
                default_is_const=t.get("default_is_const", False),
                direct_counter=t.get("direct_counter"),
                has_const_entries=bool(t.get("const_entries")),
            )
            for t in description["tables"]
        }
        self.const_entries = {
            t["name"]: [
                TableEntry(tuple(Exact(v) for v in key), 0, action, ())
                for key, action in t.get("const_entries", [])
            ]
            for t in description["tables"]
        }
        self.counters = {
            c["name"]: CounterInfo(c["name"], c["size"], c.get("direct_table"))
            for c in description.get("counters", [])
        }
        self.value_sets = {
            v["name"]: ValueSetInfo(v["name"], tuple(v["bitwidths"]), v["size"])
            for v in description.get("value_sets", [])
        }


def load_program(source: str | bytes | dict[str, Any]) -> Program:
    """Load a fake program description (JSON text or dict)."""
    description = json.loads(source) if isinstance(source, (str, bytes)) else source
    if "fake_program" not in description:
        raise EngineError("not a fake program")
    description = description["fake_program"]
    if "unsupported" in description:
        raise UnsupportedConstruct(f"unsupported primitive {description['unsupported']!r}")
    return Program(description)


def _fits(value: int, width: int) -> bool:
    return 0 <= value < (1 << width)


def _matches(match: Match, value: int, width: int) -> bool:
    if isinstance(match, Exact):
        return match.value == value
    if isinstance(match, Lpm):
        mask = ((1 << match.prefix_len) - 1) << (width - match.prefix_len)
        return value & mask == match.value
    if isinstance(match, Ternary):
        return value & match.mask == match.value
    if isinstance(match, Range):
        return match.low <= value <= match.high
    return match.value is None or match.value == value


class Table:
    """A fake match-action table."""

    def __init__(self, info: TableInfo, program: Program) -> None:
        self.info = info
        self._program = program
        self._entries: dict[tuple[tuple[Match, ...], int], TableEntry] = {}
        self._counters: dict[tuple[tuple[Match, ...], int], tuple[int, int]] = {}
        self._default = (info.default_action, info.default_args)
        for entry in program.const_entries.get(info.name, []):
            self._entries[(entry.match, entry.priority)] = entry
            self._counters[(entry.match, entry.priority)] = (0, 0)

    def _check(self, entry: TableEntry) -> None:
        if entry.action not in self.info.action_names:
            raise InvalidEntry(f"action {entry.action!r} not in table {self.info.name!r}")
        params = self._program.actions[entry.action].params
        if len(params) != len(entry.args) or not all(
            _fits(arg, width) for arg, (_, width) in zip(entry.args, params)
        ):
            raise InvalidEntry("bad action arguments")
        if len(entry.match) != len(self.info.keys):
            raise InvalidEntry("bad match length")
        needs_priority = any(
            k.match_type in ("ternary", "range", "optional") for k in self.info.keys
        )
        if needs_priority != (entry.priority > 0):
            raise InvalidEntry("bad priority")

    def insert(self, entry: TableEntry) -> None:
        if self.info.has_const_entries:
            raise InvalidEntry("const table modified")
        self._check(entry)
        key = (entry.match, entry.priority)
        if key in self._entries:
            raise DuplicateEntry("duplicate entry")
        if len(self._entries) >= self.info.size:
            raise TableFull(f"table {self.info.name!r} is full")
        self._entries[key] = entry
        self._counters[key] = (0, 0)

    def modify(self, entry: TableEntry) -> None:
        if self.info.has_const_entries:
            raise InvalidEntry("const table modified")
        self._check(entry)
        key = (entry.match, entry.priority)
        if key not in self._entries:
            raise EntryNotFound("no such entry")
        self._entries[key] = entry

    def delete(self, match: tuple[Match, ...], priority: int) -> None:
        if self.info.has_const_entries:
            raise InvalidEntry("const table modified")
        if (match, priority) not in self._entries:
            raise EntryNotFound("no such entry")
        del self._entries[(match, priority)]
        del self._counters[(match, priority)]

    def get(self, match: tuple[Match, ...], priority: int) -> TableEntry | None:
        return self._entries.get((match, priority))

    def entries(self) -> list[TableEntry]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def set_default(self, action: str, args: tuple[int, ...]) -> None:
        if self.info.default_is_const:
            raise InvalidEntry("default action is const")
        if action not in self.info.action_names:
            raise InvalidEntry(f"action {action!r} not in table")
        self._default = (action, tuple(args))

    def get_default(self) -> tuple[str, tuple[int, ...]]:
        return self._default

    def reset_default(self) -> None:
        self._default = (self.info.default_action, self.info.default_args)

    def direct_counter(self, match: tuple[Match, ...], priority: int) -> tuple[int, int]:
        if (match, priority) not in self._counters:
            raise EntryNotFound("no such entry")
        return self._counters[(match, priority)]

    def set_direct_counter(
        self, match: tuple[Match, ...], priority: int, packets: int, bytes_: int
    ) -> None:
        if (match, priority) not in self._counters:
            raise EntryNotFound("no such entry")
        self._counters[(match, priority)] = (packets, bytes_)

    def lookup(self, values: Sequence[int], length: int) -> TableEntry | None:
        hits = [
            entry
            for entry in self._entries.values()
            if all(
                _matches(m, v, k.bitwidth) for m, v, k in zip(entry.match, values, self.info.keys)
            )
        ]
        if not hits:
            return None
        best = max(hits, key=lambda entry: entry.priority)
        key = (best.match, best.priority)
        packets, bytes_ = self._counters[key]
        self._counters[key] = (packets + 1, bytes_ + length)
        return best


class CounterArray:
    def __init__(self, info: CounterInfo) -> None:
        self.info = info
        self._cells = [(0, 0)] * info.size

    def read(self, index: int) -> tuple[int, int]:
        return self._cells[index]

    def write(self, index: int, packets: int, bytes_: int) -> None:
        self._cells[index] = (packets, bytes_)


class ValueSet:
    def __init__(self, info: ValueSetInfo) -> None:
        self.info = info
        self._members: list[tuple[tuple[int, int], ...]] = []

    def set_members(self, members: Sequence[tuple[tuple[int, int], ...]]) -> None:
        if len(members) > self.info.size:
            raise InvalidEntry("too many members")
        self._members = list(members)

    def members(self) -> list[tuple[tuple[int, int], ...]]:
        return list(self._members)


class Switch:
    """The fake switch: fixed behaviour over the program's tables (see module docstring)."""

    def __init__(
        self, program: Program, *, cpu_port: int | None = None, drop_port: int = 511
    ) -> None:
        self.program = program
        self.cpu_port = cpu_port
        self.lock = threading.RLock()
        self._tables = {name: Table(info, program) for name, info in program.tables.items()}
        self._counters = {
            name: CounterArray(info)
            for name, info in program.counters.items()
            if not info.direct_table
        }
        self._value_sets = {name: ValueSet(info) for name, info in program.value_sets.items()}
        self._groups: dict[int, tuple[tuple[int, int], ...]] = {}

    def process(self, in_port: int, data: bytes) -> list[tuple[int, bytes]]:
        with self.lock:
            if in_port == self.cpu_port:
                return [(int.from_bytes(data[:2], "big") >> 7, data[2:])]
            if "ingress.port_counter" in self._counters:
                counter = self._counters["ingress.port_counter"]
                packets, bytes_ = counter.read(in_port)
                counter.write(in_port, packets + 1, bytes_ + len(data))
            ether_type = int.from_bytes(data[12:14], "big")
            if "parser.tpids" in self._value_sets:
                for ((value, mask),) in self._value_sets["parser.tpids"].members():
                    if ether_type & mask == value:
                        return []
            entry = self._tables["ingress.fwd"].lookup([in_port], len(data))
            if entry is None:
                return []
            if entry.action == "ingress.set_port":
                return [(entry.args[0], data)]
            if entry.action == "ingress.flood":
                return [(port, data) for port, _ in self._groups.get(entry.args[0], ())]
            if entry.action == "ingress.to_cpu" and self.cpu_port is not None:
                return [(self.cpu_port, (in_port << 7).to_bytes(2, "big") + data)]
            return []

    def table(self, name: str) -> Table:
        return self._tables[name]

    def counter(self, name: str) -> CounterArray:
        return self._counters[name]

    def set_multicast_group(self, group_id: int, replicas: Sequence[tuple[int, int]]) -> None:
        self._groups[group_id] = tuple(replicas)

    def delete_multicast_group(self, group_id: int) -> None:
        if group_id not in self._groups:
            raise EntryNotFound(f"group {group_id}")
        del self._groups[group_id]

    def multicast_groups(self) -> dict[int, tuple[tuple[int, int], ...]]:
        return dict(self._groups)

    def value_set(self, name: str) -> ValueSet:
        return self._value_sets[name]

    def reset_state(self) -> None:
        self.__init__(self.program, cpu_port=self.cpu_port)  # type: ignore[misc]
