"""Parser value sets (P4 ``value_set``): the contract's ``ValueSet`` plus the match used by parsers."""

from __future__ import annotations

import logging
from typing import Sequence

from ..bmv2json.errors import InvalidEntry, TableFull
from ..bmv2json.parse_vsets import ParseVSet
from .types import ValueSetInfo

logger = logging.getLogger(__name__)

__all__ = ["ValueSet"]


class ValueSet:
    """Members are stored on the byte-padded select-key layout bmv2 uses.

    A member matches a key when ``key & mask == value`` for every field (an exact member has
    full masks). When the select case carries a mask, bmv2 ANDs it into both sides.
    """

    def __init__(self, vs: ParseVSet) -> None:
        self.compressed_bitwidth = vs.compressed_bitwidth
        self._name = vs.name
        self._size = vs.max_size
        self.info = ValueSetInfo(vs.name, (vs.compressed_bitwidth,), vs.max_size)
        self._layout: list[tuple[int, int]] = []
        self._full = 0
        self.set_bitwidths((vs.compressed_bitwidth,))
        self._members: list[tuple[tuple[int, int], ...]] = []
        self._exact: set[int] = set()
        self._masked: list[tuple[int, int]] = []

    def set_bitwidths(self, widths: tuple[int, ...]) -> None:
        """Set the per-field widths (taken from the select key using this set)."""
        self.info = ValueSetInfo(self._name, tuple(widths), self._size)
        off = sum((w + 7) // 8 * 8 for w in widths)
        layout = []
        full = 0
        for w in widths:
            off -= (w + 7) // 8 * 8
            layout.append((off, w))
            full |= ((1 << w) - 1) << off
        self._layout = layout
        self._full = full

    def set_members(self, members: Sequence[tuple[tuple[int, int], ...]]) -> None:
        """Replace all members; each member has one (value, mask) per field."""
        members = list(members)
        if self._size and len(members) > self._size:
            raise TableFull(f"value set '{self._name}' holds at most {self._size} members")
        exact: set[int] = set()
        masked: list[tuple[int, int]] = []
        canon: list[tuple[tuple[int, int], ...]] = []
        for m in members:
            if not isinstance(m, tuple) or len(m) != len(self._layout):
                raise InvalidEntry(
                    f"value set '{self._name}': each member needs {len(self._layout)} (value, mask) pairs"
                )
            v = mk = 0
            for (val, mask), (off, w) in zip(m, self._layout):
                for x in (val, mask):
                    if not isinstance(x, int) or isinstance(x, bool) or x < 0 or x >> w:
                        raise InvalidEntry(
                            f"value set '{self._name}': {x!r} does not fit in {w} bits"
                        )
                v |= (val & mask) << off
                mk |= mask << off
            canon.append(tuple((int(a), int(b)) for a, b in m))
            if mk == self._full:
                exact.add(v)
            else:
                masked.append((v, mk))
        self._members, self._exact, self._masked = canon, exact, masked

    def members(self) -> list[tuple[tuple[int, int], ...]]:
        """Current members, in the order they were set."""
        return list(self._members)

    def clear(self) -> None:
        """Remove every member."""
        self._members, self._exact, self._masked = [], set(), []

    def match(self, k: int) -> bool:
        """Select case without a mask."""
        if k in self._exact:
            return True
        for v, m in self._masked:
            if k & m == v:
                return True
        return False

    def match_masked(self, k: int, tm: int) -> bool:
        """Select case with mask ``tm`` (applied to the key and to each member)."""
        for v in self._exact:
            if (k ^ v) & tm == 0:
                return True
        for v, m in self._masked:
            if (k ^ v) & tm & m == 0:
                return True
        return False
