"""The ``parse_vsets`` section (P4 ``value_set``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, as_list, req
from .errors import InvalidProgram

logger = logging.getLogger(__name__)

__all__ = ["ParseVSet", "load_parse_vsets"]


@dataclass(frozen=True, slots=True)
class ParseVSet:
    """A parser value set. ``max_size`` is 0 when the JSON does not give one."""

    name: str
    id: int
    compressed_bitwidth: int
    max_size: int


def load_parse_vsets(root: JSON) -> dict[str, ParseVSet]:
    """Parse ``parse_vsets``."""
    out: dict[str, ParseVSet] = {}
    for v in as_list(root.get("parse_vsets"), "parse_vsets"):
        name = str(req(v, "name", "parse_vsets"))
        where = f"parse value set '{name}'"
        bw = req(v, "compressed_bitwidth", where)
        if not isinstance(bw, int) or bw <= 0:
            raise InvalidProgram(f"{where}: invalid compressed_bitwidth {bw!r}")
        size = v.get("max_size", 0) or 0
        out[name] = ParseVSet(name, int(req(v, "id", where)), bw, int(size))
    return out
