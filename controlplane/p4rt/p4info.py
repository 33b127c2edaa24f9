"""A plain index of a P4Info: names, ids, bitwidths and match kinds.

finsy's `P4Schema` cannot load a P4Info whose table has two match fields with
the same last name component (e.g. ``hdr.ethernet.dst_addr`` and
``hdr.inner_ethernet.dst_addr``): its alias map raises "name already exists".
Overlay programs key on inner and outer headers, so we index the P4Info
protobuf ourselves; it is a few dictionaries. Names are the P4Info's full
names (``preamble.name``), never aliases, so a name read back from the device
is the name that was written.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from finsy import pbutil
from finsy.proto import p4i

from controlplane.p4rt.errors import P4NameError, P4ValueError


class MatchKind(enum.Enum):
    """The P4Runtime match kinds our entries support."""

    EXACT = p4i.MatchField.MatchType.EXACT
    LPM = p4i.MatchField.MatchType.LPM
    TERNARY = p4i.MatchField.MatchType.TERNARY
    RANGE = p4i.MatchField.MatchType.RANGE
    OPTIONAL = p4i.MatchField.MatchType.OPTIONAL


PRIORITY_KINDS = frozenset({MatchKind.TERNARY, MatchKind.RANGE, MatchKind.OPTIONAL})
"""A table with any of these match kinds needs a priority on each entry."""


class ActionScope(enum.Enum):
    """Where a table may use an action."""

    TABLE_AND_DEFAULT = p4i.ActionRef.Scope.TABLE_AND_DEFAULT
    TABLE_ONLY = p4i.ActionRef.Scope.TABLE_ONLY
    DEFAULT_ONLY = p4i.ActionRef.Scope.DEFAULT_ONLY


class _Named(Protocol):
    """Anything with an id and a name."""

    @property
    def id(self) -> int:
        """P4Info id."""
        ...

    @property
    def name(self) -> str:
        """P4Info name."""
        ...


_T = TypeVar("_T", bound=_Named)


@dataclass(frozen=True, slots=True)
class NamedIds(Generic[_T]):
    """Items looked up by name or by id; `lookup` raises P4NameError listing valid names."""

    kind: str
    by_name: Mapping[str, _T]
    by_id: Mapping[int, _T]

    @classmethod
    def of(cls, kind: str, items: Iterable[_T]) -> NamedIds[_T]:
        """Index `items` by their `name` and `id`."""
        listed = list(items)
        return cls(kind, {i.name: i for i in listed}, {i.id: i for i in listed})

    def lookup(self, name: str, where: str = "") -> _T:
        """Return the item called `name` or raise P4NameError naming the valid ones."""
        item = self.by_name.get(name)
        if item is None:
            raise P4NameError(self.kind, name, self.by_name, where)
        return item

    def from_device(self, ident: int) -> _T:
        """Return the item with id `ident` from a device reply, or raise P4ValueError."""
        item = self.by_id.get(ident)
        if item is None:
            raise P4ValueError(f"device returned unknown {self.kind} id {ident:#x}")
        return item

    def __iter__(self) -> Iterator[_T]:
        """Iterate over the items in P4Info order."""
        return iter(self.by_id.values())


@dataclass(frozen=True, slots=True)
class MatchFieldInfo:
    """One match field of a table; `kind` is None for a kind we do not support."""

    id: int
    name: str
    bitwidth: int
    kind: MatchKind | None


@dataclass(frozen=True, slots=True)
class BitsInfo:
    """A named bit<W> item: an action parameter or a packet metadata field."""

    id: int
    name: str
    bitwidth: int
    padding: bool = False
    """Packet metadata only: annotated ``@padding`` or named ``_...``; always 0."""


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """An action and its parameters."""

    id: int
    name: str
    params: NamedIds[BitsInfo]


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table: match fields, allowed actions (action name -> scope) and resources."""

    id: int
    name: str
    fields: NamedIds[MatchFieldInfo]
    action_scopes: Mapping[str, ActionScope]
    const_default_action_id: int
    is_const: bool
    has_action_profile: bool
    direct_counter_id: int

    @property
    def needs_priority(self) -> bool:
        """True when entries need a priority (a ternary, range or optional key)."""
        return any(f.kind in PRIORITY_KINDS for f in self.fields)


