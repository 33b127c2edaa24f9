"""The ``errors`` section (P4 ``error`` constants) and ``enums``."""

from __future__ import annotations

import logging

from .common import JSON, as_list
from .errors import InvalidProgram

logger = logging.getLogger(__name__)

__all__ = ["CORE_ERRORS", "load_errors"]

#: Core errors in the order bmv2 adds the missing ones (ErrorCodeMap::add_core).
CORE_ERRORS = (
    "NoError",
    "PacketTooShort",
    "NoMatch",
    "StackOutOfBounds",
    "HeaderTooShort",
    "ParserTimeout",
    "ParserInvalidArgument",
)


def load_errors(root: JSON) -> dict[str, int]:
    """Map error name -> value; core errors missing from the JSON get max+1, max+2, ... like bmv2."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for e in as_list(root.get("errors"), "errors"):
        if not (isinstance(e, list) and len(e) == 2 and isinstance(e[1], int)):
            raise InvalidProgram(f"malformed error entry {e!r}")
        name, v = str(e[0]), int(e[1])
        if name in out or v in used:
            raise InvalidProgram(f"duplicate error '{name}' / value {v}")
        out[name] = v
        used.add(v)
    nxt = (max(used) + 1) if used else 0
    for name in CORE_ERRORS:
        if name not in out:
            out[name] = nxt
            nxt += 1
    return out
