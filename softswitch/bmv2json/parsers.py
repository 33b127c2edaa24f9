"""The ``parsers`` section."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Union

from .actions import PrimitiveCall, parse_primitive
from .common import (
    JSON,
    Const,
    Expr,
    FieldRef,
    StackFieldRef,
    as_list,
    hexstr_nbytes,
    parse_expression,
    parse_hexstr,
    req,
)
from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

__all__ = [
    "Lookahead",
    "Extract",
    "SetOp",
    "Verify",
    "Advance",
    "ParserPrimitive",
    "ParserOp",
    "Transition",
    "ParseState",
    "Parser",
    "load_parsers",
]


@dataclass(frozen=True, slots=True)
class Lookahead:
    """``width`` bits at bit ``offset`` past the current parse position."""

    offset: int
    width: int


@dataclass(frozen=True, slots=True)
class Extract:
    """Extract into a header (``kind`` 'regular') or the next element of a stack ('stack').

    ``length`` is the varbit length expression in bits for ``extract_VL``, else None.
    """

    kind: str
    target: str
    length: Expr | None


@dataclass(frozen=True, slots=True)
class SetOp:
    """``dst = src`` inside a parse state."""

    dst: FieldRef
    src: Union[Expr, Lookahead]


@dataclass(frozen=True, slots=True)
class Verify:
    """``verify(cond, error)``."""

    cond: Expr
    error: Expr


@dataclass(frozen=True, slots=True)
class Advance:
    """Skip ``bits`` bits (``shift`` is converted to this)."""

    bits: Expr


@dataclass(frozen=True, slots=True)
class ParserPrimitive:
    """An extern / primitive call from a parse state."""

    call: PrimitiveCall


ParserOp = Union[Extract, SetOp, Verify, Advance, ParserPrimitive]


@dataclass(frozen=True, slots=True)
class Transition:
    """A select case. ``kind`` is 'default', 'hexstr' or 'parse_vset'.

    For 'hexstr' ``value``/``mask`` are ints over the byte-padded key; for 'parse_vset'
    ``vset`` names the value set. ``next_state`` None means accept.
    """

    kind: str
    value: int | None
    mask: int | None
    vset: str | None
    next_state: str | None


@dataclass(frozen=True, slots=True)
class ParseState:
    """A parse state."""

    name: str
    id: int
    ops: tuple[ParserOp, ...]
    key: tuple[Union[FieldRef, StackFieldRef, Lookahead], ...]
    transitions: tuple[Transition, ...]


@dataclass(frozen=True, slots=True)
class Parser:
    """A parser; ``init_state`` None means nothing is parsed."""

    name: str
    id: int
    init_state: str | None
    states: dict[str, ParseState]


def _parse_op(o: JSON, where: str) -> ParserOp:
    op = req(o, "op", where)
    params = as_list(o.get("parameters"), where)
    if op in ("extract", "extract_VL"):
        n = 1 if op == "extract" else 2
        if len(params) != n:
            raise InvalidProgram(f"{where}: '{op}' expects {n} parameters")
        t = req(params[0], "type", where)
        if t == "union_stack":
            raise UnsupportedConstruct(
                f"unsupported parser extract into a header union stack in {where}"
            )
        if t not in ("regular", "stack"):
            raise InvalidProgram(f"{where}: unknown extract type '{t}'")
        length = None
        if op == "extract_VL":
            if req(params[1], "type", where) != "expression":
                raise InvalidProgram(f"{where}: extract_VL length must be an expression")
            length = parse_expression(params[1], where)
        return Extract(t, str(req(params[0], "value", where)), length)
    if op == "set":
        if len(params) != 2:
            raise InvalidProgram(f"{where}: 'set' expects 2 parameters")
        if req(params[0], "type", where) != "field":
            raise InvalidProgram(f"{where}: 'set' destination must be a field")
        dst = parse_expression(params[0], where)
        assert isinstance(dst, FieldRef)
        if params[1].get("type") == "lookahead":
            v = params[1].get("value")
            return SetOp(dst, Lookahead(int(v[0]), int(v[1])))
        return SetOp(dst, parse_expression(params[1], where))
    if op == "verify":
        if len(params) != 2:
            raise InvalidProgram(f"{where}: 'verify' expects 2 parameters")
        err = params[1]
        err_expr = Const(err) if isinstance(err, int) else parse_expression(err, where)
        return Verify(parse_expression(params[0], where), err_expr)
    if op == "advance":
        if len(params) != 1:
            raise InvalidProgram(f"{where}: 'advance' expects 1 parameter")
        return Advance(parse_expression(params[0], where))
    if op == "shift":
        if len(params) != 1 or not isinstance(params[0], int):
            raise InvalidProgram(f"{where}: 'shift' expects 1 integer parameter")
        return Advance(Const(params[0] * 8))
    if op == "primitive":
        if len(params) != 1:
            raise InvalidProgram(f"{where}: 'primitive' expects 1 parameter")
        return ParserPrimitive(parse_primitive(params[0], where))
    raise UnsupportedConstruct(f"unsupported parser operation '{op}' in {where}")


def _parse_state(s: JSON, pname: str) -> ParseState:
    name = str(req(s, "name", f"parser '{pname}'"))
    where = f"parse state '{name}' of parser '{pname}'"
    ops = tuple(_parse_op(o, where) for o in as_list(s.get("parser_ops"), where))
    key: list[Union[FieldRef, StackFieldRef, Lookahead]] = []
    for k in as_list(s.get("transition_key"), where):
        t = req(k, "type", where)
        v = k.get("value")
        if t == "lookahead":
            key.append(Lookahead(int(v[0]), int(v[1])))
        elif t in ("field", "stack_field"):
            e = parse_expression(k, where)
            assert isinstance(e, (FieldRef, StackFieldRef))
            key.append(e)
        elif t == "union_stack_field":
            raise UnsupportedConstruct(
                f"unsupported transition key type 'union_stack_field' in {where}"
            )
        else:
            raise InvalidProgram(f"{where}: invalid transition key type '{t}'")
    trans: list[Transition] = []
    for tr in as_list(s.get("transitions"), where):
        t = tr.get("type", "hexstr")
        val = tr.get("value")
        if t == "hexstr" and val == "default":
            t = "default"
        nxt = tr.get("next_state")
        nxt = None if nxt is None else str(nxt)
        if t == "default":
            trans.append(Transition("default", None, None, None, nxt))
        elif t == "hexstr":
            m = tr.get("mask")
            trans.append(
                Transition(
                    "hexstr",
                    parse_hexstr(val, where),
                    None if m is None else parse_hexstr(m, where),
                    None,
                    nxt,
                )
            )
            _ = hexstr_nbytes(val)
        elif t == "parse_vset":
            m = tr.get("mask")
            trans.append(
                Transition(
                    "parse_vset", None, None if m is None else parse_hexstr(m, where), str(val), nxt
                )
            )
        else:
            raise UnsupportedConstruct(f"unsupported transition type '{t}' in {where}")
    return ParseState(name, int(req(s, "id", where)), ops, tuple(key), tuple(trans))


def load_parsers(root: JSON) -> dict[str, Parser]:
    """Parse ``parsers``."""
    out: dict[str, Parser] = {}
    for p in as_list(root.get("parsers"), "parsers"):
        name = str(req(p, "name", "parsers"))
        states: dict[str, ParseState] = {}
        for s in as_list(p.get("parse_states"), f"parser '{name}'"):
            st = _parse_state(s, name)
            if st.name in states:
                raise InvalidProgram(f"parser '{name}': duplicate parse state '{st.name}'")
            states[st.name] = st
        init = p.get("init_state")
        for st in states.values():
            for tr in st.transitions:
                if tr.next_state is not None and tr.next_state not in states:
                    raise InvalidProgram(
                        f"parse state '{st.name}': unknown next state '{tr.next_state}'"
                    )
        if init is not None and init not in states:
            raise InvalidProgram(f"parser '{name}': unknown init state '{init}'")
        out[name] = Parser(name, int(req(p, "id", f"parser '{name}'")), init, states)
    return out
