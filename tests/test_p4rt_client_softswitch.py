"""P4RuntimeClient against the project's softswitch P4Runtime server (in-process).

The last test runs the real engine with the real NVE program (p4src/build/).

The switch runs the softswitch team's fake engine and test program (from
``test_softswitch_server_support``): table ``ingress.fwd`` (exact on the
ingress port, direct counter), ``ingress.acl`` (ternary/range/optional),
``ingress.routes`` (lpm), a const table, counter ``ingress.port_counter``
indexed by ingress port, and ``to_cpu`` sending a 2-byte packet_in header.
Everything below goes through the real gRPC service: arbitration, pipeline
cookie, Write errors, Read, multicast, counters and packet I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from controlplane.p4rt import p4names as P
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import (
    CounterValue,
    DefaultAction,
    Entry,
    Exact,
    Lpm,
    MulticastGroup,
    Optional,
    Range,
    Ternary,
    Update,
    WriteOp,
)
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeWriteError
from controlplane.p4rt.stream import PacketIn
from softswitch.ports import MemoryPorts
from softswitch.server import SoftSwitch

support = pytest.importorskip("test_softswitch_server_support")

FWD, ACL, ROUTES = "ingress.fwd", "ingress.acl", "ingress.routes"
IN_PORT = "standard_metadata.ingress_port"
BUILD = Path(__file__).parent.parent / "p4src" / "build"


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Path, Path]:
    p4info = tmp_path / "fake.p4info.txtpb"
    p4info.write_text(support.FAKE_P4INFO_TEXT)
    program = tmp_path / "fake.json"
    program.write_text(json.dumps(support.FAKE_PROGRAM))
    return p4info, program


@pytest.fixture
async def switch() -> AsyncIterator[object]:
    async with support.fake_switch() as sw:
        yield sw


@asynccontextmanager
async def connected(
    switch: object, pipeline: tuple[Path, Path] | None, election_id: int = 10
) -> AsyncIterator[P4RuntimeClient]:
    async with P4RuntimeClient() as client:
        await client.connect(f"127.0.0.1:{switch.grpc_port}", 0, election_id)  # type: ignore[attr-defined]
        if pipeline is not None:
            await client.set_pipeline(*pipeline)
        yield client


async def taken(switch: object, ports: object, port: int) -> list[bytes]:
    """Frames sent out of `port`, waiting up to 5 s for the first (a packet-out is async)."""
    for _ in range(250):
        await switch.settle()  # type: ignore[attr-defined]
        frames: list[bytes] = ports.take(port)  # type: ignore[attr-defined]
        if frames:
            return frames
        await asyncio.sleep(0.02)
    return []


def fwd(in_port: int, action: str = "ingress.set_port", /, **params: int) -> Entry:
    return Entry(FWD, {IN_PORT: Exact(in_port)}, action, params)


ACL_ENTRY = Entry(
    ACL,
    {
        "hdr.ethernet.dst_addr": Ternary(0x0A0000000000, 0xFF0000000000),
        "hdr.ethernet.ether_type": Range(0x0800, 0x08FF),
        "hdr.vlan.vid": Optional(42),
    },
    "ingress.drop",
    priority=7,
)
ACL_WILDCARDS = Entry(ACL, {}, "NoAction", priority=1)
ROUTE = Entry(ROUTES, {"hdr.ipv4.dst_addr": Lpm(0x0A010000, 16)}, "ingress.set_port", {"port": 3})


async def test_pipeline_is_pushed_once_and_a_restart_keeps_the_entries(
    switch: object, pipeline: tuple[Path, Path]
) -> None:
    async with connected(switch, None) as client:
        assert client.is_primary
        assert await client.get_pipeline_cookie() is None
        assert await client.set_pipeline(*pipeline) is True
        assert await client.get_pipeline_cookie() == client.schema.cookie
        await client.write([Update(WriteOp.INSERT, fwd(1, port=2))])
    async with connected(switch, None, election_id=11) as restarted:
        assert await restarted.set_pipeline(*pipeline) is False
        assert await restarted.read_table_entries(FWD) == [fwd(1, port=2)]
        assert await restarted.set_pipeline(*pipeline, force=True) is True
        assert await restarted.read_table_entries(FWD) == []


async def test_entries_of_every_match_kind_read_back_equal(
    switch: object, pipeline: tuple[Path, Path]
) -> None:
    desired = {fwd(1, port=2), fwd(2, "ingress.to_cpu"), ACL_ENTRY, ACL_WILDCARDS, ROUTE}
    async with connected(switch, pipeline) as client:
        await client.write([Update(WriteOp.INSERT, e) for e in sorted(desired, key=repr)])
        assert set(await client.read_table_entries()) == desired  # const entries left out
        assert sorted(await client.read_table_entries(ACL), key=repr) == sorted(
            [ACL_ENTRY, ACL_WILDCARDS], key=repr
        )


async def test_a_batch_reports_every_failed_update_and_applies_the_rest(
    switch: object, pipeline: tuple[Path, Path]
) -> None:
    async with connected(switch, pipeline) as client:
        await client.write([Update(WriteOp.INSERT, fwd(1, port=2))])
        batch = [
            Update(WriteOp.INSERT, fwd(1, port=3)),  # duplicate
            Update(WriteOp.INSERT, fwd(2, port=3)),  # fine
            Update(WriteOp.DELETE, fwd(3, port=3)),  # absent
            Update(WriteOp.MODIFY, fwd(1, "ingress.drop")),  # fine
        ]
        with pytest.raises(P4RuntimeWriteError) as info:
            await client.write(batch)
        err = info.value
        assert err.batch_size == 4
        assert [(f.update_index, f.code_name) for f in err.failures] == [
            (0, "ALREADY_EXISTS"),
            (2, "NOT_FOUND"),
        ]
        assert "('port', 3)" in err.failures[0].entity_description
        assert "update[2] NOT_FOUND" in str(err)
        assert set(await client.read_table_entries(FWD)) == {fwd(1, "ingress.drop"), fwd(2, port=3)}


async def test_write_batches_stops_at_the_failed_batch(
    switch: object, pipeline: tuple[Path, Path]
) -> None:
    async with connected(switch, pipeline) as client:
        batches = [
            [Update(WriteOp.INSERT, fwd(1, port=2))],
            [Update(WriteOp.INSERT, fwd(1, port=2))],
            [Update(WriteOp.INSERT, fwd(2, port=2))],
        ]
        with pytest.raises(P4RuntimeWriteError) as info:
            await client.write_batches(batches)
        assert info.value.batch_index == 1
        assert await client.read_table_entries(FWD) == [fwd(1, port=2)]


async def test_default_action_modify_and_read(switch: object, pipeline: tuple[Path, Path]) -> None:
    async with connected(switch, pipeline) as client:
        assert await client.read_default_entry(ROUTES) == DefaultAction(ROUTES, "ingress.drop")
        await client.write(
            [Update(WriteOp.MODIFY, DefaultAction(FWD, "ingress.flood", {"group": 9}))]
        )
        assert await client.read_default_entry(FWD) == DefaultAction(
            FWD, "ingress.flood", {"group": 9}
        )


async def test_multicast_group_lifecycle(switch: object, pipeline: tuple[Path, Path]) -> None:
    async with connected(switch, pipeline) as client:
        await client.insert_multicast_group(MulticastGroup(5, [(1, 1), (2, 2)]))
        await client.insert_multicast_group(MulticastGroup(6, [(3, 0)]))
        assert await client.read_multicast_groups(5) == [MulticastGroup(5, [(2, 2), (1, 1)])]
        await client.modify_multicast_group(MulticastGroup(5, [(4, 1)]))
        await client.delete_multicast_group(6)
        assert await client.read_multicast_groups() == [MulticastGroup(5, [(4, 1)])]
        with pytest.raises(P4RuntimeWriteError) as info:
            await client.delete_multicast_group(6)
        assert [f.code_name for f in info.value.failures] == ["NOT_FOUND"]


async def test_packet_io_and_counters(switch: object, pipeline: tuple[Path, Path]) -> None:
    ports = support.memory_ports(switch)
    frame = bytes(range(64))
    async with connected(switch, pipeline) as client:
        await client.write(
            [
                Update(WriteOp.INSERT, fwd(1, "ingress.to_cpu")),
                Update(WriteOp.INSERT, fwd(2, port=3)),
            ]
        )
        packets = client.packet_in()
        ports.inject(1, frame)
        assert await asyncio.wait_for(anext(packets), 5) == PacketIn(frame, {"ingress_port": 1})
        ports.inject(2, frame)
        ports.inject(2, frame)
        await client.packet_out(b"out-frame", egress_port=4)
        assert await taken(switch, ports, 4) == [b"out-frame"]
        assert ports.take(3) == [frame, frame]
        assert await client.read_counter("ingress.port_counter", 2) == {2: CounterValue(2, 128)}
        cells = await client.read_counter("ingress.port_counter")
        assert sorted(cells) == list(range(16)) and cells[1] == CounterValue(1, 64)
        assert await client.read_direct_counters(FWD) == {
            fwd(1, "ingress.to_cpu").key(): CounterValue(1, 64),
            fwd(2, port=3).key(): CounterValue(2, 128),
        }


async def test_backup_cannot_write_and_takes_over_when_the_primary_leaves(
    switch: object, pipeline: tuple[Path, Path]
) -> None:
    async with connected(switch, pipeline, election_id=10) as primary:
        async with connected(switch, None, election_id=5) as backup:
            assert primary.is_primary and not backup.is_primary
            assert (backup.arbitration_status, backup.primary_election_id) == ("ALREADY_EXISTS", 10)
            assert await backup.set_pipeline(*pipeline) is False  # cookie matches: no push
            with pytest.raises(P4RuntimeWriteError) as info:
                await backup.write([Update(WriteOp.INSERT, fwd(1, port=2))])
            assert info.value.code_name == "PERMISSION_DENIED" and info.value.failures == []
            await backup.packet_out(b"x", egress_port=1)
            await primary.close()
            for _ in range(100):
                if backup.arbitration_status == "NOT_FOUND":
                    break
                await asyncio.sleep(0.02)
            assert backup.arbitration_status == "NOT_FOUND" and not backup.is_primary
            assert await backup.arbitrate(11) is True
            await backup.write([Update(WriteOp.INSERT, fwd(1, port=2))])
            assert [(e.kind, e.code_name) for e in backup.stream_errors] == [
                ("packet_out", "PERMISSION_DENIED")
            ]


async def test_duplicate_election_id_is_refused(switch: object) -> None:
    async with connected(switch, None, election_id=10):
        with pytest.raises(P4ConnectionError, match="10"):
            async with connected(switch, None, election_id=10):
                pass


async def test_value_set_replace_and_read(switch: object, pipeline: tuple[Path, Path]) -> None:
    async with connected(switch, pipeline) as client:
        assert await client.read_value_set("parser.tpids") == []
        await client.set_value_set("parser.tpids", [0x9100, 0x88A8])
        assert await client.read_value_set("parser.tpids") == [0x88A8, 0x9100]
        await client.set_value_set("parser.tpids", [0x8100])
        assert await client.read_value_set("parser.tpids") == [0x8100]


@pytest.mark.skipif(not (BUILD / "nve.json").exists(), reason="p4src/build/nve.json not built")
async def test_the_real_nve_pipeline_on_the_real_engine() -> None:
    fdb = Entry(
        P.FDB,
        {P.FDB_VNI: Exact(100), P.FDB_ETH_DST: Exact(0x020000000001)},
        P.FORWARD_LOCAL,
        {P.FORWARD_LOCAL_PORT: 1, P.FORWARD_LOCAL_VID: 10, P.FORWARD_LOCAL_VAP_ID: 5},
    )
    switch = SoftSwitch(
        ports=MemoryPorts([1, 2, 3]), cpu_port=255, grpc_addr="127.0.0.1:0", device_id=1
    )
    async with switch, P4RuntimeClient() as client:
        await client.connect(f"127.0.0.1:{switch.grpc_port}", 1, 10)
        assert await client.set_pipeline(BUILD / "nve.p4info.txtpb", BUILD / "nve.json") is True
        await client.write([Update(WriteOp.INSERT, fdb)])
        assert await client.read_table_entries() == [fdb]
        assert await client.read_direct_counters(P.FDB) == {fdb.key(): CounterValue(0, 0)}
        assert await client.read_counter(P.INGRESS_DROPS, 2) == {2: CounterValue(0, 0)}
        assert await client.read_default_entry(P.FDB) == DefaultAction(P.FDB, P.FLOOD)
