"""Protobuf dumps of P4Runtime messages, at DEBUG level, only when NVE_DEBUG_P4RT=1."""

from __future__ import annotations

import logging
import os

from google.protobuf import text_format
from google.protobuf.message import Message

LOG = logging.getLogger(__name__)

ENV_VAR = "NVE_DEBUG_P4RT"


def enabled() -> bool:
    """True when protobuf dumps are switched on (env NVE_DEBUG_P4RT=1) and DEBUG is on."""
    return os.environ.get(ENV_VAR) == "1" and LOG.isEnabledFor(logging.DEBUG)


def dump(direction: str, msg: Message) -> None:
    """Log `msg` in text format, tagged with `direction` ("send"/"recv")."""
    if enabled():
        LOG.debug("%s %s\n%s", direction, type(msg).__name__, text_format.MessageToString(msg))
