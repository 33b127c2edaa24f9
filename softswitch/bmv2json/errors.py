"""Exceptions shared by the bmv2 JSON loader and the packet engine.

They are defined here (the lowest layer) and re-exported by :mod:`softswitch.engine`,
which is the public home named in the engine API contract.
"""

from __future__ import annotations

__all__ = [
    "EngineError",
    "UnsupportedConstruct",
    "InvalidProgram",
    "DuplicateEntry",
    "EntryNotFound",
    "TableFull",
    "InvalidEntry",
]


class EngineError(Exception):
    """Base class of every error raised by the loader and the engine."""


class UnsupportedConstruct(EngineError):
    """The program uses something the engine cannot execute; the message names it."""


class InvalidProgram(EngineError):
    """The JSON is malformed or inconsistent (dangling reference, bad width, ...)."""


class DuplicateEntry(EngineError):
    """An entry with the same match key (and priority) already exists."""


class EntryNotFound(EngineError):
    """No entry (or multicast group) with that identity exists."""


class TableFull(EngineError):
    """The table (or value set) already holds its maximum number of entries."""


class InvalidEntry(EngineError):
    """An entry, default action or member is not acceptable for the object."""
