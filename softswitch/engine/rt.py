"""Small runtime helpers called by generated code (bmv2 Data semantics on Python ints)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = [
    "ParserError",
    "AssertFailure",
    "div",
    "mod",
    "shl",
    "shr",
    "two_comp_mod",
    "usat",
    "ssat",
    "sx",
    "SHIFT_CAP",
]

#: Shift amounts are capped here so a huge runtime shift cannot exhaust memory; results are
#: only ever observed through field widths far below this.
SHIFT_CAP = 1 << 16


class ParserError(Exception):
    """Raised by generated parser code; carries the error code and bytes parsed so far."""

    __slots__ = ("code", "pos")

    def __init__(self, code: int, pos: int) -> None:
        super().__init__(code, pos)
        self.code = code
        self.pos = pos


class AssertFailure(Exception):
    """assert()/assume() failed (bmv2 aborts the process; the engine drops the packet)."""


def div(a: int, b: int) -> int:
    """bmv2 divide (operands are non-negative in p4c output); x/0 gives 0 instead of crashing."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def mod(a: int, b: int) -> int:
    """bmv2 modulo (truncating, like GMP's tdiv); x%0 gives 0."""
    if b == 0:
        return 0
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


def shl(a: int, b: int) -> int:
    """Left shift with a capped, non-negative amount."""
    if b <= 0:
        return a
    return a << (b if b < SHIFT_CAP else SHIFT_CAP)


def shr(a: int, b: int) -> int:
    """Arithmetic right shift with a non-negative amount."""
    if b <= 0:
        return a
    return a >> b


def two_comp_mod(v: int, w: int) -> int:
    """bmv2 ``two_comp_mod``: the signed value of ``v`` on ``w`` bits."""
    if w <= 0:
        return 0
    hi = (1 << (w - 1)) - 1
    lo = -(1 << (w - 1))
    if v < lo or v > hi:
        v &= (1 << w) - 1
        if v > hi:
            v -= 1 << w
    return v


def usat(v: int, w: int) -> int:
    """Unsigned saturating cast to ``w`` bits."""
    m = (1 << w) - 1
    return m if v > m else (0 if v < 0 else v)


def ssat(v: int, w: int) -> int:
    """Signed saturating cast to ``w`` bits."""
    if w <= 0:
        return 0
    hi = (1 << (w - 1)) - 1
    lo = -(1 << (w - 1))
    return hi if v > hi else (lo if v < lo else v)


def sx(v: int, w: int) -> int:
    """Store ``v`` into a signed field of ``w`` bits (two's complement wrap)."""
    v &= (1 << w) - 1
    if v >> (w - 1):
        v -= 1 << w
    return v
