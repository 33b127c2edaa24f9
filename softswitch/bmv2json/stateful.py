"""The ``counter_arrays``, ``register_arrays`` and ``meter_arrays`` sections."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .common import JSON, as_list, req
from .errors import InvalidProgram, UnsupportedConstruct

logger = logging.getLogger(__name__)

__all__ = [
    "CounterArray",
    "RegisterArray",
    "load_counter_arrays",
    "load_register_arrays",
    "check_no_meters",
]


@dataclass(frozen=True, slots=True)
class CounterArray:
    """A counter array; ``binding`` is the table of a direct counter."""

    name: str
    id: int
    size: int
    is_direct: bool
    binding: str | None


@dataclass(frozen=True, slots=True)
class RegisterArray:
    """A register array of ``size`` cells of ``bitwidth`` bits."""

    name: str
    id: int
    size: int
    bitwidth: int


def load_counter_arrays(root: JSON) -> dict[str, CounterArray]:
    """Parse ``counter_arrays``."""
    out: dict[str, CounterArray] = {}
    for c in as_list(root.get("counter_arrays"), "counter_arrays"):
        name = str(req(c, "name", "counter_arrays"))
        where = f"counter array '{name}'"
        direct = bool(c.get("is_direct", False))
        binding = c.get("binding") if direct else None
        if direct and not isinstance(binding, str):
            raise InvalidProgram(f"{where}: direct counter without binding")
        size = int(c.get("size", 0) or 0)
        if size < 0:
            raise InvalidProgram(f"{where}: negative size")
        out[name] = CounterArray(name, int(req(c, "id", where)), size, direct, binding)
    return out


def load_register_arrays(root: JSON) -> dict[str, RegisterArray]:
    """Parse ``register_arrays``."""
    out: dict[str, RegisterArray] = {}
    for r in as_list(root.get("register_arrays"), "register_arrays"):
        name = str(req(r, "name", "register_arrays"))
        where = f"register array '{name}'"
        size = int(req(r, "size", where))
        bw = int(req(r, "bitwidth", where))
        if size < 0 or bw <= 0:
            raise InvalidProgram(f"{where}: invalid size or bitwidth")
        out[name] = RegisterArray(name, int(req(r, "id", where)), size, bw)
    return out


def check_no_meters(root: JSON) -> None:
    """Meters are not implemented: refuse any declared meter array."""
    m = as_list(root.get("meter_arrays"), "meter_arrays")
    if m:
        raise UnsupportedConstruct(
            f"unsupported construct: meter array '{req(m[0], 'name', 'meter_arrays')}'"
        )
