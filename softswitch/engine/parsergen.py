"""Parser compilation: each parse state becomes ``fn(F, B, pos, L) -> (next_state_fn, pos)``.

Semantics follow bmv2's ``src/bm_sim/parser.cpp``: an extract checks that enough bytes remain
(else PacketTooShort) before writing anything; ``verify`` raises the program's error; on any
error parsing stops, the bytes parsed so far are kept and the packet continues (v1model). A
select with no matching case and no default ends parsing (accept) like bmv2.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..bmv2json.common import FieldRef, StackFieldRef
from ..bmv2json.errors import InvalidProgram, UnsupportedConstruct
from ..bmv2json.parsers import Advance, Extract, Lookahead, ParserPrimitive, Parser, SetOp, Verify
from . import rt
from .codegen import Gen
from .layout import PERR, HeaderLayout

logger = logging.getLogger(__name__)

__all__ = ["compile_parser", "MAX_PARSE_STATES"]

#: bmv2 would loop forever on a parser cycle that consumes nothing; we stop with ParserTimeout.
MAX_PARSE_STATES = 4096


def _lookahead(B: bytes, pos: int, off: int, width: int) -> int:
    start = pos + off // 8
    bit = off % 8
    span = (bit + width + 7) // 8
    chunk = B[start : start + span]
    if len(chunk) < span:
        chunk = chunk + b"\x00" * (span - len(chunk))
    return (int.from_bytes(chunk, "big") >> (span * 8 - bit - width)) & ((1 << width) - 1)


def _make_vl_extract(h: HeaderLayout, max_bytes: int, codes: dict[str, int]) -> Callable[..., int]:
    fixed_bytes = h.fixed_bits // 8
    widths = h.widths
    signed = h.signed
    base, valid, vlw = h.base, h.valid, h.vlw
    pts, hts, inv = codes["PacketTooShort"], codes["HeaderTooShort"], codes["ParserInvalidArgument"]

    def extract_vl(F: list, B: bytes, pos: int, L: int, nbits: int) -> int:
        if nbits < 0:
            raise rt.ParserError(pts, pos)
        if nbits % 8:
            raise rt.ParserError(inv, pos)
        n = fixed_bytes + nbits // 8
        if L - pos < n:
            raise rt.ParserError(pts, pos)
        if max_bytes and max_bytes < n:
            raise rt.ParserError(hts, pos)
        v = int.from_bytes(B[pos : pos + n], "big")
        sh = n * 8
        for i, w in enumerate(widths):
            if w is None:
                w = nbits
            sh -= w
            x = (v >> sh) & ((1 << w) - 1)
            if signed[i] and w and x >> (w - 1):
                x -= 1 << w
            F[base + i] = x
        F[vlw] = nbits
        F[valid] = 1
        return pos + n

    return extract_vl


def _fixed_extract_lines(h: HeaderLayout, pts: int, ind: str) -> list[str]:
    bits = h.fixed_bits
    if bits % 8:
        raise UnsupportedConstruct(
            f"unsupported extraction of header '{h.name}' whose width ({bits} bits) is not a whole number of bytes"
        )
    n = bits // 8
    lines = [f"{ind}if L - pos < {n}:", f"{ind}    raise _PErr({pts}, pos)"]
    if n:
        lines.append(f"{ind}v = _ifb(B[pos:pos + {n}], 'big')")
    sh = bits
    for i, w in enumerate(h.widths):
        assert w is not None
        sh -= w
        m = (1 << w) - 1
        if w == 0:
            val = "0"
        elif sh == 0 and i == 0:
            val = "v"
        elif i == 0:
            val = f"(v >> {sh})"
        elif sh == 0:
            val = f"(v & {m})"
        else:
            val = f"((v >> {sh}) & {m})"
        if h.signed[i]:
            val = f"_sx({val}, {w})"
        lines.append(f"{ind}F[{h.base + i}] = {val}")
    lines.append(f"{ind}F[{h.valid}] = 1")
    if n:
        lines.append(f"{ind}pos += {n}")
    return lines


def compile_parser(
    gen: Gen,
    parser: Parser,
    vsets: dict[str, Any],
    errors: dict[str, int],
    vset_widths: dict[str, tuple[int, ...]],
) -> Callable[[list, bytes], int]:
    """Compile ``parser`` to ``parse(F, B) -> bytes_parsed`` (sets ``F[PERR]``).

    ``vset_widths`` receives, for each value set used in a select, the widths of the key fields.
    """
    pts = errors["PacketTooShort"]
    names = {s: gen.uname("ps_") for s in parser.states}
    stack_extractors: dict[str, str] = {}

    def stack_extractor(stack: str, length_code: str | None, where: str) -> str:
        st = gen.model.header_stacks.get(stack)
        if st is None:
            raise InvalidProgram(f"{where}: unknown header stack '{stack}'")
        fns = []
        for hn in st.headers:
            h = gen.L.header(hn, where)
            if h.vlw is not None:
                fns.append(_make_vl_extract(h, h.htype.max_length or 0, errors))
            else:
                fn = gen.uname("exh_")
                fns.append(
                    gen.define(
                        [f"def {fn}(F, B, pos, L, nbits):"]
                        + _fixed_extract_lines(h, pts, "    ")
                        + ["    return pos"],
                        fn,
                    )
                )
        return gen.bind(tuple(fns), "stkx")

    for sname, st in parser.states.items():
        where = f"parse state '{sname}'"
        fn = names[sname]
        body: list[str] = []
        for op in st.ops:
            if isinstance(op, Extract):
                if op.kind == "regular":
                    h = gen.L.header(op.target, where)
                    if h.vlw is not None:
                        if op.length is None:
                            raise UnsupportedConstruct(
                                f"unsupported plain 'extract' of variable-length header '{h.name}' in {where}"
                            )
                        ex = gen.bind(_make_vl_extract(h, h.htype.max_length or 0, errors), "exvl")
                        body.append(f"pos = {ex}(F, B, pos, L, {gen.data(op.length, where, None)})")
                    else:
                        if op.length is not None:
                            raise InvalidProgram(
                                f"{where}: extract_VL of fixed-size header '{h.name}'"
                            )
                        body += _fixed_extract_lines(h, pts, "")
                else:
                    tbl = stack_extractor(op.target, None, where)
                    nxt = gen.L.stack_next[op.target]
                    ln = gen.data(op.length, where, None) if op.length is not None else "0"
                    sob = errors["StackOutOfBounds"]
                    body += [
                        f"i = F[{nxt}]",
                        f"if i >= {len(gen.model.header_stacks[op.target].headers)}:",
                        f"    raise _PErr({sob}, pos)",
                        f"pos = {tbl}[i](F, B, pos, L, {ln})",
                        f"F[{nxt}] = i + 1",
                    ]
            elif isinstance(op, SetOp):
                fs = gen.lvalue(op.dst, where, None)
                if isinstance(op.src, Lookahead):
                    nb = (op.src.width + 7) // 8
                    la = gen.bind(_lookahead, "la")
                    body += [
                        f"if L - pos < {nb}:",
                        f"    raise _PErr({pts}, pos)",
                        gen.store(fs, f"{la}(B, pos, {op.src.offset}, {op.src.width})"),
                    ]
                else:
                    body.append(gen.store(fs, gen.data(op.src, where, None)))
            elif isinstance(op, Verify):
                body += [
                    f"if not {gen.boolean(op.cond, where, None)}:",
                    f"    raise _PErr({gen.data(op.error, where, None)}, pos)",
                ]
            elif isinstance(op, Advance):
                inv = errors["ParserInvalidArgument"]
                body += [
                    f"n = {gen.data(op.bits, where, None)}",
                    "if n % 8:",
                    f"    raise _PErr({inv}, pos)",
                    "n //= 8",
                    "if L - pos < n:",
                    f"    raise _PErr({pts}, pos)",
                    "pos += n",
                ]
            elif isinstance(op, ParserPrimitive):
                act = gen.bind(
                    gen.compile_action(f"{sname}.{op.call.op}", (op.call,), 0, where), "pp"
                )
                body.append(f"{act}(F, ())")
            else:  # pragma: no cover
                raise UnsupportedConstruct(f"unsupported parser operation in {where}")

        trans = st.transitions
        if not st.key:
            dflt = next((t for t in trans if t.kind == "default"), None)
            nx = names[dflt.next_state] if dflt and dflt.next_state else "None"
            body.append(f"return {nx}, pos")
        else:
            parts = []
            widths = []
            for k in st.key:
                if isinstance(k, Lookahead):
                    la = gen.bind(_lookahead, "la")
                    parts.append((f"{la}(B, pos, {k.offset}, {k.width})", k.width))
                    widths.append(k.width)
                else:
                    code = gen.data(k, where, None)
                    if isinstance(k, FieldRef):
                        fs = gen.L.field(k, where)
                        w = fs.width
                        if w is None:
                            raise UnsupportedConstruct(
                                f"unsupported select on a varbit field in {where}"
                            )
                        if fs.signed:
                            code = f"({code} & {(1 << w) - 1})"
                    else:
                        assert isinstance(k, StackFieldRef)
                        st_ = gen.model.header_stacks[k.stack]
                        ht = gen.model.header_types[st_.header_type]
                        w = ht.fields[ht.field_index(k.field)].width or 0
                    parts.append((code, w))
                    widths.append(w)
            expr = parts[0][0]
            for code, w in parts[1:]:
                expr = f"(({expr}) << {((w + 7) // 8) * 8}) | {code}"
            body.append(f"k = {expr}")
            # bmv2 tries every case in order and falls back to the default (wherever it is listed)
            dflt = next((t for t in trans if t.kind == "default"), None)
            for t in [t for t in trans if t.kind != "default"]:
                nx = names[t.next_state] if t.next_state else "None"
                if t.kind == "hexstr":
                    if t.mask is None:
                        body += [f"if k == {t.value}:", f"    return {nx}, pos"]
                    else:
                        body += [f"if k & {t.mask} == {t.value & t.mask}:", f"    return {nx}, pos"]
                else:
                    vs = vsets.get(t.vset or "")
                    if vs is None:
                        raise InvalidProgram(f"{where}: unknown value set '{t.vset}'")
                    prev = vset_widths.setdefault(t.vset, tuple(widths))
                    if prev != tuple(widths):
                        raise UnsupportedConstruct(
                            f"unsupported value set '{t.vset}' used with different key layouts"
                        )
                    vn = gen.bind(vs, "vs")
                    if t.mask is None:
                        body += [f"if {vn}.match(k):", f"    return {nx}, pos"]
                    else:
                        body += [f"if {vn}.match_masked(k, {t.mask}):", f"    return {nx}, pos"]
            nx = names[dflt.next_state] if dflt is not None and dflt.next_state else "None"
            body.append(f"return {nx}, pos")
        gen.define([f"def {fn}(F, B, pos, L):"] + ["    " + ln for ln in body], fn)

    noerr = errors["NoError"]
    tout = errors["ParserTimeout"]
    init = names[parser.init_state] if parser.init_state else "None"
    pname = gen.uname("parse_")
    lines = [
        f"def {pname}(F, B):",
        f"    F[{PERR}] = {noerr}",
        "    L = len(B)",
        "    pos = 0",
        f"    st = {init}",
        "    n = 0",
        "    try:",
        "        while st is not None:",
        "            n += 1",
        f"            if n > {MAX_PARSE_STATES}:",
        f"                raise _PErr({tout}, pos)",
        "            st, pos = st(F, B, pos, L)",
        "    except _PErr as e:",
        f"        F[{PERR}] = e.code",
        "        pos = e.pos",
        "    return pos",
    ]
    return gen.define(lines, pname)