@dataclass(frozen=True, slots=True)
class CounterInfo:
    """An indexed counter array (``size`` cells) or a direct counter (``size`` 0)."""

    id: int
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class ValueSetInfo:
    """A parser value set: up to `size` members, each matching `fields`."""

    id: int
    name: str
    size: int
    fields: tuple[MatchFieldInfo, ...]


@dataclass(frozen=True, slots=True)
class P4InfoIndex:
    """Name and id lookups over one P4Info message."""

    p4info: p4i.P4Info
    tables: NamedIds[TableInfo]
    actions: NamedIds[ActionInfo]
    counters: NamedIds[CounterInfo]
    direct_counters: NamedIds[CounterInfo]
    value_sets: NamedIds[ValueSetInfo]
    packet_metadata: Mapping[str, NamedIds[BitsInfo]]
    """Controller packet metadata by header name, e.g. ``packet_in``, ``packet_out``."""

    @classmethod
    def build(cls, p4info: p4i.P4Info) -> P4InfoIndex:
        """Index every table, action, counter and controller header of `p4info`."""
        actions = NamedIds.of("action", (_action(a) for a in p4info.actions))
        direct_ids = {d.preamble.id for d in p4info.direct_counters}
        return cls(
            p4info=p4info,
            tables=NamedIds.of("table", (_table(t, actions, direct_ids) for t in p4info.tables)),
            actions=actions,
            counters=NamedIds.of(
                "counter",
                (CounterInfo(c.preamble.id, c.preamble.name, c.size) for c in p4info.counters),
            ),
            direct_counters=NamedIds.of(
                "direct counter",
                (CounterInfo(d.preamble.id, d.preamble.name, 0) for d in p4info.direct_counters),
            ),
            value_sets=NamedIds.of(
                "value set",
                (
                    ValueSetInfo(
                        v.preamble.id,
                        v.preamble.name,
                        v.size,
                        tuple(
                            MatchFieldInfo(f.id, f.name, f.bitwidth, _match_kind(f))
                            for f in v.match
                        ),
                    )
                    for v in p4info.value_sets
                ),
            ),
            packet_metadata={
                h.preamble.name: NamedIds.of(
                    f"{h.preamble.name} metadata",
                    (_packet_metadata(m) for m in h.metadata),
                )
                for h in p4info.controller_packet_metadata
            },
        )


def _action(action: p4i.Action) -> ActionInfo:
    """Index one action."""
    params = NamedIds.of(
        "action parameter", (BitsInfo(p.id, p.name, p.bitwidth) for p in action.params)
    )
    return ActionInfo(action.preamble.id, action.preamble.name, params)


def _packet_metadata(metadata: p4i.ControllerPacketMetadata.Metadata) -> BitsInfo:
    """Index one controller header field, noting padding fields."""
    padding = metadata.name.startswith("_") or any(
        a.strip().startswith("@padding") for a in metadata.annotations
    )
    return BitsInfo(metadata.id, metadata.name, metadata.bitwidth, padding)


def _match_kind(field: p4i.MatchField) -> MatchKind | None:
    """Return the field's match kind, None for other/unspecified kinds."""
    if field.WhichOneof("match") != "match_type":
        return None
    try:
        return MatchKind(field.match_type)
    except ValueError:
        return None


def _table(table: p4i.Table, actions: NamedIds[ActionInfo], direct_ids: set[int]) -> TableInfo:
    """Index one table."""
    fields = NamedIds.of(
        "match field",
        (MatchFieldInfo(f.id, f.name, f.bitwidth, _match_kind(f)) for f in table.match_fields),
    )
    scopes = {actions.by_id[ref.id].name: ActionScope(ref.scope) for ref in table.action_refs}
    direct = [rid for rid in table.direct_resource_ids if rid in direct_ids]
    return TableInfo(
        id=table.preamble.id,
        name=table.preamble.name,
        fields=fields,
        action_scopes=scopes,
        const_default_action_id=table.const_default_action_id,
        is_const=table.is_const_table,
        has_action_profile=table.implementation_id != 0,
        direct_counter_id=direct[0] if direct else 0,
    )


def load_p4info(path: str | Path) -> p4i.P4Info:
    """Parse a P4Info text-format file (``.txtpb`` / ``.txt``)."""
    return pbutil.from_text(Path(path).read_text("utf-8"), p4i.P4Info)
