"""The PTF ``udp`` platform (ptf_tests/platforms/udp.py) and the embedded runner's plumbing.

From the port class alone, through PTF's own DataPlane, to ``ptf`` itself running a small
test against a softswitch started by ptf_tests/run.py's helpers (on the hand-written realprog
program, so that it does not wait for the NVE build). Nothing here needs root.
"""

from __future__ import annotations

import importlib.util
import json
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import test_softswitch_server_realprog as realprog

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import Entry, Exact, Update, WriteOp

ROOT = Path(__file__).resolve().parent.parent
FRAME = bytes.fromhex("02000000000202000000000108004500") + bytes(46)


def load(name: str, path: Path) -> ModuleType:
    """A module from a file outside any package."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


udp = load("ptf_platform_udp", ROOT / "ptf_tests" / "platforms" / "udp.py")
runner = load("ptf_runner", ROOT / "ptf_tests" / "run.py")


@pytest.fixture
def wire() -> Iterator[tuple[Any, Any]]:
    """Two PTF ports wired back to back: what one sends, the other receives."""
    a, b = runner.free_udp_ports(2)
    left = udp.UdpDataPlanePort(f"udp:{a}:{b}", 0, 1)
    right = udp.UdpDataPlanePort(f"udp:{b}:{a}", 0, 2)
    yield left, right
    left.close()
    right.close()


def receive(port: Any, timeout: float = 2.0) -> tuple[int, int, bytes, float] | None:
    """What ``port.recv()`` returns once its socket is readable (None on timeout)."""
    readable, _, _ = select.select([port], [], [], timeout)
    return port.recv() if readable else None


@pytest.mark.parametrize("interface", ["udp:20001:30001", "udp:127.0.0.1:20001:127.0.0.2:30001"])
def test_parse_interface(interface: str) -> None:
    local, peer = udp.parse_interface(1, interface)
    assert local[1] == 20001 and peer[1] == 30001


@pytest.mark.parametrize(
    ("interface", "reason"),
    [("veth0", "not a udp"), ("udp:20001", "no peer"), ("udp:x:y", "bad UDP")],
)
def test_parse_interface_rejects(interface: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        udp.parse_interface(1, interface)


def test_platform_config_update() -> None:
    config: dict[str, Any] = {"interfaces": [(0, 1, "udp:20001:30001"), (0, 2, "udp:20002:30002")]}
    udp.platform_config_update(config)
    assert config["port_map"] == {(0, 1): "udp:20001:30001", (0, 2): "udp:20002:30002"}
    assert config["dataplane"]["portclass"] is udp.UdpDataPlanePort
    with pytest.raises(ValueError, match="at least one"):
        udp.platform_config_update({"interfaces": []})


def test_frames_cross_the_wire(wire: tuple[Any, Any]) -> None:
    left, right = wire
    assert left.get_packet_source() is left
    assert left.send(FRAME) == len(FRAME)
    received = receive(right)
    assert received is not None and received[:3] == (0, 2, FRAME)
    right.send(FRAME[::-1])
    received = receive(left)
    assert received is not None and received[:3] == (0, 1, FRAME[::-1])


def test_datagrams_from_strangers_are_ignored(wire: tuple[Any, Any]) -> None:
    _, right = wire
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.sendto(FRAME, right.local_address)
        assert receive(right) is None


def test_closed_port_refuses_io(wire: tuple[Any, Any]) -> None:
    left, _ = wire
    left.close()
    left.close()
    with pytest.raises(OSError, match="closed"):
        left.send(FRAME)


def test_bind_conflict_raises() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            udp.UdpDataPlanePort(f"udp:{port}:9", 0, 1)


def test_ptf_dataplane_sends_and_polls() -> None:
    """PTF's DataPlane thread selects on and reads from the UDP ports."""
    from ptf.dataplane import DataPlane

    a, b = runner.free_udp_ports(2)
    config: dict[str, Any] = {"platform": "udp", "qlen": 100,
                              "interfaces": [(0, 1, f"udp:{a}:{b}"), (0, 2, f"udp:{b}:{a}")]}
    udp.platform_config_update(config)
    dataplane = DataPlane(config)
    try:
        for (device, port), interface in config["port_map"].items():
            dataplane.port_add(interface, device, port)
        dataplane.send(0, 1, FRAME)
        result = dataplane.poll(0, 2, timeout=2, exp_pkt=FRAME)
        assert result.port == 2 and result.packet == FRAME
    finally:
        dataplane.kill()


