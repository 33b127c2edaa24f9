"""Tiny builder of bmv2 JSON documents (p4c-bm2-ss v1model shape) for engine unit tests."""

from __future__ import annotations

import copy
from typing import Any

STD_FIELDS = [
    ["ingress_port", 9, False], ["egress_spec", 9, False], ["egress_port", 9, False],
    ["instance_type", 32, False], ["packet_length", 32, False], ["enq_timestamp", 32, False],
    ["enq_qdepth", 19, False], ["deq_timedelta", 32, False], ["deq_qdepth", 19, False],
    ["ingress_global_timestamp", 48, False], ["egress_global_timestamp", 48, False],
    ["mcast_grp", 16, False], ["egress_rid", 16, False], ["checksum_error", 1, False],
    ["parser_error", 32, False], ["priority", 3, False], ["_padding", 3, False],
]

ALIASES = [
    ["queueing_metadata.enq_timestamp", ["standard_metadata", "enq_timestamp"]],
    ["queueing_metadata.enq_qdepth", ["standard_metadata", "enq_qdepth"]],
    ["queueing_metadata.deq_timedelta", ["standard_metadata", "deq_timedelta"]],
    ["queueing_metadata.deq_qdepth", ["standard_metadata", "deq_qdepth"]],
    ["intrinsic_metadata.ingress_global_timestamp", ["standard_metadata", "ingress_global_timestamp"]],
    ["intrinsic_metadata.egress_global_timestamp", ["standard_metadata", "egress_global_timestamp"]],
    ["intrinsic_metadata.mcast_grp", ["standard_metadata", "mcast_grp"]],
    ["intrinsic_metadata.egress_rid", ["standard_metadata", "egress_rid"]],
    ["intrinsic_metadata.priority", ["standard_metadata", "priority"]],
]

ERRORS = [["NoError", 0], ["PacketTooShort", 1], ["NoMatch", 2], ["StackOutOfBounds", 3],
          ["HeaderTooShort", 4], ["ParserTimeout", 5], ["ParserInvalidArgument", 6]]


def field(h: str, f: str) -> dict:
    return {"type": "field", "value": [h, f]}


def hexv(v: int) -> dict:
    return {"type": "hexstr", "value": hex(v) if v >= 0 else "-" + hex(-v)}


def rd(i: int) -> dict:
    return {"type": "runtime_data", "value": i}


def expr(op: str, left: Any, right: Any, cond: Any = None) -> dict:
    v = {"op": op, "left": left, "right": right}
    if cond is not None:
        v["cond"] = cond
    return {"type": "expression", "value": v}


def prim(op: str, *params: dict) -> dict:
    return {"op": op, "parameters": list(params)}


