"""Code generation: bmv2 expressions and primitive calls -> Python source -> functions.

Everything the generated code touches is either a constant computed here, a slot index of the
packet state list ``F`` (see :mod:`.layout`), an action-data tuple ``D``, or an object bound into
the module namespace under a generated identifier. No text from the JSON is ever spliced into
the source (names only appear through generated identifiers), so ``exec`` only sees code we
wrote.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from ..bmv2json.actions import PrimitiveCall
from ..bmv2json.common import (
    Arg,
    BoolConst,
    Const,
    Expr,
    FieldRef,
    HeaderRef,
    Local,
    Op,
    RegisterRef,
    StackFieldRef,
    StackRef,
)
from ..bmv2json.errors import InvalidProgram, UnsupportedConstruct
from . import rt
from .layout import EXIT, ILEN, PLEN, TRUNC, FieldSlot, HeaderLayout, Layout

logger = logging.getLogger(__name__)

__all__ = ["Gen", "RuntimeObjects", "SUPPORTED_PRIMITIVES"]

_ARITH = {"+": "+", "-": "-", "*": "*", "&": "&", "|": "|", "^": "^"}
_CMP = {"==": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


@dataclass
class RuntimeObjects:
    """Mutable per-switch state the generated code refers to."""

    counters: dict[str, tuple[list[int], list[int]]] = field(
        default_factory=dict
    )  # name -> (packets, bytes)
    registers: dict[str, list[int]] = field(default_factory=dict)
    calculations: dict[str, Callable[[list], int]] = field(default_factory=dict)
    drop_port: int = 511


class Gen:
    """Holds the namespace of generated code and compiles expressions / actions into it."""

    def __init__(self, layout: Layout, objs: RuntimeObjects, model: Any) -> None:
        self.L = layout
        self.objs = objs
        self.model = model
        self.ns: dict[str, Any] = {
            "__builtins__": {
                "int": int,
                "len": len,
                "range": range,
                "bytes": bytes,
                "min": min,
                "max": max,
            },
            "_div": rt.div,
            "_mod": rt.mod,
            "_shl": rt.shl,
            "_shr": rt.shr,
            "_twc": rt.two_comp_mod,
            "_usat": rt.usat,
            "_ssat": rt.ssat,
            "_sx": rt.sx,
            "_PErr": rt.ParserError,
            "_AFail": rt.AssertFailure,
            "_rand": random.randint,
            "_log": logger,
            "_ifb": int.from_bytes,
        }
        self._n = 0

    # -- namespace helpers ---------------------------------------------------------------------

    def uname(self, prefix: str) -> str:
        """A fresh identifier."""
        self._n += 1
        return f"{prefix}{self._n}"

    def bind(self, obj: Any, prefix: str = "o") -> str:
        """Bind ``obj`` into the namespace under a fresh identifier."""
        n = self.uname("_" + prefix)
        self.ns[n] = obj
        return n

    def define(self, lines: list[str], fname: str) -> Callable:
        """Exec generated source (a function definition named ``fname``) and return it."""
        src = "\n".join(lines) + "\n"
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("generated %s:\n%s", fname, src)
        try:
            code = compile(src, f"<softswitch:{fname}>", "exec")
        except SyntaxError as e:  # pragma: no cover - a bug in this module
            logger.error("generated code does not compile:\n%s", src)
            raise InvalidProgram(f"internal code generation error: {e}") from e
        exec(code, self.ns)  # noqa: S102 - source is produced by this module only
        return self.ns[fname]

    # -- expressions ---------------------------------------------------------------------------

    def expr(self, e: Expr, where: str, nlocals: int | None) -> tuple[str, Any]:
        """Compile ``e``; returns (code, kind) with kind 'd' (int), 'b' (bool), 'h' (HeaderLayout
        in place of code) or 's' (stack name in place of code)."""
        if isinstance(e, FieldRef):
            fs = self.L.field(e, where)
            return f"F[{fs.slot}]", "d"
        if isinstance(e, Const):
            return f"({e.value})", "d"
        if isinstance(e, BoolConst):
            return ("True" if e.value else "False"), "b"
        if isinstance(e, Local):
            if nlocals is None:
                raise InvalidProgram(f"{where}: runtime data used outside of an action")
            if not 0 <= e.index < nlocals:
                raise InvalidProgram(f"{where}: runtime data index {e.index} out of range")
            return f"D[{e.index}]", "d"
        if isinstance(e, HeaderRef):
            return self.L.header(e.name, where), "h"
        if isinstance(e, StackRef):
            if e.name not in self.L.stack_next:
                raise InvalidProgram(f"{where}: unknown header stack '{e.name}'")
            return e.name, "s"
        if isinstance(e, StackFieldRef):
            return self._stack_field_read(e, where), "d"
        if isinstance(e, RegisterRef):
            arr = self._register(e.array, where)
            idx = self.data(e.index, where, nlocals)
            return f"_rr({arr}, {idx})", "d"
        if isinstance(e, Op):
            return self._op(e, where, nlocals)
        raise UnsupportedConstruct(f"unsupported expression node {type(e).__name__} in {where}")

    def data(self, e: Expr, where: str, nlocals: int | None) -> str:
        """Compile an expression that must produce an integer."""
        c, k = self.expr(e, where, nlocals)
        if k == "b":
            return f"(1 if {c} else 0)"
        if k != "d":
            raise InvalidProgram(f"{where}: expected a data value")
        return c

    def boolean(self, e: Expr, where: str, nlocals: int | None) -> str:
        """Compile an expression that must produce a bool."""
        c, k = self.expr(e, where, nlocals)
        if k == "d":  # bmv2 has no implicit conversion; accept it like d2b
            return f"({c} != 0)"
        if k != "b":
            raise InvalidProgram(f"{where}: expected a boolean value")
        return c

    def header_of(self, e: Expr, where: str, nlocals: int | None) -> HeaderLayout:
        """Resolve an expression that designates a header (statically)."""
        c, k = self.expr(e, where, nlocals)
        if k != "h":
            raise InvalidProgram(f"{where}: expected a header")
        return c

    def valid_code(self, h: HeaderLayout) -> str:
        """Code for ``h.isValid()`` (metadata is always valid, like bmv2)."""
        return "True" if h.metadata else f"(F[{h.valid}] == 1)"

    def _stack_elems(self, name: str, where: str) -> list[HeaderLayout]:
        st = self.model.header_stacks.get(name)
        if st is None:
            raise InvalidProgram(f"{where}: unknown header stack '{name}'")
        return [self.L.header(h, where) for h in st.headers]

    def _stack_field_read(self, e: StackFieldRef, where: str) -> str:
        elems = self._stack_elems(e.stack, where)
        slots = []
        for h in elems:
            slots.append(self.L.field(FieldRef(h.name, e.field), where).slot)
        tbl = self.bind(tuple(slots), "sf")
        nxt = self.L.stack_next[e.stack]
        # bmv2 reads stack.get_last(): element next-1 (undefined when empty; we read element 0).
        return f"F[{tbl}[F[{nxt}] - 1 if F[{nxt}] else 0]]"

    def _register(self, name: str, where: str) -> str:
        if name not in self.objs.registers:
            raise InvalidProgram(f"{where}: unknown register array '{name}'")
        if "_rr" not in self.ns:

            def _rr(arr: list[int], i: int) -> int:
                return arr[i] if 0 <= i < len(arr) else 0

            self.ns["_rr"] = _rr
        return self.bind(self.objs.registers[name], "reg")

    def _op(self, e: Op, where: str, nl: int | None) -> tuple[str, Any]:
        op = e.op
        if op in _ARITH:
            a = self.data(e.left, where, nl)
            b = self.data(e.right, where, nl)
            return f"({a} {_ARITH[op]} {b})", "d"
        if op in ("==", "!="):
            la, lk = self.expr(e.left, where, nl)
            ra, rk = self.expr(e.right, where, nl)
            if lk == "h" or rk == "h":
                if lk != "h" or rk != "h":
                    raise InvalidProgram(f"{where}: comparing a header with a non-header")
                c = self._header_eq(la, ra)
                return (c if op == "==" else f"(not {c})"), "b"
            if lk == "b" and rk == "b":
                return f"({la} {op} {ra})", "b"
            return f"({self._as_data(la, lk, where)} {op} {self._as_data(ra, rk, where)})", "b"
        if op in _CMP:
            a = self.data(e.left, where, nl)
            b = self.data(e.right, where, nl)
            return f"({a} {_CMP[op]} {b})", "b"
        if op == "/":
            return f"_div({self.data(e.left, where, nl)}, {self.data(e.right, where, nl)})", "d"
        if op == "%":
            return f"_mod({self.data(e.left, where, nl)}, {self.data(e.right, where, nl)})", "d"
        if op in ("<<", ">>"):
            a = self.data(e.left, where, nl)
            if isinstance(e.right, Const) and 0 <= e.right.value < rt.SHIFT_CAP:
                return f"({a} {op} {e.right.value})", "d"
            b = self.data(e.right, where, nl)
            return (f"_shl({a}, {b})" if op == "<<" else f"_shr({a}, {b})"), "d"
        if op == "and":
            return (
                f"({self.boolean(e.left, where, nl)} and {self.boolean(e.right, where, nl)})",
                "b",
            )
        if op == "or":
            return f"({self.boolean(e.left, where, nl)} or {self.boolean(e.right, where, nl)})", "b"
        if op == "not":
            return f"(not {self.boolean(e.right, where, nl)})", "b"
        if op == "~":
            return f"(~{self.data(e.right, where, nl)})", "d"
        if op == "valid":
            h = self.header_of(e.right, where, nl)
            return self.valid_code(h), "b"
        if op == "d2b":
            return f"({self.data(e.right, where, nl)} != 0)", "b"
        if op == "b2d":
            return f"(1 if {self.boolean(e.right, where, nl)} else 0)", "d"
        if op == "?":
            c = self.boolean(e.cond, where, nl)
            la, lk = self.expr(e.left, where, nl)
            ra, rk = self.expr(e.right, where, nl)
            if lk == "h" or rk == "h":
                raise UnsupportedConstruct(f"unsupported ternary operator on headers in {where}")
            if lk == "b" and rk == "b":
                return f"({la} if {c} else {ra})", "b"
            return (
                f"({self._as_data(la, lk, where)} if {c} else {self._as_data(ra, rk, where)})",
                "d",
            )
        if op == "two_comp_mod":
            return f"_twc({self.data(e.left, where, nl)}, {self.data(e.right, where, nl)})", "d"
        if op == "usat_cast":
            return f"_usat({self.data(e.left, where, nl)}, {self.data(e.right, where, nl)})", "d"
        if op == "sat_cast":
            return f"_ssat({self.data(e.left, where, nl)}, {self.data(e.right, where, nl)})", "d"
        if op in ("last_stack_index", "size_stack"):
            s, k = self.expr(e.right, where, nl)
            if k != "s":
                raise InvalidProgram(f"{where}: '{op}' expects a header stack")
            nxt = self.L.stack_next[s]
            return (f"(F[{nxt}] - 1)" if op == "last_stack_index" else f"F[{nxt}]"), "d"
        if op in ("dereference_header_stack", "dereference_stack"):
            s, k = self.expr(e.left, where, nl)
            if k != "s":
                raise InvalidProgram(f"{where}: '{op}' expects a header stack")
            if not isinstance(e.right, Const):
                raise UnsupportedConstruct(
                    f"unsupported header stack access with a run-time index in {where}"
                )
            elems = self._stack_elems(s, where)
            if not 0 <= e.right.value < len(elems):
                raise InvalidProgram(f"{where}: header stack index {e.right.value} out of range")
            return elems[e.right.value], "h"
        if op == "access_field":
            h = self.header_of(e.left, where, nl)
            if not isinstance(e.right, Const) or not 0 <= e.right.value < h.nfields:
                raise InvalidProgram(f"{where}: invalid access_field offset")
            return f"F[{h.base + e.right.value}]", "d"
        raise UnsupportedConstruct(f"unsupported expression operator '{op}' in {where}")

    @staticmethod
    def _as_data(code: str, kind: str, where: str) -> str:
        if kind == "d":
            return code
        if kind == "b":
            return f"(1 if {code} else 0)"
        raise InvalidProgram(f"{where}: expected a data value")

    def _header_eq(self, a: HeaderLayout, b: HeaderLayout) -> str:
        if a.htype.name != b.htype.name:
            return "False"
        parts = [
            self.valid_code(a),
            self.valid_code(b),
            f"F[{a.base}:{a.base + a.nfields}] == F[{b.base}:{b.base + b.nfields}]",
        ]
        if a.vlw is not None:
            parts.append(f"F[{a.vlw}] == F[{b.vlw}]")
        return "(" + " and ".join(parts) + ")"

    # -- field writes --------------------------------------------------------------------------

    def lvalue(self, e: Expr, where: str, nl: int | None) -> FieldSlot:
        """Resolve a primitive destination to a field slot (statically)."""
        if isinstance(e, FieldRef):
            fs = self.L.field(e, where)
        elif isinstance(e, Op) and e.op == "access_field":
            h = self.header_of(e.left, where, nl)
            if not isinstance(e.right, Const) or not 0 <= e.right.value < h.nfields:
                raise InvalidProgram(f"{where}: invalid access_field offset")
            i = e.right.value
            fs = FieldSlot(h.base + i, h.widths[i], h.signed[i], h, i)
        elif isinstance(e, StackFieldRef):
            raise UnsupportedConstruct(f"unsupported write to a field of stack.last in {where}")
        else:
            raise InvalidProgram(f"{where}: destination is not a field")
        if fs.index < 0:
            raise InvalidProgram(f"{where}: cannot write the hidden $valid$ field")
        return fs

    @staticmethod
    def store(fs: FieldSlot, code: str) -> str:
        """Statement writing ``code`` into field ``fs`` with bmv2 truncation."""
        if fs.width is None:  # varbit: truncate to its current width
            return f"F[{fs.slot}] = ({code}) & ((1 << F[{fs.header.vlw}]) - 1)"
        if fs.signed:
            return f"F[{fs.slot}] = _sx({code}, {fs.width})"
        return f"F[{fs.slot}] = ({code}) & {(1 << fs.width) - 1}"

    # -- actions -------------------------------------------------------------------------------

    def compile_action(
        self, name: str, prims: tuple[PrimitiveCall, ...], nparams: int, where: str
    ) -> Callable:
        """Compile an action (or a parser/deparser primitive list) to ``fn(F, D)``."""
        fname = self.uname("act_")
        blocks = [self._primitive(p, where, nparams) for p in prims]
        jumps = any(p.op in ("_jump", "_jump_if_zero") for p in prims)
        lines = [f"def {fname}(F, D):"]
        if not jumps:
            body = [ln for b in blocks for ln in b.lines]
            lines += ["    " + ln for ln in body] or ["    pass"]
        else:
            lines += ["    pc = 0", f"    while pc < {len(blocks)}:"]
            for i, b in enumerate(blocks):
                lines.append(f"        {'if' if i == 0 else 'elif'} pc == {i}:")
                if b.jump is None:
                    lines += ["            " + ln for ln in b.lines] or ["            pass"]
                    lines.append(f"            pc = {i + 1}")
                else:
                    cond, target = b.jump
                    lines.append(f"            pc = {target} if {cond} else {i + 1}")
        return self.define(lines, fname)

    @dataclass
    class _Block:
        lines: list[str]
        jump: tuple[str, str] | None = None

    def _primitive(self, p: PrimitiveCall, where: str, nl: int) -> "Gen._Block":
        h = getattr(self, "_p_" + p.op, None) if p.op.isidentifier() else None
        if h is None or p.op in _REFUSED:
            reason = _REFUSED.get(p.op, "")
            if p.op.startswith("_") and not p.op.startswith("_jump"):
                reason = " (extern method calls are not implemented)"
            raise UnsupportedConstruct(f"unsupported primitive '{p.op}'{reason} in {where}")
        return h(p.params, f"primitive '{p.op}' in {where}", nl)

    def _argn(self, params: tuple[Arg, ...], n: int, where: str) -> None:
        if len(params) != n:
            raise InvalidProgram(f"{where}: expected {n} parameters, got {len(params)}")

    def _d(self, a: Arg, where: str, nl: int) -> str:
        if a.kind in (
            "field",
            "hexstr",
            "expression",
            "runtime_data",
            "stack_field",
            "bool",
            "register",
        ):
            return self.data(a.value, where, nl)
        raise InvalidProgram(f"{where}: parameter of type '{a.kind}' is not a value")

    def _lv(self, a: Arg, where: str, nl: int) -> FieldSlot:
        if a.kind in ("field", "expression", "stack_field"):
            return self.lvalue(a.value, where, nl)
        raise InvalidProgram(f"{where}: parameter of type '{a.kind}' is not a field")

    def _hdr(self, a: Arg, where: str, nl: int) -> HeaderLayout:
        if a.kind == "header":
            return self.L.header(a.value, where)
        if a.kind == "expression":
            return self.header_of(a.value, where, nl)
        raise InvalidProgram(f"{where}: parameter of type '{a.kind}' is not a header")

    def _p_assign(self, ps, w, nl):
        self._argn(ps, 2, w)
        if ps[0].kind == "header" or ps[1].kind == "header":
            return self._p_assign_header(ps, w, nl)
        fs = self._lv(ps[0], w, nl)
        return Gen._Block([self.store(fs, self._d(ps[1], w, nl))])

    _p_modify_field = _p_assign

    def _p_assign_VL(self, ps, w, nl):
        self._argn(ps, 2, w)
        d = self._lv(ps[0], w, nl)
        s = self._lv(ps[1], w, nl)
        if d.width is not None or s.width is not None:
            return Gen._Block([self.store(d, f"F[{s.slot}]")])
        return Gen._Block([f"F[{d.header.vlw}] = F[{s.header.vlw}]", f"F[{d.slot}] = F[{s.slot}]"])

    def _copy_header_lines(self, d: HeaderLayout, s: HeaderLayout, w: str) -> list[str]:
        if d.htype.name != s.htype.name:
            raise InvalidProgram(f"{w}: header types differ")
        lines = [f"F[{d.base}:{d.base + d.nfields}] = F[{s.base}:{s.base + s.nfields}]"]
        if d.vlw is not None:
            lines.append(f"F[{d.vlw}] = F[{s.vlw}]")
        return lines

    def _p_assign_header(self, ps, w, nl):
        self._argn(ps, 2, w)
        d = self._hdr(ps[0], w, nl)
        s = self._hdr(ps[1], w, nl)
        copy = self._copy_header_lines(d, s, w)
        if s.metadata:
            return Gen._Block(copy + [f"F[{d.valid}] = 1"])
        return Gen._Block(
            [f"if F[{s.valid}]:"]
            + ["    " + c for c in copy]
            + [f"    F[{d.valid}] = 1", "else:", f"    F[{d.valid}] = 0"]
        )

    _p_copy_header = _p_assign_header

    def _nbytes_code(self, h: HeaderLayout) -> str:
        if h.vlw is None:
            return str(h.fixed_bits // 8)
        return f"(({h.fixed_bits} + F[{h.vlw}]) // 8)"

    def _p_add_header(self, ps, w, nl):
        self._argn(ps, 1, w)
        h = self._hdr(ps[0], w, nl)
        z = self.bind([0] * h.nfields, "z")
        return Gen._Block(
            [
                f"if not F[{h.valid}]:",
                f"    F[{h.base}:{h.base + h.nfields}] = {z}",
                f"    F[{h.valid}] = 1",
                f"    F[{PLEN}] += {self._nbytes_code(h)}",
            ]
        )

    def _p_remove_header(self, ps, w, nl):
        self._argn(ps, 1, w)
        h = self._hdr(ps[0], w, nl)
        return Gen._Block(
            [
                f"if F[{h.valid}]:",
                f"    F[{PLEN}] -= {self._nbytes_code(h)}",
                f"    F[{h.valid}] = 0",
            ]
        )

    def _p_mark_to_drop(self, ps, w, nl):
        self._argn(ps, 1, w)
        h = self._hdr(ps[0], w, nl)
        try:
            es = h.htype.field_index("egress_spec")
        except KeyError:
            raise InvalidProgram(f"{w}: mark_to_drop argument has no 'egress_spec' field") from None
        fs = FieldSlot(h.base + es, h.widths[es], False, h, es)
        lines = [self.store(fs, str(self.objs.drop_port))]
        try:
            mg = h.htype.field_index("mcast_grp")
            lines.append(f"F[{h.base + mg}] = 0")
        except KeyError:
            pass
        return Gen._Block(lines)

    def _p_drop(self, ps, w, nl):
        self._argn(ps, 0, w)
        es = self.L.lookup_name("standard_metadata.egress_spec")
        if es is None:
            raise InvalidProgram(f"{w}: no standard_metadata.egress_spec field")
        lines = [self.store(es, str(self.objs.drop_port))]
        mg = self.L.lookup_name("intrinsic_metadata.mcast_grp")
        if mg is not None:
            lines.append(f"F[{mg.slot}] = 0")
        return Gen._Block(lines)

    def _p_exit(self, ps, w, nl):
        self._argn(ps, 0, w)
        return Gen._Block([f"F[{EXIT}] = 1"])

    def _p_truncate(self, ps, w, nl):
        # bmv2 Packet::truncate: keep the smallest length; applied to the emitted frame
        self._argn(ps, 1, w)
        return Gen._Block([f"n = ({self._d(ps[0], w, nl)}) & 0xFFFFFFFFFFFFFFFF",
                           f"if n < F[{TRUNC}]:", f"    F[{TRUNC}] = n"])

    def _p_no_op(self, ps, w, nl):
        return Gen._Block(["pass"])

    def _p_count(self, ps, w, nl):
        self._argn(ps, 2, w)
        if ps[0].kind != "counter_array":
            raise InvalidProgram(f"{w}: first parameter must be a counter array")
        c = self.objs.counters.get(ps[0].value)
        if c is None:
            raise InvalidProgram(f"{w}: unknown counter array '{ps[0].value}'")
        pk = self.bind(c[0], "cp")
        by = self.bind(c[1], "cb")
        idx = self._d(ps[1], w, nl)
        return Gen._Block(
            [
                f"i = {idx}",
                f"if 0 <= i < {len(c[0])}:",
                f"    {pk}[i] += 1",
                f"    {by}[i] += F[{ILEN}]",
            ]
        )

    def _p_register_read(self, ps, w, nl):
        self._argn(ps, 3, w)
        d = self._lv(ps[0], w, nl)
        if ps[1].kind != "register_array":
            raise InvalidProgram(f"{w}: second parameter must be a register array")
        arr = self._register(ps[1].value, w)
        idx = self._d(ps[2], w, nl)
        return Gen._Block(
            [f"i = {idx}", f"if 0 <= i < len({arr}):", "    " + self.store(d, f"{arr}[i]")]
        )

    def _p_register_write(self, ps, w, nl):
        self._argn(ps, 3, w)
        if ps[0].kind != "register_array":
            raise InvalidProgram(f"{w}: first parameter must be a register array")
        arr = self._register(ps[0].value, w)
        bw = self.model.register_arrays[ps[0].value].bitwidth
        idx = self._d(ps[1], w, nl)
        v = self._d(ps[2], w, nl)
        return Gen._Block(
            [f"i = {idx}", f"if 0 <= i < len({arr}):", f"    {arr}[i] = ({v}) & {(1 << bw) - 1}"]
        )

    def _p_modify_field_with_hash_based_offset(self, ps, w, nl):
        self._argn(ps, 4, w)
        d = self._lv(ps[0], w, nl)
        base = self._d(ps[1], w, nl)
        if ps[2].kind != "calculation":
            raise InvalidProgram(f"{w}: third parameter must be a calculation")
        calc = self.objs.calculations.get(ps[2].value)
        if calc is None:
            raise InvalidProgram(f"{w}: unknown calculation '{ps[2].value}'")
        cn = self.bind(calc, "calc")
        size = self._d(ps[3], w, nl)
        # bmv2: (hash % (size or 1)) + base, computed on uint64 values
        return Gen._Block(
            [
                f"sz = ({size}) & 0xFFFFFFFFFFFFFFFF",
                "if sz == 0:",
                "    sz = 1",
                self.store(d, f"({cn}(F) % sz) + (({base}) & 0xFFFFFFFFFFFFFFFF)"),
            ]
        )

    def _p_modify_field_rng_uniform(self, ps, w, nl):
        self._argn(ps, 3, w)
        d = self._lv(ps[0], w, nl)
        lo = self._d(ps[1], w, nl)
        hi = self._d(ps[2], w, nl)
        return Gen._Block(
            [
                f"lo = ({lo}) & 0xFFFFFFFFFFFFFFFF",
                f"hi = ({hi}) & 0xFFFFFFFFFFFFFFFF",
                "if lo <= hi:",
                "    " + self.store(d, "_rand(lo, hi)"),
            ]
        )

    def _p_assert(self, ps, w, nl):
        self._argn(ps, 1, w)
        return Gen._Block([f"if ({self._d(ps[0], w, nl)}) == 0:", "    raise _AFail()"])

    _p_assume = _p_assert

    def _p_log_msg(self, ps, w, nl):
        self._argn(ps, 2, w)
        if ps[0].kind != "string" or ps[1].kind != "parameters_vector":
            raise InvalidProgram(f"{w}: log_msg expects a string and a parameters vector")
        fmt = self.bind(ps[0].value, "fmt")
        vals = ", ".join(self._d(a, w, nl) for a in ps[1].value)
        return Gen._Block([f"_log.info('log_msg: %s %s', {fmt}, [{vals}])"])

    def _p__jump(self, ps, w, nl):
        self._argn(ps, 1, w)
        return Gen._Block([], ("True", self._d(ps[0], w, nl)))

    def _p__jump_if_zero(self, ps, w, nl):
        self._argn(ps, 2, w)
        return Gen._Block([], (f"({self._d(ps[0], w, nl)}) == 0", self._d(ps[1], w, nl)))

    def _binop(self, ps, w, nl, op: str, three: bool):
        if three:
            self._argn(ps, 3, w)
            d = self._lv(ps[0], w, nl)
            return Gen._Block(
                [self.store(d, f"({self._d(ps[1], w, nl)}) {op} ({self._d(ps[2], w, nl)})")]
            )
        self._argn(ps, 2, w)
        d = self._lv(ps[0], w, nl)
        return Gen._Block([self.store(d, f"F[{d.slot}] {op} ({self._d(ps[1], w, nl)})")])

    def _p_add_to_field(self, ps, w, nl):
        return self._binop(ps, w, nl, "+", False)

    def _p_subtract_from_field(self, ps, w, nl):
        return self._binop(ps, w, nl, "-", False)

    def _p_add(self, ps, w, nl):
        return self._binop(ps, w, nl, "+", True)

    def _p_subtract(self, ps, w, nl):
        return self._binop(ps, w, nl, "-", True)

    def _p_bit_xor(self, ps, w, nl):
        return self._binop(ps, w, nl, "^", True)

    def _p_bit_or(self, ps, w, nl):
        return self._binop(ps, w, nl, "|", True)

    def _p_bit_and(self, ps, w, nl):
        return self._binop(ps, w, nl, "&", True)

    def _p_shift_left(self, ps, w, nl):
        self._argn(ps, 3, w)
        d = self._lv(ps[0], w, nl)
        return Gen._Block(
            [self.store(d, f"_shl({self._d(ps[1], w, nl)}, {self._d(ps[2], w, nl)})")]
        )

    def _p_shift_right(self, ps, w, nl):
        self._argn(ps, 3, w)
        d = self._lv(ps[0], w, nl)
        return Gen._Block(
            [self.store(d, f"_shr({self._d(ps[1], w, nl)}, {self._d(ps[2], w, nl)})")]
        )

    # header stacks (P4_16 semantics of bmv2's StackP4_16)

    def _stack_arg(self, a: Arg, w: str) -> list[HeaderLayout]:
        if a.kind != "header_stack":
            raise InvalidProgram(f"{w}: expected a header stack")
        return self._stack_elems(a.value, w)

    def _stack_helper(self, elems: list[HeaderLayout], nxt: int) -> tuple[str, str]:
        if "_stk_push" not in self.ns:
            self.ns["_stk_push"] = _stack_push
            self.ns["_stk_pop"] = _stack_pop
        spans = tuple((h.base, h.valid + 1 if h.vlw is None else h.vlw + 1, h.valid) for h in elems)
        return self.bind(spans, "stk"), str(nxt)

    def _p_push(self, ps, w, nl):
        self._argn(ps, 2, w)
        elems = self._stack_arg(ps[0], w)
        s, nxt = self._stack_helper(elems, self.L.stack_next[ps[0].value])
        return Gen._Block([f"_stk_push(F, {s}, {nxt}, {self._d(ps[1], w, nl)})"])

    def _p_pop(self, ps, w, nl):
        self._argn(ps, 2, w)
        elems = self._stack_arg(ps[0], w)
        s, nxt = self._stack_helper(elems, self.L.stack_next[ps[0].value])
        return Gen._Block([f"_stk_pop(F, {s}, {nxt}, {self._d(ps[1], w, nl)})"])

    def _p_assign_header_stack(self, ps, w, nl):
        self._argn(ps, 2, w)
        d = self._stack_arg(ps[0], w)
        s = self._stack_arg(ps[1], w)
        if len(d) != len(s):
            raise InvalidProgram(f"{w}: stack depths differ")
        lines = [f"F[{self.L.stack_next[ps[0].value]}] = F[{self.L.stack_next[ps[1].value]}]"]
        for hd, hs in zip(d, s):
            lines.append(f"if F[{hs.valid}]:")
            lines += ["    " + c for c in self._copy_header_lines(hd, hs, w)]
            lines += [f"    F[{hd.valid}] = 1", "else:", f"    F[{hd.valid}] = 0"]
        return Gen._Block(lines)


def _stack_push(F: list, spans: tuple[tuple[int, int, int], ...], nxt: int, num: int) -> None:
    """bmv2 StackP4_16::push_front(num): shift up by num, first num elements invalid."""
    size = len(spans)
    if num <= 0:
        return
    F[nxt] = min(size, F[nxt] + num)
    for i in range(size - 1, num - 1, -1):
        a0, a1, _ = spans[i]
        b0, b1, _ = spans[i - num]
        F[a0:a1] = F[b0:b1]
    for i in range(min(size, num)):
        F[spans[i][2]] = 0


def _stack_pop(F: list, spans: tuple[tuple[int, int, int], ...], nxt: int, num: int) -> None:
    """bmv2 StackP4_16::pop_front(num): shift down by num, last num elements invalid."""
    size = len(spans)
    if num <= 0:
        return
    F[nxt] -= min(F[nxt], num)
    i = 0
    if num < size:
        while i < size - num:
            a0, a1, _ = spans[i]
            b0, b1, _ = spans[i + num]
            F[a0:a1] = F[b0:b1]
            i += 1
    while i < size:
        F[spans[i][2]] = 0
        i += 1


_REFUSED = {
    "clone_ingress_pkt_to_egress": " (cloning / mirroring is not implemented)",
    "clone_egress_pkt_to_egress": " (cloning / mirroring is not implemented)",
    "resubmit": " (resubmit is not implemented)",
    "recirculate": " (recirculate is not implemented)",
    "generate_digest": " (digests are not implemented)",
    "execute_meter": " (meters are not implemented)",
}

SUPPORTED_PRIMITIVES = frozenset(n[3:] for n in dir(Gen) if n.startswith("_p_")) - frozenset(
    _REFUSED
)
