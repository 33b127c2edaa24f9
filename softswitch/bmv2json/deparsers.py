"""The ``deparsers`` section."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .actions import PrimitiveCall, parse_primitive
from .common import JSON, as_list, req

logger = logging.getLogger(__name__)

__all__ = ["Deparser", "load_deparsers"]


@dataclass(frozen=True, slots=True)
class Deparser:
    """A deparser: header emit order and optional primitive calls run before emitting."""

    name: str
    id: int
    order: tuple[str, ...]
    primitives: tuple[PrimitiveCall, ...]


def load_deparsers(root: JSON) -> dict[str, Deparser]:
    """Parse ``deparsers``."""
    out: dict[str, Deparser] = {}
    for d in as_list(root.get("deparsers"), "deparsers"):
        name = str(req(d, "name", "deparsers"))
        where = f"deparser '{name}'"
        order = tuple(str(h) for h in as_list(d.get("order"), where))
        prims = tuple(parse_primitive(p, where) for p in as_list(d.get("primitives"), where))
        out[name] = Deparser(name, int(req(d, "id", where)), order, prims)
    return out