class Prog:
    """Mutable builder; ``build()`` returns the JSON dict."""

    def __init__(self) -> None:
        self.header_types: list[dict] = [
            {"name": "scalars_0", "id": 0, "fields": [["tmp", 32, False], ["m8", 8, False], ["s8", 8, True]]},
            {"name": "standard_metadata", "id": 1, "fields": copy.deepcopy(STD_FIELDS)},
        ]
        self.headers: list[dict] = [
            {"name": "scalars", "id": 0, "header_type": "scalars_0", "metadata": True, "pi_omit": True},
            {"name": "standard_metadata", "id": 1, "header_type": "standard_metadata", "metadata": True},
        ]
        self.states: list[dict] = []
        self.init_state = "start"
        self.actions: list[dict] = [{"name": "NoAction", "id": 0, "runtime_data": [], "primitives": []}]
        self.tables: dict[str, list[dict]] = {"ingress": [], "egress": []}
        self.conds: dict[str, list[dict]] = {"ingress": [], "egress": []}
        self.init: dict[str, str | None] = {"ingress": None, "egress": None}
        self.deparse: list[str] = []
        self.calculations: list[dict] = []
        self.checksums: list[dict] = []
        self.counters: list[dict] = []
        self.registers: list[dict] = []
        self.vsets: list[dict] = []
        self.errors = copy.deepcopy(ERRORS)
        self.extra: dict[str, Any] = {}

    def header_type(self, name: str, fields: list, **kw: Any) -> "Prog":
        d = {"name": name, "id": len(self.header_types), "fields": fields}
        d.update(kw)
        self.header_types.append(d)
        return self

    def header(self, name: str, htype: str, metadata: bool = False) -> "Prog":
        self.headers.append({"name": name, "id": len(self.headers), "header_type": htype, "metadata": metadata})
        return self

    def state(self, name: str, ops: list, key: list | None = None, transitions: list | None = None) -> "Prog":
        self.states.append({"name": name, "id": len(self.states), "parser_ops": ops,
                            "transition_key": key or [],
                            "transitions": transitions or [{"type": "default", "value": None, "mask": None,
                                                            "next_state": None}]})
        return self

    def action(self, name: str, params: list[tuple[str, int]], prims: list) -> int:
        aid = len(self.actions)
        self.actions.append({"name": name, "id": aid,
                             "runtime_data": [{"name": n, "bitwidth": w} for n, w in params],
                             "primitives": prims})
        return aid

    def table(self, pipe: str, name: str, key: list, action_ids: list[int], next_: dict | None = None,
              default: tuple[int, list[str]] | None = None, size: int = 1024, const_default: bool = False,
              with_counters: bool = False, entries: list | None = None, match_type: str = "exact") -> "Prog":
        names = [self.actions[i]["name"] for i in action_ids]
        t = {
            "name": name, "id": sum(len(v) for v in self.tables.values()), "source_info": {},
            "key": key, "match_type": match_type, "type": "simple", "max_size": size,
            "with_counters": with_counters, "support_timeout": False, "direct_meters": None,
            "action_ids": action_ids, "actions": names, "base_default_next": None,
            "next_tables": next_ if next_ is not None else {n: None for n in names},
            "default_entry": {"action_id": (default or (action_ids[-1], []))[0], "action_const": const_default,
                              "action_data": (default or (action_ids[-1], []))[1],
                              "action_entry_const": const_default},
        }
        if entries is not None:
            t["entries"] = entries
        self.tables[pipe].append(t)
        if self.init[pipe] is None:
            self.init[pipe] = name
        return self

    def build(self) -> dict:
        def pipe(n: str, i: int) -> dict:
            return {"name": n, "id": i, "source_info": {}, "init_table": self.init[n],
                    "action_profiles": [], "tables": self.tables[n], "conditionals": self.conds[n]}

        d = {
            "header_types": self.header_types, "headers": self.headers, "header_stacks": [],
            "header_union_types": [], "header_unions": [], "header_union_stacks": [],
            "field_lists": [], "errors": self.errors, "enums": [],
            "parsers": [{"name": "parser", "id": 0, "init_state": self.init_state if self.states else None,
                         "parse_states": self.states}],
            "parse_vsets": self.vsets,
            "deparsers": [{"name": "deparser", "id": 0, "source_info": {}, "order": self.deparse,
                           "primitives": []}],
            "meter_arrays": [], "counter_arrays": self.counters, "register_arrays": self.registers,
            "calculations": self.calculations, "learn_lists": [], "actions": self.actions,
            "pipelines": [pipe("ingress", 0), pipe("egress", 1)], "checksums": self.checksums,
            "force_arith": [], "extern_instances": [], "field_aliases": ALIASES,
            "program": "test.p4", "__meta__": {"version": [2, 23], "compiler": "jsonkit"},
        }
        d.update(self.extra)
        return copy.deepcopy(d)


def eth_prog() -> Prog:
    """Ethernet parser + deparser, an ingress table 'fwd' (exact on dst) with set_port/drop."""
    p = Prog()
    p.header_type("ethernet_t", [["dst", 48, False], ["src", 48, False], ["etype", 16, False]])
    p.header("ethernet", "ethernet_t")
    p.state("start", [{"op": "extract", "parameters": [{"type": "regular", "value": "ethernet"}]}])
    p.deparse = ["ethernet"]
    return p
