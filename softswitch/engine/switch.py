"""``Switch``: one packet through parser / ingress / PRE / egress / deparser, like bmv2
``targets/simple_switch/simple_switch.cpp`` (ingress_thread + egress_thread), synchronously."""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from ..bmv2json.errors import EntryNotFound, InvalidEntry
from .compiler import build_runtime
from .layout import CKERR, EXIT, ILEN, NO_TRUNC, PAYLOAD, PERR, PLEN, TRUNC
from .program import Program
from .rt import AssertFailure
from .tables import Table
from .types import CounterInfo
from .valueset import ValueSet

logger = logging.getLogger(__name__)

__all__ = ["Switch", "CounterArray", "PKT_INSTANCE_TYPE_NORMAL", "PKT_INSTANCE_TYPE_REPLICATION"]

PKT_INSTANCE_TYPE_NORMAL = 0
PKT_INSTANCE_TYPE_REPLICATION = 5


class CounterArray:
    """An indexed counter array (packets and bytes per cell)."""

    def __init__(self, info: CounterInfo, cells: tuple[list[int], list[int]]) -> None:
        self.info = info
        self._p, self._b = cells

    def read(self, index: int) -> tuple[int, int]:
        """(packets, bytes) of cell ``index``; IndexError when out of range."""
        if not 0 <= index < len(self._p):
            raise IndexError(f"counter '{self.info.name}' index {index} out of range")
        return self._p[index], self._b[index]

    def write(self, index: int, packets: int, bytes_: int) -> None:
        """Overwrite cell ``index``; IndexError when out of range."""
        if not 0 <= index < len(self._p):
            raise IndexError(f"counter '{self.info.name}' index {index} out of range")
        self._p[index] = int(packets)
        self._b[index] = int(bytes_)

    def reset(self) -> None:
        """Zero every cell."""
        for i in range(len(self._p)):
            self._p[i] = 0
            self._b[i] = 0


