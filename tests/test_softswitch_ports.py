"""Port backends of the softswitch: spec parsing, in-memory, UDP and raw AF_PACKET ports."""

from __future__ import annotations

import os
import queue
import socket
import struct
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from softswitch.ports import (
    MemoryPorts,
    PortSpecError,
    RawSpec,
    SocketPorts,
    UdpPort,
    UdpSpec,
    open_ports,
    parse_port_spec,
)

FRAME = bytes.fromhex("0200000000020200000000010800") + b"x" * 50


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("1@veth0", RawSpec(1, "veth0")),
        ("2@udp:20001", UdpSpec(2, ("127.0.0.1", 20001), None)),
        ("3@udp:127.0.0.2:20001", UdpSpec(3, ("127.0.0.2", 20001), None)),
        ("4@udp:20001:30001", UdpSpec(4, ("127.0.0.1", 20001), ("127.0.0.1", 30001))),
        ("5@udp:127.0.0.2:20001:30001", UdpSpec(5, ("127.0.0.2", 20001), ("127.0.0.2", 30001))),
        ("6@udp:20001:127.0.0.3:30001", UdpSpec(6, ("127.0.0.1", 20001), ("127.0.0.3", 30001))),
        ("7@udp:127.0.0.2:1:127.0.0.3:2", UdpSpec(7, ("127.0.0.2", 1), ("127.0.0.3", 2))),
    ],
)
def test_parse_port_spec(text: str, spec: object) -> None:
    assert parse_port_spec(text) == spec


@pytest.mark.parametrize(
    "text", ["veth0", "1@", "x@veth0", "-1@veth0", "1@udp:", "1@udp:a:b", "1@udp:70000", "1@udp::1"]
)
def test_parse_port_spec_errors(text: str) -> None:
    with pytest.raises(PortSpecError):
        parse_port_spec(text)


def test_memory_ports_inject_and_take() -> None:
    ports = MemoryPorts([2, 1])
    received: list[tuple[int, bytes]] = []
    with pytest.raises(RuntimeError):
        ports.inject(1, FRAME)
    ports.start(lambda port, frame: received.append((port, frame)))
    assert ports.numbers == (1, 2)
    ports.inject(1, FRAME)
    with pytest.raises(ValueError):
        ports.inject(9, FRAME)
    ports.send(2, b"a")
    ports.send(2, b"b")
    ports.send(9, b"dropped")
    assert received == [(1, FRAME)]
    assert ports.take(2) == [b"a", b"b"]
    assert ports.take(2) == []
    ports.send(1, b"c")
    assert ports.take_all() == {1: [b"c"]}
    ports.close()


def _socket_pair_peer() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def test_udp_ports_fixed_peer_and_learned_peer() -> None:
    peer = _socket_pair_peer()
    ports = open_ports(
        [UdpSpec(1, ("127.0.0.1", 0), peer.getsockname()), UdpSpec(2, ("127.0.0.1", 0), None)]
    )
    received: queue.Queue[tuple[int, bytes]] = queue.Queue()
    ports.start(lambda port, frame: received.put((port, frame)))
    try:
        fixed, learned = ports.port(1), ports.port(2)
        assert isinstance(fixed, UdpPort) and isinstance(learned, UdpPort)
        ports.send(1, FRAME)
        assert peer.recvfrom(2048) == (FRAME, fixed.local_address)
        peer.sendto(FRAME, fixed.local_address)
        assert received.get(timeout=5) == (1, FRAME)

        ports.send(2, b"dropped: no peer known yet")
        other = _socket_pair_peer()
        other.sendto(b"hello", learned.local_address)
        assert received.get(timeout=5) == (2, b"hello")
        ports.send(2, FRAME)
        assert other.recvfrom(2048) == (FRAME, learned.local_address)
        other.close()
        ports.send(7, FRAME)  # unknown port: dropped, no error
    finally:
        ports.close()
        peer.close()
    ports.close()  # idempotent


def test_open_ports_closes_opened_ports_on_failure() -> None:
    blocker = _socket_pair_peer()
    busy = blocker.getsockname()
    with pytest.raises(OSError):
        open_ports([UdpSpec(1, ("127.0.0.1", 0), None), UdpSpec(2, busy, None)])
    blocker.close()


def test_duplicate_port_numbers_are_refused() -> None:
    first = UdpPort(1, ("127.0.0.1", 0), None)
    second = UdpPort(1, ("127.0.0.1", 0), None)
    with pytest.raises(ValueError):
        SocketPorts([first, second])
    first.close()
    second.close()


# -- raw AF_PACKET ports on a veth pair (root only) -----------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair() -> Iterator[tuple[str, str]]:
    """A fresh veth pair, up, with offloads that would merge frames turned off."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    suffix = uuid.uuid4().hex[:6]
    left, right = f"ssa{suffix}", f"ssb{suffix}"
    try:
        _ip("link", "add", left, "type", "veth", "peer", "name", right)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create veth pair: {exc}")
    try:
        for name in (left, right):
            _ip("link", "set", name, "up")
            # no IPv6 on the test links: keeps router solicitations etc. off the wire
            with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as knob:
                knob.write("1")
        yield left, right
    finally:
        subprocess.run(["ip", "link", "del", left], check=False, capture_output=True)


def _raw_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind((interface, 0))
    sock.settimeout(5)
    return sock


def _receive_frame(sock: socket.socket, marker: bytes) -> bytes:
    while True:
        frame, address = sock.recvfrom(65536)
        if address[2] != socket.PACKET_OUTGOING and marker in frame:
            return frame


def test_raw_port_sends_and_receives_with_vlan_tag(veth_pair: tuple[str, str]) -> None:
    left, right = veth_pair
    ports = open_ports([RawSpec(1, left)])
    received: queue.Queue[tuple[int, bytes]] = queue.Queue()
    ports.start(lambda port, frame: received.put((port, frame)))
    wire = _raw_socket(right)
    try:
        marker = uuid.uuid4().bytes
        tagged = FRAME[:12] + struct.pack("!HH", 0x8100, 100) + FRAME[12:] + marker
        wire.send(tagged)
        while True:
            port, frame = received.get(timeout=5)
            if marker in frame:
                break
        assert port == 1
        assert frame == tagged  # the VLAN tag stripped by offload is restored

        marker = uuid.uuid4().bytes
        ports.send(1, FRAME + marker)
        assert _receive_frame(wire, marker) == FRAME + marker
    finally:
        wire.close()
        ports.close()
