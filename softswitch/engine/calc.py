"""Named calculations (hash inputs) and checksums.

A calculation concatenates its inputs at bit level like bmv2's BufBuilder: fields of invalid
headers are skipped, whole headers are deparsed if valid, constants use their declared width,
``payload`` appends the unparsed payload; the result is zero-padded to a byte boundary and fed
to the hash algorithm.
"""

from __future__ import annotations

import logging
from typing import Callable

from ..bmv2json.calculations import Calculation
from ..bmv2json.checksums import Checksum
from ..bmv2json.common import FieldRef
from ..bmv2json.errors import InvalidProgram, UnsupportedConstruct
from .codegen import Gen
from .hashes import make_hash
from .layout import CKERR, PAYLOAD, TRUNC, HeaderLayout

logger = logging.getLogger(__name__)

__all__ = ["compile_calculation", "compile_checksums"]


def _field_bits(h: HeaderLayout, i: int) -> tuple[str, str]:
    """(value code, width code) of field i of h, masked to its width."""
    w = h.widths[i]
    slot = h.base + i
    if w is None:
        return f"F[{slot}]", f"F[{h.vlw}]"
    if h.signed[i]:
        return f"(F[{slot}] & {(1 << w) - 1})", str(w)
    return f"F[{slot}]", str(w)


def compile_calculation(gen: Gen, calc: Calculation) -> Callable[[list], int]:
    """Compile ``calc`` to ``fn(F) -> int``."""
    where = f"calculation '{calc.name}'"
    algo = make_hash(calc.algo)
    if algo is None:
        raise UnsupportedConstruct(f"unsupported hash algorithm '{calc.algo}' in {where}")
    hn = gen.bind(algo, "hash")
    fname = gen.uname("calc_")
    lines = [f"def {fname}(F):", "    a = 0", "    n = 0"]
    payload = False
    for inp in calc.inputs:
        if payload:
            raise UnsupportedConstruct(f"unsupported calculation input after 'payload' in {where}")
        if inp.kind == "field":
            hname, fname_ = inp.value  # type: ignore[misc]
            fs = gen.L.field(FieldRef(hname, fname_), where)
            h = fs.header
            if fs.index < 0:
                v, w = f"F[{h.valid}]", "1"
            else:
                v, w = _field_bits(h, fs.index)
            ind = "    "
            if not h.metadata:
                lines.append(f"    if F[{h.valid}]:")
                ind = "        "
            if w.isdigit():
                lines += [f"{ind}a = (a << {w}) | {v}", f"{ind}n += {w}"]
            else:
                lines += [f"{ind}w = {w}", f"{ind}a = (a << w) | {v}", f"{ind}n += w"]
        elif inp.kind == "hexstr":
            bw = inp.bitwidth
            lines += [f"    a = (a << {bw}) | {int(inp.value) & ((1 << bw) - 1)}", f"    n += {bw}"]  # type: ignore[arg-type]
        elif inp.kind == "header":
            h = gen.L.header(str(inp.value), where)
            ind = "    "
            if not h.metadata:
                lines.append(f"    if F[{h.valid}]:")
                ind = "        "
            for i in range(h.nfields):
                v, w = _field_bits(h, i)
                if w.isdigit():
                    lines += [f"{ind}a = (a << {w}) | {v}", f"{ind}n += {w}"]
                else:
                    lines += [f"{ind}w = {w}", f"{ind}a = (a << w) | {v}", f"{ind}n += w"]
        elif inp.kind == "payload":
            payload = True
        else:  # pragma: no cover - loader checks kinds
            raise InvalidProgram(f"{where}: unknown input kind '{inp.kind}'")
    lines += ["    p = -n % 8", "    a <<= p", "    n += p"]
    if calc.algo in ("csum16", "cksum16"):
        # Ones'-complement sum of 16-bit words == value mod 0xFFFF (2^16 = 1 mod 0xFFFF), with
        # 0xFFFF standing for a non-zero multiple; no bytes object needed.
        if payload:
            lines += [f"    pl = F[{PAYLOAD}][:F[{TRUNC}]]", "    a = (a << (8 * len(pl))) | _ifb(pl, 'big')",
                      "    n += 8 * len(pl)"]
        lines += ["    if n & 8:", "        a <<= 8", "    r = a % 65535", "    if r == 0 and a:", "        r = 65535",
                  "    return ~r & 65535"]
        return gen.define(lines, fname)
    lines.append("    b = a.to_bytes(n // 8, 'big')")
    if payload:
        lines.append(f"    b += F[{PAYLOAD}][:F[{TRUNC}]]")
    lines.append(f"    return {hn}(b)")
    return gen.define(lines, fname)


def compile_checksums(
    gen: Gen, checksums: tuple[Checksum, ...], calcs: dict[str, Callable[[list], int]]
) -> tuple[Callable[[list], None], Callable[[list], None]]:
    """Return (verify(F), update(F)) implementing the checksums like bmv2's Parser/Deparser."""
    vname = gen.uname("ckverify_")
    uname = gen.uname("ckupdate_")
    vl = [f"def {vname}(F):"]
    ul = [f"def {uname}(F):"]
    for ck in checksums:
        where = f"checksum '{ck.name}'"
        fs = gen.L.field(ck.target, where)
        if fs.index < 0 or fs.width is None:
            raise InvalidProgram(f"{where}: invalid target field")
        cn = gen.bind(calcs[ck.calculation], "ck")
        cond = gen.boolean(ck.if_cond, where, None) if ck.if_cond is not None else "True"
        mask = (1 << fs.width) - 1
        if ck.verify:
            tv = "True" if fs.header.metadata else f"F[{fs.header.valid}]"
            # bmv2 compares the 64-bit calculation output with the field value
            vl += [
                f"    if {tv} and {cond}:",
                f"        if {cn}(F) != (F[{fs.slot}] & {mask}):",
                f"            F[{CKERR}] = 1",
            ]
        if ck.update:
            ul += [f"    if {cond}:", "    " + "    " + gen.store(fs, f"{cn}(F)")]
    vl.append("    return None")
    ul.append("    return None")
    return gen.define(vl, vname), gen.define(ul, uname)
