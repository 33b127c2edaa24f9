"""The ``pipelines`` section: tables, conditionals, action calls."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, Expr, FieldRef, as_list, parse_expression, parse_hexstr, req
from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

__all__ = [
    "TableKey",
    "ConstMatch",
    "ConstEntry",
    "DefaultEntry",
    "Table",
    "Conditional",
    "ActionCall",
    "Pipeline",
    "load_pipelines",
]

MATCH_TYPES = ("exact", "lpm", "ternary", "range", "valid", "optional")


@dataclass(frozen=True, slots=True)
class TableKey:
    """A key element. ``target`` is a field, or a header name for match type 'valid'."""

    match_type: str
    target: FieldRef | str
    mask: int | None
    name: str


@dataclass(frozen=True, slots=True)
class ConstMatch:
    """A match value of a const entry (fields used depend on the match type)."""

    match_type: str
    key: int = 0
    mask: int | None = None
    prefix_length: int | None = None
    start: int = 0
    end: int = 0


@dataclass(frozen=True, slots=True)
class ConstEntry:
    """An entry from the JSON ``entries`` array (bmv2 priority: lower value wins)."""

    match_key: tuple[ConstMatch, ...]
    action_id: int
    action_data: tuple[int, ...]
    priority: int


@dataclass(frozen=True, slots=True)
class DefaultEntry:
    """The JSON ``default_entry``."""

    action_id: int
    action_data: tuple[int, ...]
    action_const: bool
    action_entry_const: bool


@dataclass(frozen=True, slots=True)
class Table:
    """A match-action table."""

    name: str
    id: int
    match_type: str
    type: str
    max_size: int
    with_counters: bool
    support_timeout: bool
    key: tuple[TableKey, ...]
    action_ids: tuple[int, ...]
    action_names: tuple[str, ...]
    next_tables: dict[str, str | None]
    base_default_next: str | None
    default_entry: DefaultEntry | None
    entries: tuple[ConstEntry, ...] | None
    direct_meters: str | None


@dataclass(frozen=True, slots=True)
class Conditional:
    """An ``if`` node of a control."""

    name: str
    id: int
    expression: Expr
    true_next: str | None
    false_next: str | None


@dataclass(frozen=True, slots=True)
class ActionCall:
    """A direct action call node (p4c never emits these, bmv2 supports them)."""

    name: str
    id: int
    action_id: int
    next_node: str | None


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A control (ingress / egress)."""

    name: str
    id: int
    init_table: str | None
    tables: dict[str, Table]
    conditionals: dict[str, Conditional]
    action_calls: dict[str, ActionCall]


def _const_match(m: JSON, where: str) -> ConstMatch:
    mt = req(m, "match_type", where)
    if mt == "exact":
        return ConstMatch("exact", parse_hexstr(req(m, "key", where), where))
    if mt == "lpm":
        return ConstMatch(
            "lpm",
            parse_hexstr(req(m, "key", where), where),
            prefix_length=int(req(m, "prefix_length", where)),
        )
    if mt in ("ternary", "optional"):
        return ConstMatch(
            mt,
            parse_hexstr(req(m, "key", where), where),
            mask=parse_hexstr(req(m, "mask", where), where),
        )
    if mt == "valid":
        return ConstMatch("valid", 1 if req(m, "key", where) else 0)
    if mt == "range":
        return ConstMatch(
            "range",
            start=parse_hexstr(req(m, "start", where), where),
            end=parse_hexstr(req(m, "end", where), where),
        )
    raise UnsupportedConstruct(f"unsupported match type '{mt}' in const entry of {where}")


