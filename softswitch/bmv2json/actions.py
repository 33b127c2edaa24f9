"""The ``actions`` section, and primitive calls (also used by parsers and deparsers)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, Arg, as_list, parse_arg, req
from .errors import InvalidProgram

logger = logging.getLogger(__name__)

__all__ = ["PrimitiveCall", "Action", "parse_primitive", "load_actions"]


@dataclass(frozen=True, slots=True)
class PrimitiveCall:
    """One primitive call ``op(params...)``; support is decided by the engine."""

    op: str
    params: tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Action:
    """An action: runtime data (name, bitwidth) and its primitive calls in order."""

    name: str
    id: int
    runtime_data: tuple[tuple[str, int], ...]
    primitives: tuple[PrimitiveCall, ...]


def parse_primitive(p: JSON, where: str) -> PrimitiveCall:
    """Parse one ``{"op": ..., "parameters": [...]}`` object."""
    op = req(p, "op", where)
    if not isinstance(op, str):
        raise InvalidProgram(f"{where}: primitive name must be a string")
    w = f"primitive '{op}' in {where}"
    params = tuple(parse_arg(a, w) for a in as_list(p.get("parameters"), w))
    return PrimitiveCall(op, params)


def load_actions(root: JSON) -> dict[int, Action]:
    """Parse ``actions`` keyed by action id (names may repeat in bmv2 JSON)."""
    out: dict[int, Action] = {}
    for a in as_list(root.get("actions"), "actions"):
        name = str(req(a, "name", "actions"))
        aid = req(a, "id", f"action '{name}'")
        where = f"action '{name}'"
        rd = []
        for r in as_list(a.get("runtime_data"), where):
            bw = req(r, "bitwidth", where)
            if not isinstance(bw, int) or bw < 0:
                raise InvalidProgram(f"{where}: invalid runtime_data bitwidth {bw!r}")
            rd.append((str(req(r, "name", where)), bw))
        prims = tuple(parse_primitive(p, where) for p in as_list(a.get("primitives"), where))
        if aid in out:
            raise InvalidProgram(f"duplicate action id {aid}")
        out[int(aid)] = Action(name, int(aid), tuple(rd), prims)
    return out
