"""The ``calculations`` section (named hash calculations used by checksums and hash())."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, as_list, parse_hexstr, req
from .errors import InvalidProgram

logger = logging.getLogger(__name__)

__all__ = ["CalcInput", "Calculation", "load_calculations"]


@dataclass(frozen=True, slots=True)
class CalcInput:
    """One input of a calculation.

    ``kind`` is 'field' (``value`` = (header, field)), 'hexstr' (``value`` = int, ``bitwidth``),
    'header' (``value`` = header name) or 'payload'.
    """

    kind: str
    value: object
    bitwidth: int = 0


@dataclass(frozen=True, slots=True)
class Calculation:
    """A named calculation: hash algorithm name and inputs (support decided by the engine)."""

    name: str
    id: int
    algo: str
    inputs: tuple[CalcInput, ...]


def load_calculations(root: JSON) -> dict[str, Calculation]:
    """Parse ``calculations``."""
    out: dict[str, Calculation] = {}
    for c in as_list(root.get("calculations"), "calculations"):
        name = str(req(c, "name", "calculations"))
        where = f"calculation '{name}'"
        inputs = []
        for i in as_list(c.get("input"), where):
            t = req(i, "type", where)
            v = i.get("value")
            if t == "field":
                if not (isinstance(v, list) and len(v) == 2):
                    raise InvalidProgram(f"{where}: malformed field input")
                inputs.append(CalcInput("field", (str(v[0]), str(v[1]))))
            elif t == "hexstr":
                bw = req(i, "bitwidth", where)
                inputs.append(CalcInput("hexstr", parse_hexstr(v, where), int(bw)))
            elif t == "header":
                inputs.append(CalcInput("header", str(v)))
            elif t == "payload":
                inputs.append(CalcInput("payload", None))
            else:
                raise InvalidProgram(f"{where}: unknown input type '{t}'")
        out[name] = Calculation(
            name, int(req(c, "id", where)), str(req(c, "algo", where)), tuple(inputs)
        )
    return out
