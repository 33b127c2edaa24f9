"""The ``checksums`` section (verify_checksum / update_checksum)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, Expr, FieldRef, as_list, parse_expression, req
from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

__all__ = ["Checksum", "load_checksums"]


@dataclass(frozen=True, slots=True)
class Checksum:
    """A checksum: target field, calculation, whether verified/updated, optional condition."""

    name: str
    id: int
    target: FieldRef
    calculation: str
    update: bool
    verify: bool
    if_cond: Expr | None


def load_checksums(root: JSON, calculations: set[str]) -> list[Checksum]:
    """Parse ``checksums`` (JSON order is the verify/update order)."""
    out: list[Checksum] = []
    for c in as_list(root.get("checksums"), "checksums"):
        name = str(req(c, "name", "checksums"))
        where = f"checksum '{name}'"
        ctype = c.get("type", "generic")
        if ctype != "generic":
            raise UnsupportedConstruct(f"unsupported checksum type '{ctype}' in {where}")
        tgt = req(c, "target", where)
        if not (isinstance(tgt, list) and len(tgt) == 2):
            raise InvalidProgram(f"{where}: malformed target")
        calc = str(req(c, "calculation", where))
        if calc not in calculations:
            raise InvalidProgram(f"{where}: unknown calculation '{calc}'")
        cond = c.get("if_cond")
        out.append(
            Checksum(
                name,
                int(req(c, "id", where)),
                FieldRef(str(tgt[0]), str(tgt[1])),
                calc,
                bool(c.get("update", True)),
                bool(c.get("verify", True)),
                None if cond is None else parse_expression(cond, where),
            )
        )
    return out
