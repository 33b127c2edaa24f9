"""Helpers shared by the section loaders: JSON access, hex strings, type-value objects, expressions.

The bmv2 "type value object" (``{"type": ..., "value": ...}``) and expressions are turned into
small immutable node classes. Nothing here executes anything; the engine compiles these nodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Union

from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

JSON = Any

__all__ = [
    "JSON",
    "req",
    "opt",
    "as_list",
    "parse_hexstr",
    "hexstr_nbytes",
    "FieldRef",
    "Const",
    "BoolConst",
    "HeaderRef",
    "StackRef",
    "StackFieldRef",
    "Local",
    "RegisterRef",
    "Op",
    "Expr",
    "Arg",
    "parse_expression",
    "parse_arg",
    "EXPR_OPS",
]


def req(obj: JSON, key: str, where: str) -> JSON:
    """Return ``obj[key]`` or raise InvalidProgram naming ``where``."""
    if not isinstance(obj, dict) or key not in obj:
        raise InvalidProgram(f"missing attribute '{key}' in {where}")
    return obj[key]


def opt(obj: JSON, key: str, default: JSON = None) -> JSON:
    """Return ``obj.get(key, default)`` treating JSON null as missing."""
    if not isinstance(obj, dict):
        return default
    v = obj.get(key, default)
    return default if v is None else v


def as_list(v: JSON, where: str) -> list[JSON]:
    """Check that ``v`` is a JSON array (None counts as empty) and return it."""
    if v is None:
        return []
    if not isinstance(v, list):
        raise InvalidProgram(f"{where} must be a JSON array")
    return v


def parse_hexstr(s: JSON, where: str = "hexstr") -> int:
    """Parse a bmv2 hex string ("0x0a", "-0x1", "0a") into a Python int."""
    if isinstance(s, bool):
        raise InvalidProgram(f"{where}: expected a hex string, got a boolean")
    if isinstance(s, int):
        return s
    if not isinstance(s, str) or not s:
        raise InvalidProgram(f"{where}: expected a hex string, got {s!r}")
    t = s.strip()
    neg = t.startswith("-")
    if neg:
        t = t[1:]
    if t[:2] in ("0x", "0X"):
        t = t[2:]
    try:
        v = int(t, 16)
    except ValueError:
        raise InvalidProgram(f"{where}: invalid hex string {s!r}") from None
    return -v if neg else v


def hexstr_nbytes(s: str) -> int:
    """Number of bytes a bmv2 hex string denotes (bmv2's ByteContainer size)."""
    t = s.strip().lstrip("-")
    if t[:2] in ("0x", "0X"):
        t = t[2:]
    return (len(t) + 1) // 2


# ----------------------------------------------------------------------------------------------
# Expression nodes


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A header field; ``field`` may be the hidden ``$valid$`` field."""

    header: str
    field: str


@dataclass(frozen=True, slots=True)
class Const:
    """An integer constant (from a hexstr); bmv2 data values have infinite precision."""

    value: int


@dataclass(frozen=True, slots=True)
class BoolConst:
    """A boolean constant."""

    value: bool


@dataclass(frozen=True, slots=True)
class HeaderRef:
    """A header instance (used by ``valid``, header copies, header equality)."""

    name: str


@dataclass(frozen=True, slots=True)
class StackRef:
    """A header stack."""

    name: str


@dataclass(frozen=True, slots=True)
class StackFieldRef:
    """A field of the last valid element of a header stack."""

    stack: str
    field: str


@dataclass(frozen=True, slots=True)
class Local:
    """Runtime action data (action parameter) number ``index``."""

    index: int


@dataclass(frozen=True, slots=True)
class RegisterRef:
    """A register cell ``array[index]``."""

    array: str
    index: "Expr"


@dataclass(frozen=True, slots=True)
class Op:
    """An operation; ``cond`` is only used by the ternary operator ``?``.

    For ``access_field`` the ``right`` member is a :class:`Const` holding the field offset.
    """

    op: str
    left: "Expr | None"
    right: "Expr | None"
    cond: "Expr | None" = None


Expr = Union[FieldRef, Const, BoolConst, HeaderRef, StackRef, StackFieldRef, Local, RegisterRef, Op]

EXPR_OPS = frozenset(
    {
        "+",
        "-",
        "*",
        "/",
        "%",
        "<<",
        ">>",
        "==",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "and",
        "or",
        "not",
        "&",
        "|",
        "^",
        "~",
        "valid",
        "?",
        "d2b",
        "b2d",
        "two_comp_mod",
        "usat_cast",
        "sat_cast",
        "last_stack_index",
        "size_stack",
        "dereference_header_stack",
        "dereference_stack",
        "access_field",
        "valid_union",
        "dereference_union_stack",
        "access_union_header",
    }
)


def parse_expression(tv: JSON, where: str) -> Expr:
    """Parse a type-value object usable inside an expression."""
    if tv is None:
        raise InvalidProgram(f"{where}: missing expression operand")
    if isinstance(tv, bool):
        return BoolConst(tv)
    if isinstance(tv, int):  # access_field offsets are plain integers
        return Const(tv)
    t = req(tv, "type", where)
    v = tv.get("value")
    if t == "expression":
        if not isinstance(v, dict):
            raise InvalidProgram(f"{where}: malformed expression")
        if "op" not in v and "type" in v:  # nested {"type": "expression", "value": {...}}
            return parse_expression(v, where)
        op = req(v, "op", where)
        if op not in EXPR_OPS:
            raise UnsupportedConstruct(f"unsupported expression operator '{op}' in {where}")
        if op in ("valid_union", "dereference_union_stack", "access_union_header"):
            raise UnsupportedConstruct(
                f"unsupported expression operator '{op}' (header unions) in {where}"
            )
        left = v.get("left")
        right = v.get("right")
        cond = v.get("cond")
        return Op(
            op,
            None if left is None else parse_expression(left, where),
            None if right is None else parse_expression(right, where),
            None if cond is None else parse_expression(cond, where),
        )
    if t == "field":
        return _field(v, where)
    if t == "hexstr":
        return Const(parse_hexstr(v, where))
    if t == "bool":
        return BoolConst(bool(v))
    if t == "header":
        return HeaderRef(_name(v, where))
    if t == "header_stack":
        return StackRef(_name(v, where))
    if t == "stack_field":
        if not (isinstance(v, list) and len(v) == 2):
            raise InvalidProgram(f"{where}: malformed stack_field")
        return StackFieldRef(str(v[0]), str(v[1]))
    if t in ("local", "runtime_data"):
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidProgram(f"{where}: malformed local")
        return Local(v)
    if t == "register":
        if not (isinstance(v, list) and len(v) == 2):
            raise InvalidProgram(f"{where}: malformed register reference")
        return RegisterRef(str(v[0]), parse_expression(v[1], where))
    if t in ("header_union", "header_union_stack", "union_stack_field"):
        raise UnsupportedConstruct(f"unsupported operand type '{t}' (header unions) in {where}")
    raise UnsupportedConstruct(f"unsupported operand type '{t}' in {where}")


def _field(v: JSON, where: str) -> FieldRef:
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
        raise InvalidProgram(f"{where}: malformed field reference {v!r}")
    return FieldRef(v[0], v[1])


def _name(v: JSON, where: str) -> str:
    if not isinstance(v, str):
        raise InvalidProgram(f"{where}: expected a name, got {v!r}")
    return v


# ----------------------------------------------------------------------------------------------
# Primitive arguments


@dataclass(frozen=True, slots=True)
class Arg:
    """One primitive argument.

    ``kind`` is the JSON type. ``value`` depends on it: an :data:`Expr` for ``field``,
    ``hexstr``, ``runtime_data`` (as :class:`Local`), ``expression``, ``stack_field``,
    ``bool``; a name (str) for ``header``, ``header_stack``, ``calculation``,
    ``counter_array``, ``register_array``, ``meter_array``, ``extern``; the text for
    ``string``; a tuple of Args for ``parameters_vector``.
    """

    kind: str
    value: Any


_NAMED_ARGS = frozenset(
    {
        "header",
        "header_stack",
        "calculation",
        "counter_array",
        "register_array",
        "meter_array",
        "extern",
    }
)


def parse_arg(tv: JSON, where: str) -> Arg:
    """Parse a primitive argument type-value object."""
    t = req(tv, "type", where)
    v = tv.get("value")
    if t in ("field", "hexstr", "expression", "stack_field", "bool", "register"):
        return Arg(t, parse_expression(tv, where))
    if t == "runtime_data":
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidProgram(f"{where}: malformed runtime_data index")
        return Arg(t, Local(v))
    if t in _NAMED_ARGS:
        return Arg(t, _name(v, where))
    if t == "string":
        return Arg(t, str(v))
    if t == "parameters_vector":
        return Arg(t, tuple(parse_arg(x, where) for x in as_list(v, where)))
    if t in ("header_union", "header_union_stack"):
        raise UnsupportedConstruct(f"unsupported argument type '{t}' (header unions) in {where}")
    if t == "field_list":
        raise UnsupportedConstruct(f"unsupported argument type 'field_list' in {where}")
    raise UnsupportedConstruct(f"unsupported argument type '{t}' in {where}")