def _table(t: JSON, action_names_by_id: dict[int, str]) -> Table:
    name = str(req(t, "name", "tables"))
    where = f"table '{name}'"
    ttype = t.get("type", "simple")
    if ttype != "simple":
        raise UnsupportedConstruct(
            f"unsupported table implementation '{ttype}' (action profiles) in {where}"
        )
    if t.get("support_timeout"):
        raise UnsupportedConstruct(
            f"unsupported construct: idle timeout (support_timeout) in {where}"
        )
    if t.get("direct_meters") is not None:
        raise UnsupportedConstruct(
            f"unsupported construct: direct meter '{t['direct_meters']}' in {where}"
        )
    keys = []
    nlpm = 0
    for k in as_list(t.get("key"), where):
        mt = req(k, "match_type", where)
        if mt not in MATCH_TYPES:
            raise UnsupportedConstruct(f"unsupported match kind '{mt}' in {where}")
        nlpm += mt == "lpm"
        tgt = req(k, "target", where)
        if mt == "valid":
            if not isinstance(tgt, str):
                raise InvalidProgram(f"{where}: 'valid' key target must be a header name")
            target: FieldRef | str = tgt
            kname = str(k.get("name") or tgt)
        else:
            if not (isinstance(tgt, list) and len(tgt) == 2):
                raise InvalidProgram(f"{where}: malformed key target {tgt!r}")
            target = FieldRef(str(tgt[0]), str(tgt[1]))
            kname = str(k.get("name") or f"{tgt[0]}.{tgt[1]}")
        mask = k.get("mask")
        keys.append(
            TableKey(mt, target, None if mask is None else parse_hexstr(mask, where), kname)
        )
    if nlpm > 1:
        raise InvalidProgram(f"{where}: more than one lpm key")
    if "action_ids" in t:
        ids = tuple(int(i) for i in as_list(t["action_ids"], where))
    else:
        by_name: dict[str, int] = {}
        for i, n in action_names_by_id.items():
            by_name.setdefault(n, i)
        ids = tuple(by_name[n] for n in as_list(t.get("actions"), where))
    for i in ids:
        if i not in action_names_by_id:
            raise InvalidProgram(f"{where}: unknown action id {i}")
    names = tuple(action_names_by_id[i] for i in ids)
    nt = req(t, "next_tables", where)
    if not isinstance(nt, dict):
        raise InvalidProgram(f"{where}: next_tables must be an object")
    de = None
    if t.get("default_entry") is not None:
        d = t["default_entry"]
        de = DefaultEntry(
            int(req(d, "action_id", where)),
            tuple(parse_hexstr(x, where) for x in as_list(req(d, "action_data", where), where)),
            bool(d.get("action_const", False)),
            bool(d.get("action_entry_const", False)),
        )
    entries = None
    if "entries" in t:
        entries = tuple(
            ConstEntry(
                tuple(_const_match(m, where) for m in as_list(req(e, "match_key", where), where)),
                int(req(req(e, "action_entry", where), "action_id", where)),
                tuple(
                    parse_hexstr(x, where)
                    for x in as_list(e["action_entry"].get("action_data"), where)
                ),
                int(e.get("priority", 0) or 0),
            )
            for e in as_list(t["entries"], where)
        )
    if "max_size" in t and entries is None:
        size = int(t["max_size"])
    elif entries is not None:
        size = len(entries)
    else:
        raise InvalidProgram(f"{where}: has neither 'max_size' nor 'entries'")
    return Table(
        name=name,
        id=int(req(t, "id", where)),
        match_type=str(t.get("match_type", "exact")),
        type=ttype,
        max_size=size,
        with_counters=bool(t.get("with_counters", False)),
        support_timeout=False,
        key=tuple(keys),
        action_ids=ids,
        action_names=names,
        next_tables={str(a): (None if n is None else str(n)) for a, n in nt.items()},
        base_default_next=t.get("base_default_next"),
        default_entry=de,
        entries=entries,
        direct_meters=None,
    )


def load_pipelines(root: JSON, action_names_by_id: dict[int, str]) -> dict[str, Pipeline]:
    """Parse ``pipelines``; refuses action profiles / selectors."""
    out: dict[str, Pipeline] = {}
    for p in as_list(root.get("pipelines"), "pipelines"):
        name = str(req(p, "name", "pipelines"))
        where = f"pipeline '{name}'"
        aps = as_list(p.get("action_profiles"), where)
        if aps:
            raise UnsupportedConstruct(
                f"unsupported construct: action profile '{req(aps[0], 'name', where)}' in {where}"
            )
        tables = {}
        for t in as_list(p.get("tables"), where):
            tb = _table(t, action_names_by_id)
            tables[tb.name] = tb
        conds = {}
        for c in as_list(p.get("conditionals"), where):
            cname = str(req(c, "name", where))
            conds[cname] = Conditional(
                cname,
                int(req(c, "id", where)),
                parse_expression(
                    req(c, "expression", f"conditional '{cname}'"), f"conditional '{cname}'"
                ),
                c.get("true_next"),
                c.get("false_next"),
            )
        calls = {}
        for a in as_list(p.get("action_calls"), where):
            aname = str(req(a, "name", where))
            calls[aname] = ActionCall(
                aname, int(req(a, "id", where)), int(req(a, "action_id", where)), a.get("next_node")
            )
        nodes = set(tables) | set(conds) | set(calls)
        if len(nodes) != len(tables) + len(conds) + len(calls):
            raise InvalidProgram(f"{where}: duplicate control-flow node names")

        def chk(n: str | None, ctx: str) -> None:
            if n is not None and n not in nodes:
                raise InvalidProgram(f"{ctx}: unknown next node '{n}'")

        chk(p.get("init_table"), where)
        for tb in tables.values():
            for nx in tb.next_tables.values():
                chk(nx, f"table '{tb.name}'")
            chk(tb.base_default_next, f"table '{tb.name}'")
        for c in conds.values():
            chk(c.true_next, f"conditional '{c.name}'")
            chk(c.false_next, f"conditional '{c.name}'")
        for a in calls.values():
            chk(a.next_node, f"action call '{a.name}'")
        out[name] = Pipeline(
            name, int(req(p, "id", where)), p.get("init_table"), tables, conds, calls
        )
    return out
