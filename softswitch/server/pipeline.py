"""A forwarding pipeline: the pushed config, its schema, its engine switch and extra state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from finsy.proto import p4i, p4r

from softswitch.server.engine_api import EngineModule, SwitchLike
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.schema import Schema, build_schema

LOGGER = logging.getLogger(__name__)

ResponseType = p4r.GetForwardingPipelineConfigRequest.ResponseType

EntryKey = tuple[str, tuple[Any, ...] | None, int]
"""``(table name, match, priority)`` of an entry; match None is the default entry."""


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What a client pushed with SetForwardingPipelineConfig."""

    p4info: p4i.P4Info
    device_config: bytes
    cookie: int | None

    @classmethod
    def from_proto(cls, config: p4r.ForwardingPipelineConfig) -> PipelineConfig:
        """Take P4Info, bmv2 JSON bytes and the optional cookie from the request."""
        cookie = config.cookie.cookie if config.HasField("cookie") else None
        return cls(config.p4info, config.p4_device_config, cookie)

    def to_proto(self, response_type: int) -> p4r.ForwardingPipelineConfig:
        """The config as returned by GetForwardingPipelineConfig for ``response_type``."""
        result = p4r.ForwardingPipelineConfig()
        if response_type in (ResponseType.ALL, ResponseType.P4INFO_AND_COOKIE):
            result.p4info.CopyFrom(self.p4info)
        if response_type in (ResponseType.ALL, ResponseType.DEVICE_CONFIG_AND_COOKIE):
            result.p4_device_config = self.device_config
        if self.cookie is not None:
            result.cookie.cookie = self.cookie
        return result


@dataclass(frozen=True, slots=True)
class EntryExtras:
    """Opaque table entry fields the engine does not store."""

    controller_metadata: int
    metadata: bytes


@dataclass(frozen=True, slots=True)
class GroupExtras:
    """Multicast group fields the engine does not store (for read-write symmetry)."""

    metadata: bytes
    port_as_bytes: bool


class Pipeline:
    """A realized pipeline: config, schema, engine switch, and P4Runtime-only entry state."""

    def __init__(self, config: PipelineConfig, schema: Schema, switch: SwitchLike) -> None:
        """Bundle a verified config with its schema and a fresh engine switch."""
        self.config = config
        self.schema = schema
        self.switch = switch
        self.entry_extras: dict[EntryKey, EntryExtras] = {}
        self.group_extras: dict[int, GroupExtras] = {}


def load_program(engine: EngineModule, device_config: bytes | str | dict[str, Any]) -> Any:
    """Load a bmv2 JSON program; anything the engine cannot run is INVALID_ARGUMENT."""
    try:
        return engine.load_program(device_config)
    except engine.UnsupportedConstruct as exc:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"cannot realize pipeline: {exc}") from exc
    except (engine.EngineError, ValueError, KeyError, TypeError) as exc:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"invalid device config: {exc}") from exc


def realize(engine: EngineModule, config: PipelineConfig, cpu_port: int | None) -> Pipeline:
    """Verify ``config`` and build a pipeline with a new engine switch (not yet forwarding)."""
    if not config.device_config:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, "p4_device_config (bmv2 JSON) is empty")
    program = load_program(engine, config.device_config)
    schema = build_schema(config.p4info, program)
    switch: SwitchLike = engine.Switch(program, cpu_port=cpu_port)
    LOGGER.info(
        "pipeline verified: %d tables, %d actions, cookie %s",
        len(schema.tables),
        len(schema.actions),
        config.cookie,
    )
    return Pipeline(config, schema, switch)