def test_udp_links_mirror_each_other() -> None:
    links = runner.udp_links([1, 2, 3])
    assert [link.number for link in links] == [1, 2, 3]
    numbers = [n for link in links for n in (link.switch_udp, link.ptf_udp)]
    assert len(set(numbers)) == len(numbers)
    link = links[0]
    assert link.switch_interface == f"1@udp:{link.switch_udp}:{link.ptf_udp}"
    assert link.ptf_interface == f"1@udp:{link.ptf_udp}:{link.switch_udp}"


@pytest.fixture
def taken_udp_port() -> Iterator[int]:
    """A loopback UDP port that someone else holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_softswitch_start_retries_on_other_ports(
    tmp_path: Path, taken_udp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port grabbed between pick and bind costs one more try, not the run."""
    real_links = runner.udp_links
    picks = iter([[runner.UdpLink(1, taken_udp_port, 9)], None])

    def links(numbers: list[int]) -> list[Any]:
        return next(picks) or real_links(numbers)

    monkeypatch.setattr(runner, "udp_links", links)
    with ExitStack() as stack:
        log = stack.enter_context(open(tmp_path / "softswitch.log", "wb"))
        _, started = runner.start_softswitch(stack, log)
    assert taken_udp_port not in [link.switch_udp for link in started]
    assert b"Address already in use" in (tmp_path / "softswitch.log").read_bytes()


def test_softswitch_start_gives_up(
    tmp_path: Path, taken_udp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "SWITCH_START_ATTEMPTS", 1)
    monkeypatch.setattr(runner, "udp_links", lambda _: [runner.UdpLink(1, taken_udp_port, 9)])
    with ExitStack() as stack, pytest.raises(RuntimeError, match="exited with 1"):
        runner.start_softswitch(stack, stack.enter_context(open(tmp_path / "log", "wb")))


PTF_TEST = '''\
"""Forwarding through the softswitch, seen from PTF."""
import ptf
from ptf import testutils
from ptf.base_tests import BaseTest


class Forward(BaseTest):
    def setUp(self):
        BaseTest.setUp(self)
        self.dataplane = ptf.dataplane_instance
        self.dataplane.flush()

    def runTest(self):
        for ingress, egress in ((1, 2), (2, 1)):
            pkt = testutils.simple_udp_packet(udp_sport=ingress)
            testutils.send_packet(self, ingress, pkt)
            testutils.verify_packet(self, pkt, egress)
        testutils.verify_no_other_packets(self)
'''


async def push_realprog(grpc_addr: str, tmp_path: Path, routes: dict[int, int]) -> None:
    """Push the realprog pipeline and forward ingress port -> egress port per ``routes``."""
    p4info, config = tmp_path / "realprog.p4info.txtpb", tmp_path / "realprog.json"
    p4info.write_text(realprog.P4INFO_TEXT)
    config.write_text(json.dumps(realprog.program()))
    async with P4RuntimeClient() as client:
        await client.connect(grpc_addr, runner.DEVICE_ID, 10)
        await client.set_pipeline(p4info, config)
        await client.write([
            Update(WriteOp.INSERT, Entry("ingress.fwd",
                                         {"standard_metadata.ingress_port": Exact(ingress)},
                                         "ingress.set_port", {"port": egress}))
            for ingress, egress in routes.items()
        ])


async def test_ptf_through_udp_platform_against_softswitch(tmp_path: Path) -> None:
    """run.py's switch start-up, then ``ptf --platform udp`` as a user, send and verify."""
    tests = tmp_path / "ptf"
    tests.mkdir()
    (tests / "forward.py").write_text(PTF_TEST)
    with ExitStack() as stack:
        log = stack.enter_context(open(tmp_path / "softswitch.log", "wb"))
        grpc_addr, links = runner.start_softswitch(stack, log)
        assert [link.number for link in links] == sorted(runner.port_map().values())
        await push_realprog(grpc_addr, tmp_path, {1: 2, 2: 1})
        command = [str(Path(sys.executable).parent / "ptf"), "--test-dir", str(tests),
                   "--platform-dir", str(ROOT / "ptf_tests" / "platforms"), "--platform", "udp",
                   "--allow-user", "--log-file", str(tmp_path / "ptf.log"),
                   *[arg for link in links for arg in ("-i", link.ptf_interface)]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Ran 1 test" in output and "OK" in output, output
