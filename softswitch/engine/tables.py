"""Match-action tables: entry management (the contract's ``Table``) and fast lookup.

The lookup key is the concatenation (at bit level, in JSON key order) of the key fields, as one
Python int built by generated code. Structures by table kind:

* exact only: ``dict`` key -> entry;
* exact + one lpm (no priorities): one dict per prefix length, probed longest first;
* ternary / optional / lpm-in-ternary: tuple-space search (one dict per distinct mask), the
  highest priority wins, ties go to the lowest entry handle, which like bmv2's is the lowest
  free one (a handle freed by a delete is reused by the next insert);
* any range key: priority-sorted list scanned linearly.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..bmv2json.errors import DuplicateEntry, EntryNotFound, InvalidEntry, TableFull
from .layout import ILEN
from .types import Exact, Lpm, Match, Optional_, Range, TableEntry, TableInfo, Ternary

logger = logging.getLogger(__name__)

__all__ = ["Table", "KeySpec", "ActionBinding"]


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key segment: contract match kind, width, bit offset of its LSB in the lookup key."""

    kind: str  # exact | lpm | ternary | range | optional | valid
    width: int
    offset: int


@dataclass(slots=True)
class ActionBinding:
    """A table action: compiled function, parameter widths and the next node after it."""

    name: str
    fn: Callable[[list, tuple], None]
    widths: tuple[int, ...]
    next: Any = None


class _Entry:
    __slots__ = (
        "match",
        "priority",
        "action",
        "args",
        "fn",
        "next",
        "cnt",
        "seq",
        "value",
        "mask",
        "ranges",
        "plen",
        "rank",
    )

    def __init__(self) -> None:
        self.cnt = [0, 0]


def _noop(F: list, D: tuple) -> None:
    return None


