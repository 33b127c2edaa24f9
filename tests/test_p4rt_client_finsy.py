"""P4RuntimeClient against the P4Runtime test server that ships with finsy.

finsy's server answers arbitration with OK (we are primary), sends a PacketIn
b"abcdef" half a second later, accepts every Write, reads nothing, has no
pipeline cookie, and aborts a second concurrent stream with UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from finsy.test.p4runtime_server import P4RuntimeServer

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.debug import ENV_VAR
from controlplane.p4rt.entries import Entry, Exact, Update, WriteOp
from controlplane.p4rt.errors import P4ConnectionError, P4NameError, P4ValueError
from controlplane.p4rt.stream import PacketIn

MINI = Path(__file__).parent / "data" / "p4rt" / "mini.p4info.txtpb"
VAP = "Ing.vap"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server_addr() -> AsyncIterator[str]:
    addr = f"127.0.0.1:{free_port()}"
    async with P4RuntimeServer(addr).run():
        yield addr


def vap_entry(vid: int) -> Entry:
    return Entry(
        VAP,
        {"standard_metadata.ingress_port": Exact(1), "hdr.vlan.vid": Exact(vid)},
        "Ing.set_vap",
        {"vap_id": vid, "vni": 100},
    )


async def test_connect_arbitrates_as_primary_and_pushes_the_pipeline(server_addr: str) -> None:
    async with P4RuntimeClient() as client:
        await client.connect(server_addr, device_id=1, election_id=5)
        assert client.is_primary
        assert client.primary_election_id == 5
        assert await client.get_pipeline_cookie() is None
        assert await client.set_pipeline(MINI, None) is True
        assert client.schema.index.tables.lookup(VAP).name == VAP
    assert not client.is_primary


async def test_server_packet_in_is_yielded_with_decoded_metadata(server_addr: str) -> None:
    async with P4RuntimeClient() as client:
        await client.connect(server_addr, device_id=1, election_id=5)
        packets = client.packet_in()
        packet = await asyncio.wait_for(anext(packets), 5)
        assert packet == PacketIn(b"abcdef", {})


async def test_write_logs_one_info_line_per_batch_with_counts(
    server_addr: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controlplane.p4rt")
    async with P4RuntimeClient() as client:
        await client.connect(server_addr, device_id=1, election_id=5)
        await client.set_pipeline(MINI, None)
        await client.write_batches(
            [
                [Update(WriteOp.INSERT, vap_entry(1)), Update(WriteOp.INSERT, vap_entry(2))],
                [],
                [Update(WriteOp.DELETE, vap_entry(1)), Update(WriteOp.MODIFY, vap_entry(2))],
            ]
        )
    lines = [r.getMessage() for r in caplog.records if "write batch" in r.getMessage()]
    assert lines == [
        "device 1: write batch of 2 updates (INSERT 2, MODIFY 0, DELETE 0)",
        "device 1: write batch of 2 updates (INSERT 0, MODIFY 1, DELETE 1)",
    ]


async def test_an_invalid_update_in_any_batch_stops_everything_before_sending(
    server_addr: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controlplane.p4rt")
    async with P4RuntimeClient() as client:
        await client.connect(server_addr, device_id=1, election_id=5)
        await client.set_pipeline(MINI, None)
        good = [Update(WriteOp.INSERT, vap_entry(1))]
        with pytest.raises(P4ValueError, match="does not fit in bit<12>"):
            await client.write_batches([good, [Update(WriteOp.INSERT, vap_entry(4096))]])
        with pytest.raises(P4NameError, match=r"unknown table 'Ing\.nope'"):
            await client.write([*good, Update(WriteOp.INSERT, Entry("Ing.nope", {}, "a"))])
    assert not [r for r in caplog.records if "write batch" in r.getMessage()]


async def test_protobuf_dumps_only_with_the_debug_env_var(
    server_addr: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="controlplane.p4rt")
    async with P4RuntimeClient() as client:
        await client.connect(server_addr, device_id=1, election_id=5)
        await client.set_pipeline(MINI, None)
        await client.write([Update(WriteOp.INSERT, vap_entry(1))])
        assert not [r for r in caplog.records if "WriteRequest" in r.getMessage()]
        monkeypatch.setenv(ENV_VAR, "1")
        await client.write([Update(WriteOp.INSERT, vap_entry(2))])
    dumps = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("send WriteRequest")
    ]
    assert len(dumps) == 1
    assert "table_id: 33554433" in dumps[0]


async def test_operations_need_a_pipeline_and_a_connection(server_addr: str) -> None:
    client = P4RuntimeClient()
    with pytest.raises(P4ConnectionError, match="not connected"):
        await client.get_pipeline_cookie()
    async with client:
        await client.connect(server_addr, device_id=1, election_id=5)
        with pytest.raises(P4ValueError, match="call set_pipeline"):
            await client.read_table_entries()
        with pytest.raises(P4ConnectionError, match="already connected"):
            await client.connect(server_addr, device_id=1, election_id=6)


async def test_a_rejected_stream_fails_connect_with_the_reason(server_addr: str) -> None:
    async with P4RuntimeClient() as first, P4RuntimeClient() as second:
        await first.connect(server_addr, device_id=1, election_id=5)
        with pytest.raises(P4ConnectionError, match="UNIMPLEMENTED: Multiple clients"):
            await second.connect(server_addr, device_id=1, election_id=4)
        assert not second.is_primary
        assert first.is_primary


async def test_server_going_away_ends_packet_in_with_an_error_and_drops_primary() -> None:
    addr = f"127.0.0.1:{free_port()}"
    async with P4RuntimeClient() as client:
        async with P4RuntimeServer(addr).run():
            await client.connect(addr, device_id=1, election_id=5)
            await client.set_pipeline(MINI, None)
            packets = client.packet_in()
            assert (await asyncio.wait_for(anext(packets), 5)).payload == b"abcdef"
        with pytest.raises(P4ConnectionError, match="stream ended"):
            await asyncio.wait_for(anext(packets), 5)
        assert not client.is_primary
        assert client.stream_failure is not None
        with pytest.raises(P4ConnectionError, match="stream is down"):
            await client.packet_out(b"x", egress_port=1)


async def test_nothing_listening_fails_fast() -> None:
    async with P4RuntimeClient() as client:
        with pytest.raises(P4ConnectionError, match="UNAVAILABLE"):
            await asyncio.wait_for(
                client.connect(f"127.0.0.1:{free_port()}", device_id=1, election_id=1), 8
            )


async def test_close_ends_packet_in_iteration_cleanly(server_addr: str) -> None:
    client = P4RuntimeClient()
    await client.connect(server_addr, device_id=1, election_id=5)
    received: list[PacketIn] = []

    async def consume() -> None:
        async for packet in client.packet_in():
            received.append(packet)

    task = asyncio.create_task(consume())
    await asyncio.sleep(1.2)  # the server's packet arrives after 0.5 s
    await client.close()
    await asyncio.wait_for(task, 5)
    assert [p.payload for p in received] == [b"abcdef"]
