"""Packet-in / packet-out on the StreamChannel of the softswitch P4Runtime server."""

from __future__ import annotations

import asyncio

import pytest
from finsy.proto import p4r, rpc_code
from test_softswitch_server_support import (
    CPU_PORT,
    INSERT,
    controller,
    fake_switch,
    fwd_entry,
    memory_ports,
    primary_with_pipeline,
    update,
)

FRAME = bytes.fromhex("ffffffffffff0200000000010800") + b"payload"


def packet_out(port: int, payload: bytes = FRAME) -> p4r.StreamMessageRequest:
    metadata = [
        p4r.PacketMetadata(metadata_id=1, value=port.to_bytes(2, "big")),
        p4r.PacketMetadata(metadata_id=2, value=b"\x00"),
    ]
    return p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=payload, metadata=metadata))


async def test_packet_out_prepends_header_and_goes_out_of_the_port() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.client.send(packet_out(3))
        ports = memory_ports(switch)
        for _ in range(100):
            await switch.settle()
            if sent := ports.take(3):
                break
            await asyncio.sleep(0.01)
        assert sent == [FRAME]


async def test_packet_in_strips_header_into_metadata() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(2)))
        memory_ports(switch).inject(2, FRAME)
        await switch.settle()
        message = await ctl.receive("packet")
        assert message.packet.payload == FRAME
        assert list(message.packet.metadata) == [
            p4r.PacketMetadata(metadata_id=1, value=b"\x02"),
            p4r.PacketMetadata(metadata_id=2, value=b"\x00"),
        ]


async def test_packet_in_goes_to_the_primary_only() -> None:
    async with (
        fake_switch() as switch,
        primary_with_pipeline(switch) as primary,
        controller(switch, 2) as backup,
    ):
        await primary.write(update(INSERT, table_entry=fwd_entry(2)))
        memory_ports(switch).inject(2, FRAME)
        await switch.settle()
        assert (await primary.receive("packet")).packet.payload == FRAME
        with pytest.raises(TimeoutError):
            await backup.receive("packet", timeout=0.3)


async def test_backup_packet_out_is_refused_with_stream_error() -> None:
    async with (
        fake_switch() as switch,
        primary_with_pipeline(switch),
        controller(switch, 2) as backup,
    ):
        await backup.client.send(packet_out(3))
        error = (await backup.receive("error")).error
        assert error.canonical_code == rpc_code.PERMISSION_DENIED
        assert error.packet_out.packet_out.payload == FRAME
        await switch.settle()
        assert memory_ports(switch).take(3) == []


@pytest.mark.parametrize(
    "metadata",
    [
        [p4r.PacketMetadata(metadata_id=1, value=b"\x03")],
        [
            p4r.PacketMetadata(metadata_id=1, value=b"\x03"),
            p4r.PacketMetadata(metadata_id=9, value=b"\x00"),
        ],
        [
            p4r.PacketMetadata(metadata_id=1, value=b"\x02\x00"),
            p4r.PacketMetadata(metadata_id=2, value=b"\x00"),
        ],
        [
            p4r.PacketMetadata(metadata_id=1, value=b"\x03"),
            p4r.PacketMetadata(metadata_id=1, value=b"\x03"),
            p4r.PacketMetadata(metadata_id=2, value=b"\x00"),
        ],
    ],
)
async def test_bad_packet_out_metadata_is_invalid_argument(
    metadata: list[p4r.PacketMetadata],
) -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        message = p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=FRAME, metadata=metadata))
        await ctl.client.send(message)
        assert (await ctl.receive("error")).error.canonical_code == rpc_code.INVALID_ARGUMENT


async def test_packet_out_without_pipeline_or_cpu_port_is_failed_precondition() -> None:
    async with fake_switch() as switch, controller(switch, 1) as ctl:
        await ctl.client.send(packet_out(3))
        assert (await ctl.receive("error")).error.canonical_code == rpc_code.FAILED_PRECONDITION
    async with fake_switch(cpu_port=None) as switch, primary_with_pipeline(switch) as ctl:
        await ctl.client.send(packet_out(3))
        assert (await ctl.receive("error")).error.canonical_code == rpc_code.FAILED_PRECONDITION


async def test_unsupported_stream_message_gets_an_error() -> None:
    async with fake_switch() as switch, controller(switch, 1) as ctl:
        await ctl.client.send(p4r.StreamMessageRequest(digest_ack=p4r.DigestListAck(digest_id=1)))
        error = (await ctl.receive("error")).error
        assert error.canonical_code == rpc_code.UNIMPLEMENTED
        assert error.HasField("other")


async def test_data_plane_forwarding_and_multicast() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        ports = memory_ports(switch)
        ports.inject(1, FRAME)
        ports.inject(3, FRAME)  # no entry: dropped
        await switch.settle()
        assert ports.take_all() == {2: [FRAME]}
        assert CPU_PORT not in ports.numbers
