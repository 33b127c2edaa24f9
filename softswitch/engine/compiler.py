"""Builds the executable runtime of a program: generated parser, controls, deparser, checksums,
and the stateful objects (tables, counters, registers, value sets) they refer to."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from ..bmv2json.common import FieldRef
from ..bmv2json.errors import InvalidProgram, UnsupportedConstruct
from ..bmv2json.pipelines import Pipeline
from ..bmv2json.program import ProgramModel
from .calc import compile_calculation, compile_checksums
from .codegen import Gen, RuntimeObjects
from .layout import EXIT, HeaderLayout, Layout
from .parsergen import compile_parser
from .tables import ActionBinding, KeySpec, Table
from .types import Exact, Lpm, Match, Optional_, Range, TableEntry, TableInfo, Ternary
from .valueset import ValueSet

logger = logging.getLogger(__name__)

__all__ = ["Runtime", "build_runtime", "REQUIRED_FIELDS", "slice_of_mask"]

REQUIRED_FIELDS = (
    "standard_metadata.ingress_port",
    "standard_metadata.packet_length",
    "standard_metadata.instance_type",
    "standard_metadata.egress_spec",
    "standard_metadata.egress_port",
)


@dataclass
class Runtime:
    """Everything a Switch needs to process packets."""

    layout: Layout
    gen: Gen
    parse: Callable[[list, bytes], int]
    verify_checksums: Callable[[list], None]
    update_checksums: Callable[[list], None]
    ingress: Callable[[list], None]
    egress: Callable[[list], None]
    deparse: Callable[[list], bytes]
    tables: dict[str, Table]
    counters: dict[str, tuple[list[int], list[int]]]
    registers: dict[str, list[int]]
    value_sets: dict[str, ValueSet]
    slots: dict[str, int | None] = field(default_factory=dict)
    widths: dict[str, int] = field(default_factory=dict)


def slice_of_mask(mask: int, width: int) -> tuple[int, int] | None:
    """(shift, width) when a static key mask selects a contiguous bit range other than the whole
    field: p4c encodes a slice key ``f[h:l]`` that way (the control plane sees the slice width)."""
    mask &= (1 << width) - 1
    if mask == 0 or mask == (1 << width) - 1:
        return None
    shift = (mask & -mask).bit_length() - 1
    m = mask >> shift
    if m & (m + 1):
        return None
    return shift, m.bit_length()


def _key_code(
    gen: Gen, tname: str, keys: tuple, where: str
) -> tuple[list[str], tuple[KeySpec, ...], list[int]]:
    """Code parts of the lookup key, key specs and widths."""
    widths = []
    codes = []
    kinds = []
    for k in keys:
        if k.match_type == "valid":
            h = gen.L.header(k.target, where)
            codes.append("1" if h.metadata else f"F[{h.valid}]")
            widths.append(1)
        else:
            fs = gen.L.field(k.target, where)
            if fs.width is None:
                raise UnsupportedConstruct(f"unsupported match on a varbit field in {where}")
            c = f"F[{fs.slot}]"
            if fs.signed:
                c = f"({c} & {(1 << fs.width) - 1})"
            w = fs.width
            if k.mask is not None:
                sl = slice_of_mask(k.mask, fs.width)
                if sl is not None:  # p4c turns a slice key f[h:l] into f with mask bits h..l
                    shift, w = sl
                    c = (
                        f"(({c} >> {shift}) & {(1 << w) - 1})"
                        if shift
                        else f"({c} & {(1 << w) - 1})"
                    )
                else:
                    c = f"({c} & {k.mask & ((1 << fs.width) - 1)})"
            codes.append(c)
            widths.append(w)
        kinds.append(k.match_type)
    total = sum(widths)
    specs = []
    off = total
    parts = []
    for c, w, kd in zip(codes, widths, kinds):
        off -= w
        specs.append(KeySpec(kd, w, off))
        parts.append(f"({c} << {off})" if off else c)
    return parts, tuple(specs), widths


def _const_match(cm: Any, spec: KeySpec, where: str) -> Match:
    if cm.match_type != spec.kind and not (cm.match_type == "ternary" and spec.kind == "optional"):
        raise InvalidProgram(
            f"{where}: const entry match type '{cm.match_type}' does not match key '{spec.kind}'"
        )
    if spec.kind in ("exact", "valid"):
        return Exact(cm.key)
    if spec.kind == "lpm":
        w = spec.width
        pl = cm.prefix_length or 0
        mk = ((1 << w) - 1) >> (w - pl) << (w - pl) if pl else 0
        return Lpm(cm.key & mk, pl)
    if spec.kind in ("ternary", "optional"):
        mask = cm.mask if cm.mask is not None else (1 << spec.width) - 1
        return Ternary(cm.key & mask, mask)
    return Range(cm.start, cm.end)


def build_runtime(
    model: ProgramModel, infos: dict[str, TableInfo], drop_port: int = 511
) -> Runtime:
    """Compile ``model`` into a fresh Runtime (fresh state: no entries, zero counters)."""
    layout = Layout(model)
    for n in REQUIRED_FIELDS:
        if layout.lookup_name(n) is None:
            raise InvalidProgram(f"simple_switch requires field '{n}'")
    for n in ("parser",):
        if n not in model.parsers:
            raise InvalidProgram("simple_switch requires a parser named 'parser'")
    if "deparser" not in model.deparsers:
        raise InvalidProgram("simple_switch requires a deparser named 'deparser'")
    for n in ("ingress", "egress"):
        if n not in model.pipelines:
            raise InvalidProgram(f"simple_switch requires a pipeline named '{n}'")

    objs = RuntimeObjects(drop_port=drop_port)
    for c in model.counter_arrays.values():
        if not c.is_direct:
            objs.counters[c.name] = ([0] * c.size, [0] * c.size)
    for r in model.register_arrays.values():
        objs.registers[r.name] = [0] * r.size
    gen = Gen(layout, objs, model)
    calcs = {}
    for c in model.calculations.values():
        calcs[c.name] = compile_calculation(gen, c)
    objs.calculations.update(calcs)

    # actions (all of them, like bmv2, so anything unsupported is refused at load)
    act_fns: dict[int, Callable] = {}
    for a in model.actions.values():
        act_fns[a.id] = gen.compile_action(
            a.name, a.primitives, len(a.runtime_data), f"action '{a.name}'"
        )

    vsets = {v.name: ValueSet(v) for v in model.parse_vsets.values()}
    vset_widths: dict[str, tuple[int, ...]] = {}
    parse = compile_parser(gen, model.parsers["parser"], vsets, model.errors, vset_widths)
    for p in model.parsers.values():
        if p.name != "parser":
            compile_parser(gen, p, vsets, model.errors, vset_widths)
    for name, vs in vsets.items():
        vs.set_bitwidths(vset_widths.get(name, (vs.compressed_bitwidth,)))
    verify_ck, update_ck = compile_checksums(gen, model.checksums, calcs)

    tables: dict[str, Table] = {}
    pipes: dict[str, Callable[[list], None]] = {}
    for pipe in model.pipelines.values():
        pipes[pipe.name] = _compile_pipeline(gen, model, pipe, act_fns, infos, tables)

    deparse = _compile_deparser(gen, model)
    rt = Runtime(
        layout,
        gen,
        parse,
        verify_ck,
        update_ck,
        pipes["ingress"],
        pipes["egress"],
        deparse,
        tables,
        objs.counters,
        objs.registers,
        vsets,
    )
    for n in REQUIRED_FIELDS + (
        "intrinsic_metadata.mcast_grp",
        "intrinsic_metadata.egress_rid",
        "standard_metadata.parser_error",
        "standard_metadata.checksum_error",
        "intrinsic_metadata.ingress_global_timestamp",
        "intrinsic_metadata.egress_global_timestamp",
        "intrinsic_metadata.priority",
        "queueing_metadata.enq_timestamp",
        "queueing_metadata.enq_qdepth",
        "queueing_metadata.deq_timedelta",
        "queueing_metadata.deq_qdepth",
        "queueing_metadata.qid",
    ):
        fs = layout.lookup_name(n)
        rt.slots[n] = None if fs is None else fs.slot
        rt.widths[n] = 0 if fs is None or fs.width is None else fs.width
    return rt


def _compile_pipeline(
    gen: Gen,
    model: ProgramModel,
    pipe: Pipeline,
    act_fns: dict[int, Callable],
    infos: dict[str, TableInfo],
    tables: dict[str, Table],
) -> Callable[[list], None]:
    node_ids: dict[str, str] = {
        n: gen.uname("node_")
        for n in list(pipe.tables) + list(pipe.conditionals) + list(pipe.action_calls)
    }

    def ref(n: str | None) -> str:
        return "None" if n is None else node_ids[n]

    for t in pipe.tables.values():
        where = f"table '{t.name}'"
        parts, specs, widths = _key_code(gen, t.name, t.key, where)
        keyfn = None
        if parts:
            kn = gen.uname("key_")
            keyfn = gen.define([f"def {kn}(F):", "    return " + " | ".join(parts)], kn)
        actions: dict[str, ActionBinding] = {}
        for aid, aname in zip(t.action_ids, t.action_names):
            if aname not in actions:
                a = model.actions[aid]
                actions[aname] = ActionBinding(
                    aname, act_fns[aid], tuple(w for _, w in a.runtime_data)
                )
        default = None
        if t.default_entry is not None:
            da = model.actions.get(t.default_entry.action_id)
            if da is None:
                raise InvalidProgram(
                    f"{where}: unknown default action id {t.default_entry.action_id}"
                )
            if da.name not in actions:
                actions[da.name] = ActionBinding(
                    da.name, act_fns[da.id], tuple(w for _, w in da.runtime_data)
                )
            default = (
                da.name,
                tuple(
                    v & ((1 << w) - 1)
                    for v, (_, w) in zip(t.default_entry.action_data, da.runtime_data)
                ),
            )
        hm = "__HIT__" in t.next_tables or "__MISS__" in t.next_tables
        tb = Table(
            infos[t.name], specs, keyfn, actions, None, None, hm, None, default, t.with_counters
        )
        tables[t.name] = tb
        gen.ns[node_ids[t.name]] = tb.apply
        if t.entries:
            ents = []
            for ce in t.entries:
                ca = model.actions.get(ce.action_id)
                if ca is None:
                    raise InvalidProgram(
                        f"{where}: const entry uses unknown action id {ce.action_id}"
                    )
                if len(ce.match_key) != len(specs):
                    raise InvalidProgram(f"{where}: const entry has a wrong number of match fields")
                match = tuple(_const_match(cm, s, where) for cm, s in zip(ce.match_key, specs))
                ents.append((ce, match, ca))
            prio_needed = any(s.kind in ("ternary", "range", "optional") for s in specs)
            maxp = max((ce.priority for ce, _, _ in ents), default=0)
            converted = []
            for ce, match, ca in ents:
                # bmv2: lower number wins; contract: higher wins
                prio = (maxp + 1 - ce.priority) if prio_needed else 0
                converted.append(TableEntry(match, prio, ca.name, ce.action_data))
            tb.load_const_entries(converted)
        elif t.entries is not None:
            tb.load_const_entries([])

    for c in pipe.conditionals.values():
        where = f"conditional '{c.name}'"
        fn = node_ids[c.name]
        gen.define(
            [
                f"def {fn}(F):",
                f"    return {ref(c.true_next)} if {gen.boolean(c.expression, where, None)} "
                f"else {ref(c.false_next)}",
            ],
            fn,
        )
    for a in pipe.action_calls.values():
        fn = node_ids[a.name]
        if a.action_id not in act_fns:
            raise InvalidProgram(f"action call '{a.name}': unknown action id {a.action_id}")
        an = gen.bind(act_fns[a.action_id], "ac")
        gen.define([f"def {fn}(F):", f"    {an}(F, ())", f"    return {ref(a.next_node)}"], fn)

    for t in pipe.tables.values():

        def node(n: str | None) -> Any:
            return None if n is None else gen.ns[node_ids[n]]

        by_action = {a: node(n) for a, n in t.next_tables.items() if not a.startswith("__")}
        tables[t.name].wire(
            by_action,
            node(t.next_tables.get("__HIT__")),
            node(t.next_tables.get("__MISS__")),
            node(t.base_default_next),
        )

    rn = gen.uname("run_")
    return gen.define(
        [
            f"def {rn}(F):",
            f"    n = {ref(pipe.init_table)}",
            "    while n is not None:",
            f"        if F[{EXIT}]:",
            "            break",
            "        n = n(F)",
        ],
        rn,
    )


def _emit_vl(h: HeaderLayout) -> Callable[[list], bytes]:
    widths = h.widths
    base, vlw, fixed = h.base, h.vlw, h.fixed_bits

    def emit(F: list) -> bytes:
        a = 0
        for i, w in enumerate(widths):
            if w is None:
                w = F[vlw]
            a = (a << w) | (F[base + i] & ((1 << w) - 1))
        return a.to_bytes((fixed + F[vlw]) // 8, "big")

    return emit


def _compile_deparser(gen: Gen, model: ProgramModel) -> Callable[[list], bytes]:
    d = model.deparsers["deparser"]
    where = "deparser 'deparser'"
    fn = gen.uname("deparse_")
    lines = [f"def {fn}(F):"]
    if d.primitives:
        an = gen.bind(gen.compile_action("deparser", d.primitives, 0, where), "dp")
        lines.append(f"    {an}(F, ())")
    lines.append("    o = []")
    for hname in d.order:
        h = gen.L.header(hname, where)
        cond = gen.valid_code(h)
        if h.vlw is not None:
            em = gen.bind(_emit_vl(h), "emvl")
            lines += [f"    if {cond}:", f"        o.append({em}(F))"]
            continue
        bits = h.fixed_bits
        if bits % 8:
            raise UnsupportedConstruct(
                f"unsupported deparsing of header '{h.name}' whose width ({bits} bits) is not a whole number of bytes"
            )
        if bits == 0:
            continue
        sh = bits
        terms = []
        for i, w in enumerate(h.widths):
            assert w is not None
            sh -= w
            if w == 0:
                continue
            v = f"F[{h.base + i}]"
            if h.signed[i]:
                v = f"({v} & {(1 << w) - 1})"
            terms.append(f"({v} << {sh})" if sh else v)
        lines += [
            f"    if {cond}:",
            f"        o.append(({' | '.join(terms)}).to_bytes({bits // 8}, 'big'))",
        ]
    lines.append("    return b''.join(o)")
    return gen.define(lines, fn)
