"""P4RuntimeClient against a real bmv2 ``simple_switch_grpc`` (loopback only, no data ports).

Skipped when simple_switch_grpc is not installed (PATH, then $P4_TOOLCHAIN_PREFIX/bin,
default /opt/p4-toolchain/bin). Uses tests/data/p4rt/mini.p4 compiled by p4c
(mini_bmv2.json + mini_bmv2.p4info.txtpb), and the real NVE program from
p4src/build/ when it has been built.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

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
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeWriteError, P4ValueError

DATA = Path(__file__).parent / "data" / "p4rt"
MINI_P4INFO = DATA / "mini_bmv2.p4info.txtpb"
MINI_JSON = DATA / "mini_bmv2.json"
BUILD = Path(__file__).parent.parent / "p4src" / "build"
NVE_P4INFO, NVE_JSON = BUILD / "nve.p4info.txtpb", BUILD / "nve.json"
DEVICE_ID = 1
CPU_PORT = 255


def _simple_switch_grpc() -> str | None:
    found = shutil.which("simple_switch_grpc")
    prefix = Path(os.environ.get("P4_TOOLCHAIN_PREFIX", "/opt/p4-toolchain"))
    candidate = prefix / "bin" / "simple_switch_grpc"
    return found or (str(candidate) if candidate.is_file() else None)


SIMPLE_SWITCH_GRPC = _simple_switch_grpc()
pytestmark = pytest.mark.skipif(
    SIMPLE_SWITCH_GRPC is None,
    reason="bmv2 simple_switch_grpc not installed (PATH or /opt/p4-toolchain/bin)",
)
needs_mini = pytest.mark.skipif(
    not MINI_JSON.exists(), reason="tests/data/p4rt/mini_bmv2.json not compiled (needs p4c)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"simple_switch_grpc exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def bmv2(tmp_path: Path) -> Iterator[str]:
    """A fresh simple_switch_grpc; yields its P4Runtime address."""
    assert SIMPLE_SWITCH_GRPC is not None
    grpc_port, thrift_port = free_port(), free_port()
    log = (tmp_path / "bmv2.log").open("wb")
    proc = subprocess.Popen(
        [
            SIMPLE_SWITCH_GRPC,
            "--no-p4",
            "--device-id",
            str(DEVICE_ID),
            "--thrift-port",
            str(thrift_port),
            "--",
            "--grpc-server-addr",
            f"127.0.0.1:{grpc_port}",
            "--cpu-port",
            str(CPU_PORT),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_listening(grpc_port, proc)
        yield f"127.0.0.1:{grpc_port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@asynccontextmanager
async def connected(
    addr: str, election_id: int = 10, pipeline: tuple[Path, Path] | None = (MINI_P4INFO, MINI_JSON)
) -> AsyncIterator[P4RuntimeClient]:
    async with P4RuntimeClient() as client:
        await client.connect(addr, DEVICE_ID, election_id)
        if pipeline is not None:
            await client.set_pipeline(*pipeline)
        yield client


PORT, VID = "standard_metadata.ingress_port", "hdr.vlan.vid"


def vap(port: int, vid: int, vap_id: int = 1) -> Entry:
    return Entry(
        "Ing.vap", {PORT: Exact(port), VID: Exact(vid)}, "Ing.set_vap", {"vap_id": vap_id, "vni": 7}
    )


ROUTE = Entry(
    "Ing.route",
    {"meta.vrf": Exact(1), "hdr.ipv4.dst_addr": Lpm(0x0A000000, 8)},
    "Ing.set_nexthop",
    {"port": 3, "dmac": 0x001122334455},
)
ROUTE_DEFAULT_LPM = Entry("Ing.route", {"meta.vrf": Exact(2)}, "Ing.drop")
ACL = Entry(
    "Ing.acl",
    {
        "hdr.ethernet.dst_addr": Optional(0x0A0B0C0D0E0F),
        "hdr.inner_ethernet.dst_addr": Optional(1),
        "hdr.ipv4.src_addr": Ternary(0xC0A80000, 0xFFFF0000),
        "meta.l4_dst_port": Range(1000, 2000),
    },
    "Ing.punt",
    {"reason": 4},
    priority=100,
)
ACL_WILDCARDS = Entry("Ing.acl", {}, "Ing.permit", priority=1)


@needs_mini
async def test_pipeline_cookie_skips_the_push_so_a_restart_keeps_entries(bmv2: str) -> None:
    async with connected(bmv2, pipeline=None) as client:
        assert client.is_primary
        assert await client.set_pipeline(MINI_P4INFO, MINI_JSON) is True
        assert await client.get_pipeline_cookie() == client.schema.cookie
        await client.write([Update(WriteOp.INSERT, vap(1, 10))])
    async with connected(bmv2, election_id=20, pipeline=None) as restarted:
        assert await restarted.set_pipeline(MINI_P4INFO, MINI_JSON) is False
        assert await restarted.read_table_entries("Ing.vap") == [vap(1, 10)]


@needs_mini
async def test_every_match_kind_reads_back_equal(bmv2: str) -> None:
    desired = {vap(1, 10), vap(2, 20, vap_id=2), ROUTE, ROUTE_DEFAULT_LPM, ACL, ACL_WILDCARDS}
    async with connected(bmv2) as client:
        await client.write([Update(WriteOp.INSERT, e) for e in sorted(desired, key=repr)])
        assert set(await client.read_table_entries()) == desired  # Ing.fixed's const entry excluded
        changed = Entry("Ing.acl", {}, "Ing.drop", priority=1)
        await client.write([Update(WriteOp.MODIFY, changed), Update(WriteOp.DELETE, ROUTE)])
        assert set(await client.read_table_entries()) == desired - {ACL_WILDCARDS, ROUTE} | {
            changed
        }


@needs_mini
async def test_batch_errors_list_every_failed_update(bmv2: str) -> None:
    async with connected(bmv2) as client:
        await client.write([Update(WriteOp.INSERT, vap(1, 10))])
        with pytest.raises(P4RuntimeWriteError) as info:
            await client.write(
                [
                    Update(WriteOp.INSERT, vap(1, 11)),
                    Update(WriteOp.INSERT, vap(1, 10, vap_id=9)),
                    Update(WriteOp.DELETE, vap(5, 5)),
                    Update(WriteOp.MODIFY, vap(6, 6)),
                ]
            )
        failures = info.value.failures
        assert [(f.update_index, f.code_name) for f in failures] == [
            (1, "ALREADY_EXISTS"),
            (2, "NOT_FOUND"),
            (3, "NOT_FOUND"),
        ]
        assert "Exact(value=5)" in failures[1].entity_description
        assert set(await client.read_table_entries("Ing.vap")) == {vap(1, 10), vap(1, 11)}


@needs_mini
async def test_default_actions(bmv2: str) -> None:
    async with connected(bmv2) as client:
        assert await client.read_default_entry("Ing.route") == DefaultAction(
            "Ing.route", "Ing.miss"
        )
        new_default = DefaultAction("Ing.vap", "Ing.set_vap", {"vap_id": 3, "vni": 4})
        await client.write([Update(WriteOp.MODIFY, new_default)])
        assert await client.read_default_entry("Ing.vap") == new_default
        with pytest.raises(P4ValueError, match="default action is const"):
            await client.write([Update(WriteOp.MODIFY, DefaultAction("Ing.fixed", "Ing.drop"))])


@needs_mini
async def test_multicast_groups(bmv2: str) -> None:
    async with connected(bmv2) as client:
        await client.insert_multicast_group(MulticastGroup(1, [(1, 1), (2, 1), (3, 2)]))
        await client.insert_multicast_group(MulticastGroup(2, [(4, 0)]))
        assert await client.read_multicast_groups(1) == [
            MulticastGroup(1, [(1, 1), (2, 1), (3, 2)])
        ]
        await client.modify_multicast_group(MulticastGroup(1, [(5, 5)]))
        await client.delete_multicast_group(2)
        assert await client.read_multicast_groups() == [MulticastGroup(1, [(5, 5)])]


@needs_mini
async def test_counters_read_as_packets_and_bytes(bmv2: str) -> None:
    async with connected(bmv2) as client:
        await client.write([Update(WriteOp.INSERT, vap(1, 10)), Update(WriteOp.INSERT, ACL)])
        cells = await client.read_counter("Ing.drop_reasons")
        assert cells == {i: CounterValue(0, 0) for i in range(16)}
        assert await client.read_counter("Ing.drop_reasons", 3) == {3: CounterValue(0, 0)}
        assert await client.read_direct_counters("Ing.vap") == {
            vap(1, 10).key(): CounterValue(0, 0)
        }
        assert await client.read_direct_counters("Ing.acl") == {ACL.key(): CounterValue(0, 0)}


@needs_mini
async def test_arbitration_backup_is_promoted_when_the_primary_leaves(bmv2: str) -> None:
    async with connected(bmv2, election_id=10) as primary:
        async with connected(bmv2, election_id=5, pipeline=None) as backup:
            assert primary.is_primary and not backup.is_primary
            assert backup.primary_election_id == 10
            assert await backup.set_pipeline(MINI_P4INFO, MINI_JSON) is False  # no push needed
            with pytest.raises(P4RuntimeWriteError) as info:
                await backup.write([Update(WriteOp.INSERT, vap(1, 10))])
            assert info.value.code_name == "PERMISSION_DENIED"
            await primary.close()
            for _ in range(100):
                if backup.is_primary:
                    break
                await asyncio.sleep(0.05)
            # bmv2 promotes the remaining client itself (OK with its own, lower, election id)
            assert backup.is_primary and backup.primary_election_id == 5
            await backup.write([Update(WriteOp.INSERT, vap(1, 10))])


@needs_mini
async def test_duplicate_election_id_is_refused(bmv2: str) -> None:
    async with connected(bmv2, election_id=10):
        with pytest.raises(P4ConnectionError, match="election id 10"):
            async with connected(bmv2, election_id=10, pipeline=None):
                pass


@needs_mini
async def test_packet_out_is_accepted(bmv2: str) -> None:
    async with connected(bmv2) as client:
        await client.packet_out(bytes(64), egress_port=1)
        await asyncio.sleep(0.2)
        assert client.stream_errors == ()


@pytest.mark.skipif(not NVE_JSON.exists(), reason="p4src/build/nve.json not built yet")
async def test_the_real_nve_pipeline_installs_and_reads_empty(bmv2: str) -> None:
    async with connected(bmv2, pipeline=(NVE_P4INFO, NVE_JSON)) as client:
        assert await client.read_table_entries() == []
        for table in client.schema.index.tables:
            if not table.is_const:
                await client.read_default_entry(table.name)