class Switch:
    """A software switch running one Program (bmv2 simple_switch semantics)."""

    def __init__(
        self, program: Program, *, cpu_port: int | None = None, drop_port: int = 511
    ) -> None:
        self.program = program
        self.cpu_port = cpu_port
        self.drop_port = drop_port
        self.lock = threading.RLock()
        #: re-raise internal errors from process() instead of dropping (tests)
        self.strict = False
        rt = build_runtime(program.model, program._table_infos, drop_port)
        self._rt = rt
        self._template = rt.layout.template()
        self._groups: dict[int, tuple[tuple[int, int], ...]] = {}
        self._counters = {
            n: CounterArray(program.counters[n], cells) for n, cells in rt.counters.items()
        }
        self._start = time.monotonic()
        s = rt.slots
        w = rt.widths
        self._s_in = s["standard_metadata.ingress_port"]
        self._m_in = (1 << w["standard_metadata.ingress_port"]) - 1
        self._s_len = s["standard_metadata.packet_length"]
        self._m_len = (1 << w["standard_metadata.packet_length"]) - 1
        self._s_inst = s["standard_metadata.instance_type"]
        self._s_es = s["standard_metadata.egress_spec"]
        self._m_es = (1 << w["standard_metadata.egress_spec"]) - 1
        self._s_ep = s["standard_metadata.egress_port"]
        self._m_ep = (1 << w["standard_metadata.egress_port"]) - 1
        self._s_mg = s["intrinsic_metadata.mcast_grp"]
        self._s_rid = s["intrinsic_metadata.egress_rid"]
        self._m_rid = (1 << w["intrinsic_metadata.egress_rid"]) - 1
        self._s_perr = s["standard_metadata.parser_error"]
        self._m_perr = (1 << w["standard_metadata.parser_error"]) - 1
        self._s_ckerr = s["standard_metadata.checksum_error"]
        self._s_its = s["intrinsic_metadata.ingress_global_timestamp"]
        self._s_ets = s["intrinsic_metadata.egress_global_timestamp"]
        self._s_prio = s["intrinsic_metadata.priority"]
        q = (
            "queueing_metadata.enq_timestamp",
            "queueing_metadata.enq_qdepth",
            "queueing_metadata.deq_timedelta",
            "queueing_metadata.deq_qdepth",
        )
        self._queueing = all(s[n] is not None for n in q)
        self._w = w
        self._s = s

    # -- packet path -----------------------------------------------------------------------------

    def _ts(self) -> int:
        return int((time.monotonic() - self._start) * 1_000_000)

    def _set(self, F: list, name: str, v: int) -> None:
        slot = self._s[name]
        if slot is not None:
            F[slot] = v & ((1 << self._w[name]) - 1)

    def process(self, in_port: int, data: bytes) -> list[tuple[int, bytes]]:
        """Run one packet; returns [(egress_port, frame)] in a deterministic order (multicast:
        group replica order). Never raises on packet content."""
        with self.lock:
            try:
                return self._process(in_port, bytes(data))
            except AssertFailure:
                logger.error("assert()/assume() failed; packet dropped (bmv2 would abort)")
                return []
            except Exception:
                if self.strict:
                    raise
                logger.exception("internal error while processing a packet; packet dropped")
                return []

    def _process(self, in_port: int, data: bytes) -> list[tuple[int, bytes]]:
        rt = self._rt
        n = len(data)
        F = self._template.copy()
        F[ILEN] = n
        F[PLEN] = n
        F[self._s_in] = in_port & self._m_in
        F[self._s_len] = n & self._m_len
        # instance_type is NORMAL (0) already
        if self._s_its is not None:
            self._set(F, "intrinsic_metadata.ingress_global_timestamp", self._ts())
        pos = rt.parse(F, data)
        F[PAYLOAD] = data[pos:]
        rt.verify_checksums(F)
        if self._s_perr is not None:
            F[self._s_perr] = F[PERR] & self._m_perr
        if self._s_ckerr is not None:
            F[self._s_ckerr] = F[CKERR]
        rt.ingress(F)
        F[EXIT] = 0
        egress_spec = F[self._s_es]
        mgid = F[self._s_mg] if self._s_mg is not None else 0
        out: list[tuple[int, bytes]] = []
        if mgid != 0:
            F[self._s_inst] = PKT_INSTANCE_TYPE_REPLICATION
            for port, rid in self._groups.get(mgid, ()):
                if self._s_rid is not None:
                    F[self._s_rid] = rid & self._m_rid
                G = F.copy()
                G[TRUNC] = NO_TRUNC  # bmv2 copies do not inherit the truncation length
                self._egress(G, port, out)
            return out
        if egress_spec == self.drop_port:
            return out
        F[self._s_inst] = PKT_INSTANCE_TYPE_NORMAL
        self._egress(F, egress_spec, out)
        return out

    def _egress(self, F: list, port: int, out: list[tuple[int, bytes]]) -> None:
        # enqueue(): priority queue selection; simple_switch has 1 queue per port by default
        if self._s_prio is not None and F[self._s_prio] >= 1:
            logger.debug("priority out of range, dropping packet")
            return
        if self._queueing:
            self._set(F, "queueing_metadata.enq_timestamp", self._ts())
            self._set(F, "queueing_metadata.enq_qdepth", 0)
        if self._s_ets is not None:
            self._set(F, "intrinsic_metadata.egress_global_timestamp", self._ts())
        if self._queueing:
            self._set(F, "queueing_metadata.deq_timedelta", 0)
            self._set(F, "queueing_metadata.deq_qdepth", 0)
            self._set(F, "queueing_metadata.qid", 0)
        F[self._s_ep] = port & self._m_ep
        F[self._s_es] = (self.drop_port + 1) & self._m_es
        F[self._s_len] = F[PLEN] & self._m_len
        rt = self._rt
        rt.egress(F)
        if F[self._s_es] == self.drop_port:
            return
        rt.update_checksums(F)
        frame = rt.deparse(F) + F[PAYLOAD]
        if F[TRUNC] != NO_TRUNC:
            frame = frame[:F[TRUNC]]
        out.append((port, frame))

    # -- control plane ---------------------------------------------------------------------------

    def table(self, name: str) -> Table:
        """The runtime table ``name`` (KeyError names the table)."""
        t = self._rt.tables.get(name)
        if t is None:
            raise KeyError(f"no table named '{name}'")
        return t

    def counter(self, name: str) -> CounterArray:
        """The indexed counter array ``name`` (KeyError for unknown or direct counters)."""
        c = self._counters.get(name)
        if c is None:
            raise KeyError(f"no indexed counter named '{name}'")
        return c

    def set_multicast_group(self, group_id: int, replicas: Sequence[tuple[int, int]]) -> None:
        """Create or replace multicast group ``group_id`` with (port, rid) replicas (kept in order)."""
        if not isinstance(group_id, int) or not 1 <= group_id <= 0xFFFF:
            raise InvalidEntry(f"invalid multicast group id {group_id!r} (1..65535)")
        reps = []
        for r in replicas:
            if not (
                isinstance(r, tuple)
                and len(r) == 2
                and all(isinstance(x, int) and x >= 0 for x in r)
            ):
                raise InvalidEntry(f"invalid multicast replica {r!r}; expected (port, rid)")
            reps.append((int(r[0]), int(r[1])))
        self._groups[group_id] = tuple(reps)

    def delete_multicast_group(self, group_id: int) -> None:
        """Delete a multicast group (EntryNotFound if absent)."""
        if self._groups.pop(group_id, None) is None:
            raise EntryNotFound(f"no multicast group {group_id}")

    def multicast_groups(self) -> dict[int, tuple[tuple[int, int], ...]]:
        """All multicast groups."""
        return dict(self._groups)

    def value_set(self, name: str) -> ValueSet:
        """The parser value set ``name`` (KeyError names it)."""
        v = self._rt.value_sets.get(name)
        if v is None:
            raise KeyError(f"no value set named '{name}'")
        return v

    def register(self, name: str) -> list[int]:
        """The cells of register array ``name`` (live list; extension beyond the contract)."""
        r = self._rt.registers.get(name)
        if r is None:
            raise KeyError(f"no register array named '{name}'")
        return r

    def reset_state(self) -> None:
        """Clear all entries, counters, multicast groups, value sets and registers."""
        with self.lock:
            for t in self._rt.tables.values():
                t.reset()
            for c in self._counters.values():
                c.reset()
            for r in self._rt.registers.values():
                for i in range(len(r)):
                    r[i] = 0
            for v in self._rt.value_sets.values():
                v.clear()
            self._groups.clear()
