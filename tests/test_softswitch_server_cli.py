"""The ``softswitch`` command line: arguments, and a real process driven over P4Runtime + UDP."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from finsy import P4Client, P4ClientError
from finsy.proto import U128, p4r
from test_softswitch_server_realprog import A_SET_PORT, A_TO_CPU, CPU_PORT, T_FWD, config, program
from test_softswitch_server_support import INSERT, action, exact, update

from softswitch.cli import build_parser, main

FRAME = bytes.fromhex("ffffffffffff0200000000010800") + b"via cli"


def test_help_documents_port_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "PORT@IFACE",
        "udp:LPORT:PPORT",
        "--grpc-server-addr",
        "127.0.0.1:9559",
        "--no-p4",
    ):
        assert text in out


def test_defaults_mirror_simple_switch_grpc() -> None:
    args = build_parser().parse_args(["--no-p4"])
    assert (args.device_id, args.cpu_port, args.grpc_server_addr) == (0, None, "127.0.0.1:9559")
    assert args.ports == [] and args.json is None


@pytest.mark.parametrize(
    "argv",
    [
        [],  # neither a JSON nor --no-p4
        ["--no-p4", "prog.json"],
        ["--no-p4", "-i", "1@udp:1", "-i", "1@udp:2"],
        ["--no-p4", "-i", "1@udp:1", "--cpu-port", "1"],
        ["--no-p4", "-i", "bad"],
    ],
)
def test_bad_arguments_exit_with_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_unreadable_program_exits_with_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main([str(bad), "--grpc-server-addr", "127.0.0.1:0", "--log-level", "off"]) == 1


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def softswitch_process(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    """Run ``python -m softswitch ARGS`` on a free gRPC port; SIGTERM it at the end."""
    grpc_port = _free_tcp_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "softswitch",
        *args,
        "--grpc-server-addr",
        f"127.0.0.1:{grpc_port}",
        "--log-level",
        "debug",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process, grpc_port
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)


async def _connect(grpc_port: int) -> P4Client:
    """A client of the process, once its server answers Capabilities."""
    client = P4Client(f"127.0.0.1:{grpc_port}")
    await client.open()
    for _ in range(200):
        try:
            await client.request(p4r.CapabilitiesRequest())
            return client
        except P4ClientError:
            await asyncio.sleep(0.05)
    await client.close()
    raise AssertionError("softswitch process did not start serving")


async def test_process_forwards_udp_frames_and_stops_on_sigterm() -> None:
    local1, local2, peer1_port, peer2_port = (_free_udp_port() for _ in range(4))
    peer1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer1.bind(("127.0.0.1", peer1_port))
    peer2.bind(("127.0.0.1", peer2_port))
    peer2.settimeout(10)
    async with softswitch_process(
        "-i", f"1@udp:{local1}:{peer1_port}",
        "-i", f"2@udp:{local2}:{peer2_port}",
        "--cpu-port", str(CPU_PORT),
        "--no-p4",
    ) as (process, grpc_port):  # fmt: skip
        client = await _connect(grpc_port)
        try:
            arbitration = p4r.MasterArbitrationUpdate(device_id=0, election_id=U128.encode(1))
            await client.send(p4r.StreamMessageRequest(arbitration=arbitration))
            assert (await client.receive()).arbitration.status.code == 0
            await client.request(
                p4r.SetForwardingPipelineConfigRequest(
                    device_id=0,
                    election_id=U128.encode(1),
                    action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                    config=config(),
                )
            )
            entries = [
                p4r.TableEntry(
                    table_id=T_FWD, match=[exact(1, b"\x01")], action=action(A_SET_PORT, b"\x02")
                ),
                p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x02")], action=action(A_TO_CPU)),
            ]
            await client.request(
                p4r.WriteRequest(
                    device_id=0,
                    election_id=U128.encode(1),
                    updates=[update(INSERT, table_entry=entry) for entry in entries],
                )
            )
            peer1.sendto(FRAME, ("127.0.0.1", local1))
            data, source = await asyncio.to_thread(peer2.recvfrom, 2048)
            assert (data, source) == (FRAME, ("127.0.0.1", local2))
            peer2.sendto(FRAME, ("127.0.0.1", local2))
            message = await asyncio.wait_for(client.receive(), 10)
            assert message.packet.payload == FRAME
        finally:
            await client.close()
            peer1.close()
            peer2.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert "shutting down" in log


async def test_process_with_json_program_starts_and_stops_on_sigint(tmp_path: Path) -> None:
    prog = tmp_path / "prog.json"
    prog.write_text(json.dumps(program()))
    async with softswitch_process(str(prog), "-i", f"1@udp:{_free_udp_port()}") as (
        process,
        grpc_port,
    ):
        client = await _connect(grpc_port)
        await client.close()
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
