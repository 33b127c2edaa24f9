"""Errors raised by the P4Runtime client layer.

Validation errors (`P4NameError`, `P4ValueError`) are raised before anything is
sent to the device. `P4RuntimeRpcError` and its subclass `P4RuntimeWriteError`
report what the device answered; `P4ConnectionError` means the channel or the
stream is unusable.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import NamedTuple

from controlplane.errors import NveError


class P4NameError(NveError, LookupError):
    """A table, action, field, parameter, counter or metadata name is unknown."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], where: str = "") -> None:
        """Build the message naming the bad `name` and listing the `valid` names."""
        self.kind = kind
        self.name = name
        self.valid = tuple(sorted(valid))
        location = f" in {where}" if where else ""
        choices = ", ".join(repr(item) for item in self.valid) or "none"
        close = [item for item in self.valid if item.endswith(f".{name}")]
        close = close or difflib.get_close_matches(name, self.valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown {kind} {name!r}{location}{hint}; valid {kind} names: {choices}")

    def __str__(self) -> str:
        """Return the message (LookupError would otherwise repr() it)."""
        return str(self.args[0])


class P4ValueError(NveError, ValueError):
    """A value does not fit the P4Info (too wide, wrong match kind, bad priority...)."""


class P4ConnectionError(NveError, ConnectionError):
    """The gRPC channel or the P4Runtime stream is down, or arbitration failed."""


class P4RuntimeRpcError(NveError):
    """A P4Runtime RPC failed on the device side."""

    def __init__(self, operation: str, code_name: str, message: str) -> None:
        """Record the failed `operation` with its gRPC status `code_name` and `message`."""
        self.operation = operation
        self.code_name = code_name
        self.message = message
        super().__init__(f"{operation} failed: {code_name}: {message}")


class WriteFailure(NamedTuple):
    """One failed update of a Write batch."""

    update_index: int
    """Index of the update inside the batch that was sent."""
    code_name: str
    """gRPC canonical code name reported for that update, e.g. ``ALREADY_EXISTS``."""
    message: str
    """The device's message for that update."""
    entity_description: str
    """Human readable description of the entity that failed."""


class P4RuntimeWriteError(P4RuntimeRpcError):
    """A Write batch failed; `failures` lists every failed update.

    `failures` is empty only when the device rejected the batch as a whole
    without per-update details (e.g. PERMISSION_DENIED for a backup client).
    """

    def __init__(
        self,
        code_name: str,
        message: str,
        failures: list[WriteFailure],
        batch_size: int,
    ) -> None:
        """Record the batch-level status and the per-update `failures`."""
        super().__init__("Write", code_name, message)
        self.failures = failures
        self.batch_size = batch_size
        self.batch_index: int | None = None
        """Set by `write_batches`: index of the failed batch."""
        lines = [f"Write of {batch_size} updates failed: {code_name}: {message}"]
        lines += [
            f"  update[{f.update_index}] {f.code_name}: {f.message} -- {f.entity_description}"
            for f in failures
        ]
        self.args = ("\n".join(lines),)
