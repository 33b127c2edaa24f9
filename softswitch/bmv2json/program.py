"""Top-level loader: JSON document -> :class:`ProgramModel` (validated, nothing executed)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from .actions import Action, load_actions
from .calculations import Calculation, load_calculations
from .checksums import Checksum, load_checksums
from .common import JSON, FieldRef, as_list, req
from .deparsers import Deparser, load_deparsers
from .errors import InvalidProgram, UnsupportedConstruct
from .header_types import HeaderType, load_header_types
from .headers import HeaderInstance, HeaderStack, check_no_unions, load_header_stacks, load_headers
from .parse_vsets import ParseVSet, load_parse_vsets
from .parser_errors import load_errors
from .parsers import Parser, load_parsers
from .pipelines import Pipeline, load_pipelines
from .stateful import (
    CounterArray,
    RegisterArray,
    check_no_meters,
    load_counter_arrays,
    load_register_arrays,
)

logger = logging.getLogger(__name__)

__all__ = ["SUPPORTED_MAJOR", "MAX_MINOR", "ProgramModel", "load_json"]

SUPPORTED_MAJOR = 2
MAX_MINOR = 24  # bmv2 1.15.5 accepts up to 2.24


@dataclass(frozen=True, slots=True)
class ProgramModel:
    """Every section of a bmv2 JSON document, parsed and cross-checked."""

    version: tuple[int, int] | None
    header_types: dict[str, HeaderType]
    headers: dict[str, HeaderInstance]
    header_stacks: dict[str, HeaderStack]
    errors: dict[str, int]
    parsers: dict[str, Parser]
    parse_vsets: dict[str, ParseVSet]
    deparsers: dict[str, Deparser]
    actions: dict[int, Action]
    pipelines: dict[str, Pipeline]
    checksums: tuple[Checksum, ...]
    calculations: dict[str, Calculation]
    counter_arrays: dict[str, CounterArray]
    register_arrays: dict[str, RegisterArray]
    field_aliases: dict[str, FieldRef]


def _check_version(root: JSON) -> tuple[int, int] | None:
    meta = root.get("__meta__")
    if meta is None or "version" not in meta:
        logger.warning("bmv2 JSON has no __meta__.version; assuming a compatible 2.x format")
        return None
    v = meta["version"]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v)):
        raise InvalidProgram("__meta__.version must be a JSON array of 2 integers")
    major, minor = v
    if major != SUPPORTED_MAJOR:
        raise UnsupportedConstruct(
            f"unsupported bmv2 JSON format version {major}.{minor} (major version {SUPPORTED_MAJOR} required)"
        )
    if minor > MAX_MINOR:
        raise UnsupportedConstruct(
            f"unsupported bmv2 JSON format version {major}.{minor} (newest supported is {SUPPORTED_MAJOR}.{MAX_MINOR})"
        )
    return (major, minor)


def _refuse_nonempty(root: JSON, key: str, what: str) -> None:
    items = as_list(root.get(key), key)
    if items:
        first = items[0]
        label = first.get("name") if isinstance(first, dict) else first
        raise UnsupportedConstruct(f"unsupported construct: {what} '{label}'")


def load_json(source: str | bytes | dict) -> ProgramModel:
    """Parse a bmv2 JSON document (text, bytes or already-decoded dict) into a ProgramModel.

    Raises UnsupportedConstruct for constructs the engine does not implement and
    InvalidProgram for malformed input.
    """
    if isinstance(source, (str, bytes, bytearray)):
        try:
            root = json.loads(source)
        except ValueError as e:
            raise InvalidProgram(f"invalid JSON: {e}") from None
    else:
        root = source
    if not isinstance(root, dict):
        raise InvalidProgram("bmv2 JSON root must be an object")
    version = _check_version(root)
    check_no_unions(root)
    check_no_meters(root)
    _refuse_nonempty(root, "extern_instances", "extern instance")
    _refuse_nonempty(root, "learn_lists", "learn list (digest)")
    _refuse_nonempty(root, "field_lists", "field list (clone/resubmit/recirculate)")

    header_types = load_header_types(root)
    headers = load_headers(root, header_types)
    stacks = load_header_stacks(root, headers)
    aliases: dict[str, FieldRef] = {}
    for a in as_list(root.get("field_aliases"), "field_aliases"):
        if not (isinstance(a, list) and len(a) == 2 and isinstance(a[1], list) and len(a[1]) == 2):
            raise InvalidProgram(f"malformed field alias {a!r}")
        aliases[str(a[0])] = FieldRef(str(a[1][0]), str(a[1][1]))
    errors = load_errors(root)
    parsers = load_parsers(root)
    vsets = load_parse_vsets(root)
    deparsers = load_deparsers(root)
    calculations = load_calculations(root)
    counters = load_counter_arrays(root)
    registers = load_register_arrays(root)
    actions = load_actions(root)
    pipelines = load_pipelines(root, {i: a.name for i, a in actions.items()})
    checksums = load_checksums(root, set(calculations))
    for c in counters.values():
        if c.is_direct:
            if not any(c.binding in p.tables for p in pipelines.values()):
                raise InvalidProgram(
                    f"direct counter '{c.name}' bound to unknown table '{c.binding}'"
                )
    req(root, "pipelines", "bmv2 JSON")
    return ProgramModel(
        version=version,
        header_types=header_types,
        headers=headers,
        header_stacks=stacks,
        errors=errors,
        parsers=parsers,
        parse_vsets=vsets,
        deparsers=deparsers,
        actions=actions,
        pipelines=pipelines,
        checksums=tuple(checksums),
        calculations=calculations,
        counter_arrays=counters,
        register_arrays=registers,
        field_aliases=aliases,
    )
