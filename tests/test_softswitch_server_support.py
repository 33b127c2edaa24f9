"""Shared helpers for the softswitch server tests: a test pipeline and a P4Runtime client.

``FAKE_P4INFO`` + ``FAKE_PROGRAM`` describe the same small program; the program is in the
format of the fake engine (``test_softswitch_server_fakeengine``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import test_softswitch_server_fakeengine as fake_engine
from finsy import P4Client, P4ClientError
from finsy.proto import U128, p4i, p4r
from google.protobuf import text_format

# The ids and P4Info parts both test programs share (the server tests import them from here).
from test_softswitch_server_realprog import (  # noqa: F401
    A_DROP,
    A_FLOOD,
    A_NOACTION,
    A_SET_PORT,
    A_TO_CPU,
    C_PORT,
    CPM_IN,
    CPM_OUT,
    CPU_PORT,
    DC_FWD,
    SHARED_P4INFO_TEXT,
    T_FWD,
)

from softswitch.ports import MemoryPorts
from softswitch.server import SoftSwitch
from softswitch.server.engine_api import EngineModule

FAKE_ENGINE: EngineModule = fake_engine  # type: ignore[assignment]
DATA_PORTS = (1, 2, 3, 4)

T_ACL, T_ROUTES, T_CONST = 0x02000002, 0x02000003, 0x02000004
VS_TPIDS = 0x03000001

FAKE_P4INFO_TEXT = f"""
pkg_info {{ arch: "v1model" }}
tables {{
  preamble {{ id: {T_FWD} name: "ingress.fwd" alias: "fwd" }}
  match_fields {{ id: 1 name: "standard_metadata.ingress_port" bitwidth: 9 match_type: EXACT }}
  action_refs {{ id: {A_SET_PORT} }}
  action_refs {{ id: {A_TO_CPU} }}
  action_refs {{ id: {A_FLOOD} }}
  action_refs {{ id: {A_DROP} }}
  action_refs {{ id: {A_NOACTION} scope: DEFAULT_ONLY }}
  direct_resource_ids: {DC_FWD}
  size: 4
}}
tables {{
  preamble {{ id: {T_ACL} name: "ingress.acl" alias: "acl" }}
  match_fields {{ id: 1 name: "hdr.ethernet.dst_addr" bitwidth: 48 match_type: TERNARY }}
  match_fields {{ id: 2 name: "hdr.ethernet.ether_type" bitwidth: 16 match_type: RANGE }}
  match_fields {{ id: 3 name: "hdr.vlan.vid" bitwidth: 12 match_type: OPTIONAL }}
  action_refs {{ id: {A_DROP} }}
  action_refs {{ id: {A_NOACTION} }}
  size: 16
}}
tables {{
  preamble {{ id: {T_ROUTES} name: "ingress.routes" alias: "routes" }}
  match_fields {{ id: 1 name: "hdr.ipv4.dst_addr" bitwidth: 32 match_type: LPM }}
  action_refs {{ id: {A_SET_PORT} scope: TABLE_ONLY }}
  action_refs {{ id: {A_DROP} }}
  size: 8
}}
tables {{
  preamble {{ id: {T_CONST} name: "ingress.const_tbl" alias: "const_tbl" }}
  match_fields {{ id: 1 name: "meta.code" bitwidth: 8 match_type: EXACT }}
  action_refs {{ id: {A_NOACTION} }}
  action_refs {{ id: {A_DROP} }}
  const_default_action_id: {A_NOACTION}
  is_const_table: true
  has_initial_entries: true
  size: 2
}}
value_sets {{
  preamble {{ id: {VS_TPIDS} name: "parser.tpids" alias: "tpids" }}
  match {{ id: 1 name: "ether_type" bitwidth: 16 match_type: EXACT }}
  size: 2
}}
""" + SHARED_P4INFO_TEXT

FAKE_PROGRAM = {
    "fake_program": {
        "actions": [
            {"name": "NoAction", "params": []},
            {"name": "ingress.set_port", "params": [["port", 9]]},
            {"name": "ingress.to_cpu", "params": []},
            {"name": "ingress.flood", "params": [["group", 16]]},
            {"name": "ingress.drop", "params": []},
        ],
        "tables": [
            {
                "name": "ingress.fwd",
                "keys": [["exact", 9]],
                "actions": [
                    "ingress.set_port",
                    "ingress.to_cpu",
                    "ingress.flood",
                    "ingress.drop",
                    "NoAction",
                ],
                "size": 4,
                "direct_counter": "ingress.fwd_counter",
            },
            {
                "name": "ingress.acl",
                "keys": [["ternary", 48], ["range", 16], ["optional", 12]],
                "actions": ["ingress.drop", "NoAction"],
                "size": 16,
            },
            {
                "name": "ingress.routes",
                "keys": [["lpm", 32]],
                "actions": ["ingress.set_port", "ingress.drop"],
                "size": 8,
                "default_action": "ingress.drop",
            },
            {
                "name": "ingress.const_tbl",
                "keys": [["exact", 8]],
                "actions": ["NoAction", "ingress.drop"],
                "size": 2,
                "default_is_const": True,
                "const_entries": [[[1], "ingress.drop"]],
            },
        ],
        "counters": [
            {"name": "ingress.port_counter", "size": 16},
            {"name": "ingress.fwd_counter", "size": 4, "direct_table": "ingress.fwd"},
        ],
        "value_sets": [{"name": "parser.tpids", "bitwidths": [16], "size": 2}],
    }
}


def fake_p4info() -> p4i.P4Info:
    """The P4Info of the fake test program."""
    return text_format.Parse(FAKE_P4INFO_TEXT, p4i.P4Info())


def fake_config(cookie: int | None = 7) -> p4r.ForwardingPipelineConfig:
    """The fake program as a ForwardingPipelineConfig."""
    config = p4r.ForwardingPipelineConfig(
        p4info=fake_p4info(), p4_device_config=json.dumps(FAKE_PROGRAM).encode()
    )
    if cookie is not None:
        config.cookie.cookie = cookie
    return config


@asynccontextmanager
async def fake_switch(
    ports: Sequence[int] = DATA_PORTS, cpu_port: int | None = CPU_PORT
) -> AsyncIterator[SoftSwitch]:
    """A SoftSwitch with the fake engine, in-memory ports and a free loopback gRPC port."""
    switch = SoftSwitch(
        ports=MemoryPorts(list(ports)),
        cpu_port=cpu_port,
        grpc_addr="127.0.0.1:0",
        engine=FAKE_ENGINE,
    )
    async with switch:
        yield switch


def memory_ports(switch: SoftSwitch) -> MemoryPorts:
    """The in-memory ports of a test switch."""
    assert isinstance(switch.ports, MemoryPorts)
    return switch.ports


class Controller:
    """A test P4Runtime controller: a finsy P4Client plus a few helpers."""

    def __init__(self, switch: SoftSwitch, election_id: int | None = 1, device_id: int = 0) -> None:
        self.client = P4Client(f"127.0.0.1:{switch.grpc_port}", wait_for_ready=False)
        self.election_id = election_id
        self.device_id = device_id

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def arbitrate(self, election_id: int | None = None) -> p4r.MasterArbitrationUpdate:
        """Send a MasterArbitrationUpdate and return the switch's answer."""
        if election_id is not None:
            self.election_id = election_id
        update = p4r.MasterArbitrationUpdate(device_id=self.device_id)
        if self.election_id is not None:
            update.election_id.CopyFrom(U128.encode(self.election_id))
        await self.client.send(p4r.StreamMessageRequest(arbitration=update))
        return (await self.receive("arbitration")).arbitration

    async def receive(self, kind: str, timeout: float = 5.0) -> p4r.StreamMessageResponse:
        """The next stream message of ``kind`` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.client.receive()
                if message.WhichOneof("update") == kind:
                    return message

    async def set_pipeline(
        self,
        config: p4r.ForwardingPipelineConfig | None = None,
        action: int = p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
    ) -> None:
        request = p4r.SetForwardingPipelineConfigRequest(
            device_id=self.device_id,
            action=action,
            config=config if config is not None else fake_config(),
        )
        if action == p4r.SetForwardingPipelineConfigRequest.COMMIT and config is None:
            request.ClearField("config")
        if self.election_id is not None:
            request.election_id.CopyFrom(U128.encode(self.election_id))
        await self.client.request(request)

    async def write(
        self,
        *updates: p4r.Update,
        atomicity: int = p4r.WriteRequest.CONTINUE_ON_ERROR,
    ) -> None:
        request = p4r.WriteRequest(device_id=self.device_id, updates=updates, atomicity=atomicity)
        if self.election_id is not None:
            request.election_id.CopyFrom(U128.encode(self.election_id))
        await self.client.request(request)

    async def write_errors(self, *updates: p4r.Update, **kwargs: int) -> dict[int, int]:
        """Write expecting failure; returns {update index: canonical code} of failed updates."""
        try:
            await self.write(*updates, **kwargs)
        except P4ClientError as exc:
            assert exc.code.name == "UNKNOWN", exc
            return {index: error.canonical_code.value for index, error in exc.details.items()}
        raise AssertionError("write succeeded")

    async def read(self, *entities: p4r.Entity) -> list[p4r.Entity]:
        request = p4r.ReadRequest(device_id=self.device_id, entities=entities)
        result: list[p4r.Entity] = []
        async for response in self.client.request_iter(request):
            result.extend(response.entities)
        return result


@asynccontextmanager
async def controller(
    switch: SoftSwitch, election_id: int | None = 1, *, arbitrate: bool = True
) -> AsyncIterator[Controller]:
    """An open controller, by default arbitrated with ``election_id``."""
    ctl = Controller(switch, election_id)
    await ctl.open()
    try:
        if arbitrate:
            await ctl.arbitrate()
        yield ctl
    finally:
        await ctl.close()


@asynccontextmanager
async def primary_with_pipeline(switch: SoftSwitch) -> AsyncIterator[Controller]:
    """A primary controller that has pushed the fake pipeline."""
    async with controller(switch, 10) as ctl:
        await ctl.set_pipeline()
        yield ctl


def update(kind: int, **entity: object) -> p4r.Update:
    """An Update of ``kind`` (p4r.Update.INSERT...) for one entity (table_entry=...)."""
    return p4r.Update(type=kind, entity=p4r.Entity(**entity))  # type: ignore[arg-type]


def canonical(value: int) -> bytes:
    """The canonical P4Runtime bytestring of ``value``."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def exact(field_id: int, value: bytes) -> p4r.FieldMatch:
    return p4r.FieldMatch(field_id=field_id, exact=p4r.FieldMatch.Exact(value=value))


def action(action_id: int, *params: bytes) -> p4r.TableAction:
    return p4r.TableAction(
        action=p4r.Action(
            action_id=action_id,
            params=[p4r.Action.Param(param_id=i + 1, value=v) for i, v in enumerate(params)],
        )
    )


def fwd_entry(in_port: int, out_port: int | None = None, **kwargs: object) -> p4r.TableEntry:
    """An ``ingress.fwd`` entry: set_port(out_port), or to_cpu when out_port is None."""
    table_action = action(A_TO_CPU) if out_port is None else action(A_SET_PORT, canonical(out_port))
    return p4r.TableEntry(
        table_id=T_FWD,
        match=[exact(1, canonical(in_port))],
        action=table_action,
        **kwargs,  # type: ignore[arg-type]
    )


INSERT, MODIFY, DELETE = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE
