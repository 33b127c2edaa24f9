"""bmv2 JSON (p4c-bm2-ss, v1model) loader: JSON -> typed, validated program model.

One module per JSON section; :func:`load_json` checks the format version and refuses
what the engine cannot execute (:class:`UnsupportedConstruct`).
"""

from __future__ import annotations

from .errors import (
    DuplicateEntry,
    EngineError,
    EntryNotFound,
    InvalidEntry,
    InvalidProgram,
    TableFull,
    UnsupportedConstruct,
)
from .program import MAX_MINOR, SUPPORTED_MAJOR, ProgramModel, load_json

__all__ = [
    "DuplicateEntry",
    "EngineError",
    "EntryNotFound",
    "InvalidEntry",
    "InvalidProgram",
    "TableFull",
    "UnsupportedConstruct",
    "MAX_MINOR",
    "SUPPORTED_MAJOR",
    "ProgramModel",
    "load_json",
]
