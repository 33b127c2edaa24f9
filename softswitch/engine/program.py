"""``Program`` (the loaded, immutable pipeline) and ``load_program``."""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Mapping

from ..bmv2json.errors import UnsupportedConstruct
from ..bmv2json.program import ProgramModel, load_json
from .compiler import build_runtime, slice_of_mask
from .types import ActionInfo, CounterInfo, KeyField, TableInfo, ValueSetInfo

logger = logging.getLogger(__name__)

__all__ = ["Program", "load_program"]


class Program:
    """The loaded pipeline: static descriptions of tables, actions, counters and value sets.

    Construct it with :func:`load_program`; it is immutable and may back several Switches.
    """

    tables: Mapping[str, TableInfo]
    actions: Mapping[str, ActionInfo]
    counters: Mapping[str, CounterInfo]
    value_sets: Mapping[str, ValueSetInfo]

    def __init__(self, model: ProgramModel) -> None:
        self._model = model
        actions: dict[str, ActionInfo] = {}
        for a in model.actions.values():
            info = ActionInfo(a.name, tuple(a.runtime_data))
            prev = actions.get(a.name)
            if prev is None:
                actions[a.name] = info
            elif prev.params != info.params:
                raise UnsupportedConstruct(
                    f"unsupported program: two actions named '{a.name}' with different parameters"
                )
        direct: dict[str, str] = {
            c.binding: c.name for c in model.counter_arrays.values() if c.is_direct and c.binding
        }
        tables: dict[str, TableInfo] = {}
        for p in model.pipelines.values():
            for t in p.tables.values():
                keys = []
                for k in t.key:
                    if k.match_type == "valid":
                        w = 1
                    else:
                        h = model.headers.get(k.target.header)  # type: ignore[union-attr]
                        w = 1
                        if h is not None and k.target.field != "$valid$":  # type: ignore[union-attr]
                            ht = model.header_types[h.header_type]
                            try:
                                w = ht.fields[ht.field_index(k.target.field)].width or 0  # type: ignore[union-attr]
                            except KeyError:
                                w = 0
                            if k.mask is not None and w:
                                sl = slice_of_mask(k.mask, w)
                                if sl is not None:
                                    w = sl[1]
                    keys.append(KeyField(k.name, k.match_type, w))
                names = tuple(dict.fromkeys(t.action_names))
                dname, dargs, dconst = "", (), False
                if t.default_entry is not None:
                    da = model.actions.get(t.default_entry.action_id)
                    if da is not None:
                        dname = da.name
                        dargs = tuple(
                            v & ((1 << w) - 1)
                            for v, (_, w) in zip(t.default_entry.action_data, da.runtime_data)
                        )
                        dconst = t.default_entry.action_const
                tables[t.name] = TableInfo(
                    name=t.name,
                    keys=tuple(keys),
                    action_names=names,
                    size=t.max_size,
                    default_action=dname,
                    default_args=dargs,
                    default_is_const=dconst,
                    direct_counter=direct.get(t.name) if t.with_counters else None,
                    has_const_entries=t.entries is not None,
                )
        counters = {
            c.name: CounterInfo(c.name, c.size, c.binding if c.is_direct else None)
            for c in model.counter_arrays.values()
        }
        self._table_infos = tables
        self.tables = MappingProxyType(tables)
        self.actions = MappingProxyType(actions)
        self.counters = MappingProxyType(counters)
        # a trial build validates everything (and tells the value sets' key layouts)
        rt = build_runtime(model, tables)
        self.value_sets = MappingProxyType({n: vs.info for n, vs in rt.value_sets.items()})

    @property
    def model(self) -> ProgramModel:
        """The parsed bmv2 JSON model."""
        return self._model

    def __repr__(self) -> str:
        return f"Program(tables={len(self.tables)}, actions={len(self.actions)})"


def load_program(source: str | bytes | dict) -> Program:
    """Load bmv2 JSON (p4c-bm2-ss, v1model) and compile it.

    Raises UnsupportedConstruct (naming the construct) or another EngineError for anything
    that cannot be executed exactly like bmv2 simple_switch.
    """
    model = load_json(source)
    prog = Program(model)
    logger.info("loaded program: %d tables, %d actions", len(prog.tables), len(prog.actions))
    return prog
