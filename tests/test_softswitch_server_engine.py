"""The softswitch server with the real engine: forwarding, packet I/O, counters, multicast,
UDP ports end to end, and a finsy high-level ``Switch`` as the controller."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import finsy as fy
import pytest
from finsy import P4ClientError
from finsy.proto import p4i, p4r
from test_softswitch_server_realprog import (
    A_FLOOD,
    A_SET_PORT,
    A_TO_CPU,
    C_PORT,
    CPU_PORT,
    P4INFO_TEXT,
    T_FWD,
    config,
    program,
)
from test_softswitch_server_support import (
    INSERT,
    MODIFY,
    Controller,
    action,
    canonical,
    exact,
    update,
)

from softswitch.ports import MemoryPorts, UdpPort, UdpSpec, open_ports
from softswitch.server import SoftSwitch

pytest.importorskip("softswitch.engine")

FRAME = bytes.fromhex("ffffffffffff0200000000010800") + b"hello"


def fwd(in_port: int, table_action: p4r.TableAction) -> p4r.TableEntry:
    return p4r.TableEntry(table_id=T_FWD, match=[exact(1, canonical(in_port))], action=table_action)


@asynccontextmanager
async def engine_switch(
    ports: list[int] | None = None,
) -> AsyncIterator[tuple[SoftSwitch, Controller]]:
    """A SoftSwitch on the real engine with in-memory ports and a primary that pushed the program."""
    async with SoftSwitch(
        ports=MemoryPorts(ports or [1, 2, 3]), cpu_port=CPU_PORT, grpc_addr="127.0.0.1:0"
    ) as switch:
        ctl = Controller(switch, 1)
        await ctl.open()
        try:
            await ctl.arbitrate()
            await ctl.set_pipeline(config())
            yield switch, ctl
        finally:
            await ctl.close()


def memory(switch: SoftSwitch) -> MemoryPorts:
    assert isinstance(switch.ports, MemoryPorts)
    return switch.ports


async def test_unicast_forwarding_and_counters() -> None:
    async with engine_switch() as (switch, ctl):
        await ctl.write(update(INSERT, table_entry=fwd(1, action(A_SET_PORT, b"\x02"))))
        memory(switch).inject(1, FRAME)
        memory(switch).inject(3, FRAME)  # no entry: default NoAction, egress_spec 0: dropped
        await switch.settle()
        assert memory(switch).take_all() == {2: [FRAME]}
        query = p4r.TableEntry(table_id=T_FWD, counter_data=p4r.CounterData())
        [entry] = await ctl.read(p4r.Entity(table_entry=query))
        assert entry.table_entry.counter_data == p4r.CounterData(
            packet_count=1, byte_count=len(FRAME)
        )
        cell = p4r.CounterEntry(counter_id=C_PORT, index=p4r.Index(index=3))
        [counted] = await ctl.read(p4r.Entity(counter_entry=cell))
        assert counted.counter_entry.data.packet_count == 1


async def test_packet_in_and_packet_out() -> None:
    async with engine_switch() as (switch, ctl):
        await ctl.write(update(INSERT, table_entry=fwd(2, action(A_TO_CPU))))
        memory(switch).inject(2, FRAME)
        await switch.settle()
        packet_in = (await ctl.receive("packet")).packet
        assert packet_in.payload == FRAME
        assert packet_in.metadata[0] == p4r.PacketMetadata(metadata_id=1, value=b"\x02")

        metadata = [
            p4r.PacketMetadata(metadata_id=1, value=b"\x03"),
            p4r.PacketMetadata(metadata_id=2, value=b"\x00"),
        ]
        await ctl.client.send(
            p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=FRAME, metadata=metadata))
        )
        for _ in range(100):
            await switch.settle()
            if sent := memory(switch).take(3):
                break
            await asyncio.sleep(0.01)
        assert sent == [FRAME]


async def test_multicast_group_replicates() -> None:
    async with engine_switch() as (switch, ctl):
        group = p4r.MulticastGroupEntry(multicast_group_id=7)
        group.replicas.add(port=b"\x02", instance=1)
        group.replicas.add(port=b"\x03", instance=2)
        await ctl.write(
            update(
                INSERT,
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    multicast_group_entry=group
                ),
            ),
            update(INSERT, table_entry=fwd(1, action(A_FLOOD, b"\x07"))),
        )
        memory(switch).inject(1, FRAME)
        await switch.settle()
        assert memory(switch).take_all() == {2: [FRAME], 3: [FRAME]}


async def test_modify_changes_forwarding_and_table_full() -> None:
    async with engine_switch() as (switch, ctl):
        await ctl.write(update(INSERT, table_entry=fwd(1, action(A_SET_PORT, b"\x02"))))
        await ctl.write(update(MODIFY, table_entry=fwd(1, action(A_SET_PORT, b"\x03"))))
        memory(switch).inject(1, FRAME)
        await switch.settle()
        assert memory(switch).take_all() == {3: [FRAME]}
        updates = [
            update(INSERT, table_entry=fwd(port, action(A_SET_PORT, b"\x01")))
            for port in range(2, 7)
        ]
        assert await ctl.write_errors(*updates) == {3: 8, 4: 8}  # RESOURCE_EXHAUSTED


async def test_initial_json_forwards_before_p4runtime_but_write_needs_p4info() -> None:
    async with SoftSwitch(
        ports=MemoryPorts([1, 2]),
        cpu_port=CPU_PORT,
        grpc_addr="127.0.0.1:0",
        program=json.dumps(program()).encode(),
    ) as switch:
        memory(switch).inject(1, FRAME)
        await switch.settle()
        assert memory(switch).take_all() == {}  # processed by the program: empty table, dropped
        assert switch.datapath.switch is not None
        ctl = Controller(switch, 1)
        await ctl.open()
        try:
            await ctl.arbitrate()
            with pytest.raises(P4ClientError) as info:
                await ctl.write(update(INSERT, table_entry=fwd(1, action(A_SET_PORT, b"\x02"))))
            assert info.value.code.name == "FAILED_PRECONDITION"
        finally:
            await ctl.close()


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


async def test_udp_ports_end_to_end() -> None:
    peer1, peer2 = _udp_socket(), _udp_socket()
    ports = open_ports(
        [
            UdpSpec(1, ("127.0.0.1", 0), peer1.getsockname()),
            UdpSpec(2, ("127.0.0.1", 0), peer2.getsockname()),
        ]
    )
    switch_side = {number: ports.port(number) for number in (1, 2)}
    assert all(isinstance(port, UdpPort) for port in switch_side.values())
    try:
        async with SoftSwitch(ports=ports, cpu_port=CPU_PORT, grpc_addr="127.0.0.1:0") as switch:
            ctl = Controller(switch, 1)
            await ctl.open()
            try:
                await ctl.arbitrate()
                await ctl.set_pipeline(config())
                await ctl.write(
                    update(INSERT, table_entry=fwd(1, action(A_SET_PORT, b"\x02"))),
                    update(INSERT, table_entry=fwd(2, action(A_TO_CPU))),
                )
                port1 = switch_side[1]
                port2 = switch_side[2]
                assert isinstance(port1, UdpPort) and isinstance(port2, UdpPort)
                peer1.sendto(FRAME, port1.local_address)
                data, source = await asyncio.to_thread(peer2.recvfrom, 2048)
                assert data == FRAME
                assert source == port2.local_address
                peer2.sendto(FRAME + b"!", port2.local_address)
                assert (await ctl.receive("packet")).packet.payload == FRAME + b"!"
            finally:
                await ctl.close()
    finally:
        peer1.close()
        peer2.close()


async def test_finsy_switch_pushes_pipeline_writes_and_reads(tmp_path: Path) -> None:
    p4info_path = tmp_path / "realprog.p4info.txtpb"
    p4info_path.write_text(P4INFO_TEXT)
    json_path = tmp_path / "realprog.json"
    json_path.write_text(json.dumps(program()))
    async with SoftSwitch(
        ports=MemoryPorts([1, 2]), cpu_port=CPU_PORT, grpc_addr="127.0.0.1:0"
    ) as switch:
        options = fy.SwitchOptions(p4info=p4info_path, p4blob=json_path, device_id=0)
        async with fy.Switch("sw", f"127.0.0.1:{switch.grpc_port}", options) as sw:
            assert sw.is_primary
            await sw.insert(
                [
                    fy.P4TableEntry(
                        "ingress.fwd",
                        match=fy.P4TableMatch({"standard_metadata.ingress_port": 1}),
                        action=fy.P4TableAction("ingress.set_port", port=2),
                    )
                ]
            )
            entries = [entry async for entry in sw.read(fy.P4TableEntry("ingress.fwd"))]
            assert len(entries) == 1
            assert entries[0].match_dict(sw.p4info) == {"ingress_port": "0x1"}
            assert entries[0].action == fy.P4TableAction("set_port", port=2)
            memory(switch).inject(1, FRAME)
            await switch.settle()
            assert memory(switch).take_all() == {2: [FRAME]}
            await sw.delete_all()
            assert [entry async for entry in sw.read(fy.P4TableEntry("ingress.fwd"))] == []


NVE_BUILD = Path(__file__).resolve().parent.parent / "p4src" / "build"


@pytest.mark.skipif(
    not (NVE_BUILD / "nve.json").exists() or not (NVE_BUILD / "nve.p4info.txtpb").exists(),
    reason="p4src/build/nve.json not built yet (needs p4c)",
)
async def test_nve_program_pushes_and_reads_back() -> None:
    from google.protobuf import text_format

    nve_config = p4r.ForwardingPipelineConfig(
        p4info=text_format.Parse((NVE_BUILD / "nve.p4info.txtpb").read_text(), p4i.P4Info()),
        p4_device_config=(NVE_BUILD / "nve.json").read_bytes(),
    )
    nve_config.cookie.cookie = 0x4E5645
    async with SoftSwitch(
        ports=MemoryPorts([1, 2]), cpu_port=255, grpc_addr="127.0.0.1:0"
    ) as switch:
        ctl = Controller(switch, 1)
        await ctl.open()
        try:
            await ctl.arbitrate()
            await ctl.set_pipeline(nve_config)
            reply = await ctl.client.request(p4r.GetForwardingPipelineConfigRequest())
            assert reply.config == nve_config
            defaults = await ctl.read(
                p4r.Entity(table_entry=p4r.TableEntry(is_default_action=True))
            )
            assert len(defaults) == len(nve_config.p4info.tables)
            await ctl.set_pipeline(
                nve_config, action=p4r.SetForwardingPipelineConfigRequest.RECONCILE_AND_COMMIT
            )
        finally:
            await ctl.close()
