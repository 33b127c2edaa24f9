"""The ``headers``, ``header_stacks`` and header-union sections."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, as_list, req
from .errors import InvalidProgram, UnsupportedConstruct
from .header_types import HeaderType

logger = logging.getLogger(__name__)

__all__ = ["HeaderInstance", "HeaderStack", "load_headers", "load_header_stacks", "check_no_unions"]


@dataclass(frozen=True, slots=True)
class HeaderInstance:
    """A header (or metadata) instance."""

    name: str
    id: int
    header_type: str
    metadata: bool


@dataclass(frozen=True, slots=True)
class HeaderStack:
    """A header stack; ``headers`` are the instance names of stack[0], stack[1], ..."""

    name: str
    id: int
    header_type: str
    headers: tuple[str, ...]


def load_headers(root: JSON, types: dict[str, HeaderType]) -> dict[str, HeaderInstance]:
    """Parse ``headers`` (instance order is kept)."""
    out: dict[str, HeaderInstance] = {}
    for h in as_list(root.get("headers"), "headers"):
        name = str(req(h, "name", "headers"))
        where = f"header '{name}'"
        ht = str(req(h, "header_type", where))
        if ht not in types:
            raise InvalidProgram(f"{where}: unknown header type '{ht}'")
        if name in out:
            raise InvalidProgram(f"duplicate header instance '{name}'")
        out[name] = HeaderInstance(
            name, int(req(h, "id", where)), ht, bool(h.get("metadata", False))
        )
    return out


def load_header_stacks(root: JSON, headers: dict[str, HeaderInstance]) -> dict[str, HeaderStack]:
    """Parse ``header_stacks`` (header ids are resolved to instance names)."""
    by_id = {h.id: h.name for h in headers.values()}
    out: dict[str, HeaderStack] = {}
    for s in as_list(root.get("header_stacks"), "header_stacks"):
        name = str(req(s, "name", "header_stacks"))
        where = f"header stack '{name}'"
        ids = as_list(req(s, "header_ids", where), where)
        names = []
        for i in ids:
            if i not in by_id:
                raise InvalidProgram(f"{where}: unknown header id {i}")
            names.append(by_id[i])
        out[name] = HeaderStack(
            name, int(req(s, "id", where)), str(req(s, "header_type", where)), tuple(names)
        )
    return out


def check_no_unions(root: JSON) -> None:
    """Header unions are not implemented: refuse any declared union or union stack."""
    for key in ("header_unions", "header_union_stacks"):
        items = as_list(root.get(key), key)
        if items:
            raise UnsupportedConstruct(
                f"unsupported construct: {key} ('{req(items[0], 'name', key)}')"
            )
