"""Packet state layout: every header field, validity bit and per-packet register is one slot
of a flat Python list ``F`` (the per-packet PHV). Compiled code indexes it with constants.

Per header instance ``h`` (base ``b``, ``n`` fields): fields at ``b .. b+n-1``, the validity
bit (== the hidden ``$valid$`` field) at ``b+n`` and, for headers with a varbit field, the
current varbit width in bits at ``b+n+1``. Header stacks get one slot for their ``next`` index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..bmv2json.common import FieldRef
from ..bmv2json.errors import InvalidProgram
from ..bmv2json.header_types import HeaderType
from ..bmv2json.program import ProgramModel

logger = logging.getLogger(__name__)

__all__ = [
    "HeaderLayout",
    "FieldSlot",
    "Layout",
    "EXIT",
    "PLEN",
    "ILEN",
    "PAYLOAD",
    "PERR",
    "CKERR",
    "NSPECIAL",
]

# Special per-packet slots (always first).
EXIT = 0  # exit() flag
PLEN = 1  # bmv2 packet register 0: packet length, updated by add_header/remove_header
ILEN = 2  # ingress length (bytes counted by counters)
PAYLOAD = 3  # bytes after the parsed headers
PERR = 4  # parser error code
CKERR = 5  # checksum error flag
TRUNC = 6  # truncate() length (bmv2 Packet::truncated_length), NO_TRUNC when unset
NSPECIAL = 7

NO_TRUNC = 1 << 62


@dataclass(frozen=True, slots=True)
class HeaderLayout:
    """Slots of one header instance."""

    name: str
    htype: HeaderType
    base: int
    nfields: int
    valid: int
    vlw: int | None  # slot of the varbit width, or None
    metadata: bool
    widths: tuple[int | None, ...]
    signed: tuple[bool, ...]

    @property
    def fixed_bits(self) -> int:
        """Bits of the fixed-width fields."""
        return self.htype.fixed_bits


@dataclass(frozen=True, slots=True)
class FieldSlot:
    """Where a field lives and how it is written."""

    slot: int
    width: int | None  # None for varbit
    signed: bool
    header: HeaderLayout
    index: int  # field offset in the header, -1 for $valid$


class Layout:
    """Slot allocation for a program."""

    def __init__(self, model: ProgramModel) -> None:
        self.model = model
        self.headers: dict[str, HeaderLayout] = {}
        n = NSPECIAL
        for h in model.headers.values():
            ht = model.header_types[h.header_type]
            nf = len(ht.fields)
            vlw = n + nf + 1 if ht.vl_index is not None else None
            self.headers[h.name] = HeaderLayout(
                h.name,
                ht,
                n,
                nf,
                n + nf,
                vlw,
                h.metadata,
                tuple(f.width for f in ht.fields),
                tuple(f.signed for f in ht.fields),
            )
            n += nf + (2 if vlw is not None else 1)
        self.stack_next: dict[str, int] = {}
        for s in model.header_stacks.values():
            self.stack_next[s.name] = n
            n += 1
        self.size = n
        self.aliases = model.field_aliases

    def header(self, name: str, where: str = "") -> HeaderLayout:
        """Layout of header ``name`` (InvalidProgram if unknown)."""
        h = self.headers.get(name)
        if h is None:
            raise InvalidProgram(f"unknown header '{name}'" + (f" in {where}" if where else ""))
        return h

    def field(self, ref: FieldRef, where: str = "") -> FieldSlot:
        """Resolve a field reference (``$valid$`` included)."""
        h = self.header(ref.header, where)
        if ref.field == "$valid$":
            return FieldSlot(h.valid, 1, False, h, -1)
        try:
            i = h.htype.field_index(ref.field)
        except KeyError:
            raise InvalidProgram(
                f"unknown field '{ref.header}.{ref.field}'" + (f" in {where}" if where else "")
            ) from None
        return FieldSlot(h.base + i, h.widths[i], h.signed[i], h, i)

    def lookup_name(self, dotted: str) -> FieldSlot | None:
        """Resolve a target-level name like ``standard_metadata.egress_spec`` or an alias such as
        ``intrinsic_metadata.mcast_grp``; None if the program has no such field."""
        ref = self.aliases.get(dotted)
        if ref is None:
            hdr, _, fld = dotted.partition(".")
            ref = FieldRef(hdr, fld)
        h = self.headers.get(ref.header)
        if h is None:
            return None
        try:
            return self.field(ref)
        except InvalidProgram:
            return None

    def template(self) -> list:
        """A fresh per-packet state: everything zero, payload empty."""
        t: list = [0] * self.size
        t[PAYLOAD] = b""
        t[TRUNC] = NO_TRUNC
        return t
