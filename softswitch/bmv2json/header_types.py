"""The ``header_types`` section."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, Expr, as_list, parse_expression, req
from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

__all__ = ["FieldDef", "HeaderType", "load_header_types"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A field of a header type; ``width`` is None for the variable-length (varbit) field."""

    name: str
    width: int | None
    signed: bool = False


@dataclass(frozen=True, slots=True)
class HeaderType:
    """A header type. ``length_exp`` uses :class:`~.common.Local` nodes for field offsets."""

    name: str
    id: int
    fields: tuple[FieldDef, ...]
    length_exp: Expr | None
    max_length: int | None

    @property
    def fixed_bits(self) -> int:
        """Sum of the widths of the fixed-width fields."""
        return sum(f.width for f in self.fields if f.width is not None)

    @property
    def vl_index(self) -> int | None:
        """Index of the varbit field, if any."""
        for i, f in enumerate(self.fields):
            if f.width is None:
                return i
        return None

    def field_index(self, name: str) -> int:
        """Offset of field ``name`` (KeyError if absent)."""
        for i, f in enumerate(self.fields):
            if f.name == name:
                return i
        raise KeyError(name)


def load_header_types(root: JSON) -> dict[str, HeaderType]:
    """Parse ``header_types``; refuses saturating fields, checks widths."""
    out: dict[str, HeaderType] = {}
    for ht in as_list(root.get("header_types"), "header_types"):
        name = req(ht, "name", "header_types")
        where = f"header type '{name}'"
        fields: list[FieldDef] = []
        nvl = 0
        for f in as_list(req(ht, "fields", where), where):
            if not isinstance(f, list) or len(f) < 2:
                raise InvalidProgram(f"{where}: malformed field {f!r}")
            fname, width = f[0], f[1]
            signed = bool(f[2]) if len(f) > 2 else False
            if len(f) > 3 and f[3]:
                raise UnsupportedConstruct(f"unsupported saturating field '{fname}' in {where}")
            if width == "*":
                nvl += 1
                fields.append(FieldDef(str(fname), None, signed))
                continue
            if not isinstance(width, int) or isinstance(width, bool) or width < 0:
                raise InvalidProgram(f"{where}: field '{fname}' has invalid width {width!r}")
            if signed and width < 2:
                raise InvalidProgram(f"{where}: signed field '{fname}' needs at least 2 bits")
            fields.append(FieldDef(str(fname), width, signed))
        if nvl > 1:
            raise InvalidProgram(f"{where}: more than one variable-length field")
        length_exp = None
        if ht.get("length_exp") is not None:
            length_exp = parse_expression(ht["length_exp"], where)
        max_length = ht.get("max_length")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
            raise InvalidProgram(f"{where}: invalid max_length")
        if name in out:
            raise InvalidProgram(f"duplicate header type '{name}'")
        out[name] = HeaderType(
            str(name), int(req(ht, "id", where)), tuple(fields), length_exp, max_length
        )
    return out