class Table:
    """Runtime table (the contract's ``Table``). Not thread-safe by itself: the Switch lock guards it."""

    def __init__(
        self,
        info: TableInfo,
        specs: tuple[KeySpec, ...],
        keyfn: Callable[[list], int] | None,
        actions: dict[str, ActionBinding],
        hit_next: Any,
        miss_next: Any,
        hit_miss_mode: bool,
        base_default_next: Any,
        default: tuple[str, tuple[int, ...]] | None,
        counted: bool,
    ) -> None:
        self.info = info
        self._specs = specs
        self._keyfn = keyfn
        self._actions = actions
        self._hit_next = hit_next
        self._miss_next = miss_next
        self._hm = hit_miss_mode
        self._base_default_next = base_default_next
        self._json_default = default
        self._counted = counted
        self._const = False
        kinds = {s.kind for s in specs}
        self._prio = bool(kinds & {"ternary", "range", "optional"})
        if not specs:
            self._mode = "keyless"
        elif "range" in kinds:
            self._mode = "range"
        elif self._prio:
            self._mode = "ternary"
        elif "lpm" in kinds:
            self._mode = "lpm"
        else:
            self._mode = "exact"
        self._total = sum(s.width for s in specs)
        self._full = (1 << self._total) - 1
        self._entries: dict[tuple[tuple[Match, ...], int], _Entry] = {}
        self._seq = 0                   # next never-used handle
        self._free_handles: list[int] = []  # heap of handles freed by deletes
        self._clear_structs()
        self._default_name = ""
        self._default_args: tuple[int, ...] = ()
        self._default_fn: Callable = _noop
        self._default_nx: Any = base_default_next
        self.reset_default()
        self.apply = getattr(self, "_apply_" + self._mode)

    # -- wiring (done once by the compiler after all nodes exist) -------------------------------

    def wire(
        self, by_action: dict[str, Any], hit_next: Any, miss_next: Any, base_default_next: Any
    ) -> None:
        """Set next nodes once all control-flow nodes are compiled."""
        for name, nx in by_action.items():
            if name in self._actions:
                self._actions[name].next = nx
        self._hit_next = hit_next
        self._miss_next = miss_next
        self._base_default_next = base_default_next
        for e in self._entries.values():
            e.next = self._hit_next if self._hm else self._actions[e.action].next
        if self._default_name:
            self._set_default(self._default_name, self._default_args)
        else:
            self._default_nx = base_default_next

    def load_const_entries(self, entries: Sequence[TableEntry]) -> None:
        """Insert the JSON ``entries`` and make the table immutable."""
        for e in entries:
            self.insert(e)
        self._const = True

    # -- structures ------------------------------------------------------------------------------

    def _clear_structs(self) -> None:
        self._exact: dict[int, _Entry] = {}
        self._lpm: dict[int, dict[int, _Entry]] = {}
        self._lpm_masks: list[tuple[int, dict[int, _Entry]]] = []
        self._lpm_mask: dict[int, int] = {}
        self._tss: dict[int, dict[int, list[_Entry]]] = {}
        self._tss_list: list[tuple[int, dict[int, list[_Entry]]]] = []
        self._linear: list[_Entry] = []

    def _index(self, e: _Entry) -> None:
        m = self._mode
        if m == "exact":
            self._exact[e.value] = e
        elif m == "lpm":
            d = self._lpm.get(e.plen)
            if d is None:
                d = self._lpm[e.plen] = {}
                self._lpm_mask[e.plen] = e.mask
                self._relpm()
            d[e.value] = e
        elif m == "ternary":
            g = self._tss.get(e.mask)
            if g is None:
                g = self._tss[e.mask] = {}
                self._tss_list = list(self._tss.items())
            lst = g.setdefault(e.value, [])
            lst.append(e)
            lst.sort(key=lambda x: x.rank)
        elif m == "range":
            self._linear.append(e)
            self._linear.sort(key=lambda x: x.rank)

    def _unindex(self, e: _Entry) -> None:
        m = self._mode
        if m == "exact":
            self._exact.pop(e.value, None)
        elif m == "lpm":
            d = self._lpm.get(e.plen)
            if d is not None:
                d.pop(e.value, None)
                if not d:
                    del self._lpm[e.plen]
                    self._relpm()
        elif m == "ternary":
            g = self._tss.get(e.mask)
            if g is not None:
                lst = g.get(e.value, [])
                if e in lst:
                    lst.remove(e)
                if not lst:
                    g.pop(e.value, None)
                if not g:
                    del self._tss[e.mask]
                    self._tss_list = list(self._tss.items())
        elif m == "range":
            self._linear.remove(e)

    def _relpm(self) -> None:
        # probe order: longest total prefix first (exact segments count fully)
        self._lpm_masks = [
            (self._lpm_mask[pl], self._lpm[pl]) for pl in sorted(self._lpm, reverse=True)
        ]

    # -- lookup ----------------------------------------------------------------------------------

    def _hit(self, F: list, e: _Entry) -> Any:
        if self._counted:
            c = e.cnt
            c[0] += 1
            c[1] += F[ILEN]
        e.fn(F, e.args)
        return e.next

    def _miss(self, F: list) -> Any:
        self._default_fn(F, self._default_args)
        return self._default_nx

    def _apply_keyless(self, F: list) -> Any:
        return self._miss(F)

    def _apply_exact(self, F: list) -> Any:
        e = self._exact.get(self._keyfn(F))
        if e is None:
            self._default_fn(F, self._default_args)
            return self._default_nx
        if self._counted:
            c = e.cnt
            c[0] += 1
            c[1] += F[ILEN]
        e.fn(F, e.args)
        return e.next

    def _apply_lpm(self, F: list) -> Any:
        k = self._keyfn(F)
        for m, d in self._lpm_masks:
            e = d.get(k & m)
            if e is not None:
                return self._hit(F, e)
        return self._miss(F)

    def _apply_ternary(self, F: list) -> Any:
        k = self._keyfn(F)
        best = None
        for m, g in self._tss_list:
            lst = g.get(k & m)
            if lst is not None:
                e = lst[0]
                if best is None or e.rank < best.rank:
                    best = e
        if best is None:
            return self._miss(F)
        return self._hit(F, best)

    def _apply_range(self, F: list) -> Any:
        k = self._keyfn(F)
        for e in self._linear:
            if k & e.mask != e.value:
                continue
            for sh, wm, lo, hi in e.ranges:
                v = (k >> sh) & wm
                if v < lo or v > hi:
                    break
            else:
                return self._hit(F, e)
        return self._miss(F)

    # -- validation ------------------------------------------------------------------------------

    def _canon(self, match: tuple[Match, ...], priority: int) -> tuple[int, int, tuple, int]:
        name = self.info.name
        if not self._specs:
            raise InvalidEntry(f"table '{name}' has no key; only its default action can be set")
        if not isinstance(match, tuple) or len(match) != len(self._specs):
            raise InvalidEntry(f"table '{name}' expects {len(self._specs)} match fields")
        if not isinstance(priority, int):
            raise InvalidEntry(f"table '{name}': priority must be an int")
        if self._prio and priority <= 0:
            raise InvalidEntry(f"table '{name}' requires a priority > 0")
        if not self._prio and priority != 0:
            raise InvalidEntry(f"table '{name}' does not take a priority (must be 0)")
        value = mask = 0
        ranges = []
        plen = 0
        for i, (m, s) in enumerate(zip(match, self._specs)):
            w = s.width
            full = (1 << w) - 1
            kn = self.info.keys[i].name
            where = f"table '{name}' key '{kn}'"
            if s.kind in ("exact", "valid"):
                if not isinstance(m, Exact):
                    raise InvalidEntry(f"{where}: expected an Exact match")
                self._chk(m.value, w, where)
                v, mk = m.value, full
                plen += w
            elif s.kind == "lpm":
                if not isinstance(m, Lpm):
                    raise InvalidEntry(f"{where}: expected an Lpm match")
                self._chk(m.value, w, where)
                if not isinstance(m.prefix_len, int) or not 0 <= m.prefix_len <= w:
                    raise InvalidEntry(f"{where}: invalid prefix length {m.prefix_len}")
                mk = (full >> (w - m.prefix_len)) << (w - m.prefix_len) if m.prefix_len else 0
                if m.value & ~mk:
                    raise InvalidEntry(f"{where}: lpm value has bits set beyond the prefix")
                v = m.value
                plen += m.prefix_len
            elif s.kind in ("ternary", "optional"):
                if isinstance(m, Ternary):
                    self._chk(m.value, w, where)
                    self._chk(m.mask, w, where)
                    if m.value & ~m.mask:
                        raise InvalidEntry(f"{where}: ternary value has bits set outside the mask")
                    v, mk = m.value, m.mask
                elif isinstance(m, Optional_):
                    if m.value is None:
                        v, mk = 0, 0
                    else:
                        self._chk(m.value, w, where)
                        v, mk = m.value, full
                elif isinstance(m, Exact) and s.kind == "optional":
                    self._chk(m.value, w, where)
                    v, mk = m.value, full
                else:
                    raise InvalidEntry(f"{where}: expected a Ternary or Optional_ match")
            elif s.kind == "range":
                if not isinstance(m, Range):
                    raise InvalidEntry(f"{where}: expected a Range match")
                self._chk(m.low, w, where)
                self._chk(m.high, w, where)
                if m.low > m.high:
                    raise InvalidEntry(f"{where}: range low > high")
                v, mk = 0, 0
                if not (m.low == 0 and m.high == full):
                    ranges.append((s.offset, full, m.low, m.high))
            else:  # pragma: no cover
                raise InvalidEntry(f"{where}: unknown match kind")
            value |= v << s.offset
            mask |= mk << s.offset
        return value, mask, tuple(ranges), plen

    @staticmethod
    def _chk(v: Any, w: int, where: str) -> None:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v >> w:
            raise InvalidEntry(f"{where}: value {v!r} does not fit in {w} bits")

    def _action(self, action: str, args: tuple[int, ...], what: str) -> ActionBinding:
        b = self._actions.get(action)
        if b is None:
            raise InvalidEntry(
                f"action '{action}' is not an action of table '{self.info.name}' ({what})"
            )
        if not isinstance(args, tuple) or len(args) != len(b.widths):
            raise InvalidEntry(f"action '{action}' expects {len(b.widths)} arguments ({what})")
        for a, w in zip(args, b.widths):
            self._chk(a, w, f"argument of action '{action}'")
        return b

    # -- contract API ----------------------------------------------------------------------------

    def insert(self, entry: TableEntry) -> None:
        """Add an entry. DuplicateEntry, TableFull (len == size), InvalidEntry."""
        if self._const:
            raise InvalidEntry(f"table '{self.info.name}' has const entries and cannot be modified")
        value, mask, ranges, plen = self._canon(entry.match, entry.priority)
        b = self._action(entry.action, entry.args, "insert")
        ident = (entry.match, entry.priority)
        if ident in self._entries:
            raise DuplicateEntry(f"entry already exists in table '{self.info.name}'")
        if self._mode in ("exact", "lpm"):
            # identical keys are duplicates even if spelled differently (e.g. Lpm vs same prefix)
            if self._mode == "exact" and value in self._exact:
                raise DuplicateEntry(f"entry already exists in table '{self.info.name}'")
            if self._mode == "lpm" and value in self._lpm.get(plen, {}):
                raise DuplicateEntry(f"entry already exists in table '{self.info.name}'")
        if len(self._entries) >= self.info.size:
            raise TableFull(f"table '{self.info.name}' is full ({self.info.size} entries)")
        e = _Entry()
        e.match, e.priority, e.action, e.args = (
            entry.match,
            entry.priority,
            entry.action,
            entry.args,
        )
        e.fn = b.fn
        e.next = self._hit_next if self._hm else b.next
        if self._free_handles:
            e.seq = heapq.heappop(self._free_handles)
        else:
            e.seq = self._seq
            self._seq += 1
        e.value, e.mask, e.ranges, e.plen = value, mask, ranges, plen
        e.rank = (-entry.priority, e.seq)
        self._entries[ident] = e
        self._index(e)

    def modify(self, entry: TableEntry) -> None:
        """Change action/args of an existing entry (counters kept). EntryNotFound, InvalidEntry."""
        if self._const:
            raise InvalidEntry(f"table '{self.info.name}' has const entries and cannot be modified")
        self._canon(entry.match, entry.priority)
        e = self._entries.get((entry.match, entry.priority))
        if e is None:
            raise EntryNotFound(f"no such entry in table '{self.info.name}'")
        b = self._action(entry.action, entry.args, "modify")
        e.action, e.args, e.fn = entry.action, entry.args, b.fn
        e.next = self._hit_next if self._hm else b.next

    def delete(self, match: tuple[Match, ...], priority: int) -> None:
        """Remove an entry. EntryNotFound."""
        if self._const:
            raise InvalidEntry(f"table '{self.info.name}' has const entries and cannot be modified")
        e = self._entries.pop((match, priority), None)
        if e is None:
            raise EntryNotFound(f"no such entry in table '{self.info.name}'")
        self._unindex(e)
        heapq.heappush(self._free_handles, e.seq)

    def get(self, match: tuple[Match, ...], priority: int) -> TableEntry | None:
        """The entry with that identity, or None."""
        e = self._entries.get((match, priority))
        return None if e is None else self._public(e)

    @staticmethod
    def _public(e: _Entry) -> TableEntry:
        return TableEntry(e.match, e.priority, e.action, e.args)

    def entries(self) -> list[TableEntry]:
        """All entries in insertion order."""
        return [self._public(e) for e in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def set_default(self, action: str, args: tuple[int, ...]) -> None:
        """Set the default (miss) action. InvalidEntry if const or not allowed."""
        if self.info.default_is_const:
            raise InvalidEntry(f"the default action of table '{self.info.name}' is const")
        self._action(action, args, "set_default")
        self._set_default(action, args)

    def _set_default(self, action: str, args: tuple[int, ...]) -> None:
        b = self._actions[action]
        self._default_name, self._default_args, self._default_fn = action, tuple(args), b.fn
        self._default_nx = self._miss_next if self._hm else b.next

    def get_default(self) -> tuple[str, tuple[int, ...]]:
        """(action, args) of the default entry."""
        return self._default_name, self._default_args

    def reset_default(self) -> None:
        """Restore the program's default entry."""
        if self._json_default is None:
            self._default_name, self._default_args, self._default_fn = "", (), _noop
            self._default_nx = self._base_default_next
        else:
            self._set_default(*self._json_default)

    def _find(self, match: tuple[Match, ...], priority: int) -> _Entry:
        if not self._counted:
            raise InvalidEntry(f"table '{self.info.name}' has no direct counter")
        e = self._entries.get((match, priority))
        if e is None:
            raise EntryNotFound(f"no such entry in table '{self.info.name}'")
        return e

    def direct_counter(self, match: tuple[Match, ...], priority: int) -> tuple[int, int]:
        """(packets, bytes) of an entry's direct counter. EntryNotFound."""
        c = self._find(match, priority).cnt
        return c[0], c[1]

    def set_direct_counter(
        self, match: tuple[Match, ...], priority: int, packets: int, bytes_: int
    ) -> None:
        """Overwrite an entry's direct counter. EntryNotFound."""
        c = self._find(match, priority).cnt
        c[0], c[1] = int(packets), int(bytes_)

    def reset(self) -> None:
        """Drop all non-const entries, zero counters, restore the default entry."""
        if not self._const:
            self._entries.clear()
            self._clear_structs()
            self._seq = 0
            self._free_handles = []
        else:
            for e in self._entries.values():
                e.cnt[0] = e.cnt[1] = 0
        self.reset_default()
