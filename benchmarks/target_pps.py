"""Packets per second of the NVE data path on the embedded target and on bmv2.

Paths: encap (a VM's tagged frame on access port 1 -> VXLAN to a remote VTEP on network port 4)
and decap (VXLAN on port 4 -> the VM on port 1, tagged). Targets:

* ``engine``: the bare ``softswitch.engine.Switch.process`` loop, in this process;
* ``softswitch``: the whole embedded switch (``python -m softswitch``: UDP port threads, queue,
  datapath worker) on loopback UDP ports, in its own process;
* ``bmv2``: ``simple_switch_grpc`` on veth pairs in a private network namespace (root only).

Both switches get the parity test's scenario through P4Runtime. They are driven with at most
``--window`` frames in flight; pps = frames out / (first frame in .. last frame out). The
figures go to stdout and, as one row, to benchmarks/results.csv.

    .venv/bin/python benchmarks/target_pps.py [--count N] [--profile] [--no-bmv2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import datetime
import os
import platform
import pstats
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the parity test's scenario and bmv2 lab

from parity import scenario as S
from parity.lab import bmv2_lab, unavailable_reason
from parity.p4rt import programmed_client

from softswitch.engine import Switch
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

RESULTS = Path(__file__).with_name("results.csv")
FLOWS = 256
STALL = 1.0
"""Seconds without output after which the frames in flight count as lost."""
START_TIMEOUT = 30.0
GOAL = 0.2
"""Target ratio embedded / bmv2."""
TARGETS = ("engine", "softswitch", "bmv2")


@dataclass(frozen=True)
class DataPath:
    """Frames (one per flow) that enter ``in_port`` and leave ``out_port``."""

    name: str
    in_port: int
    out_port: int
    frames: tuple[bytes, ...]


def encap_path() -> DataPath:
    """VM1 (port 1, VID 10) to a VM behind 10.0.2.1 (port 4): 106-byte TCP frames."""
    vm, remote = S.VMS[0], S.REMOTE_VMS[0]
    frames = tuple(bytes(Ether(src=vm.macs[0], dst=remote.mac) / Dot1Q(vlan=vm.vid)
                         / IP(src=vm.ip, dst=remote.ip) / TCP(sport=1024 + flow, dport=5000)
                         / Raw(b"x" * 48))
                   for flow in range(FLOWS))
    return DataPath("encap", 1, 4, frames)


def decap_path() -> DataPath:
    """VXLAN from 10.0.2.1 (port 4) to VM1 (port 1) in VNI BLUE: 152-byte frames."""
    remote, vm = S.REMOTE_VMS[0], S.VMS[0]
    frames = tuple(bytes(Ether(src=S.NEXTHOP_MAC, dst=S.ROUTER_MAC)
                         / IP(src=remote.vtep_ip, dst=S.VTEP_IP)
                         / UDP(sport=0xC000 + flow, dport=4789, chksum=0)
                         / VXLAN(vni=remote.vni, flags=0x08)
                         / Ether(src=remote.mac, dst=vm.macs[0]) / IP(src=remote.ip, dst=vm.ip)
                         / TCP(sport=1024 + flow, dport=5000) / Raw(b"x" * 48))
                   for flow in range(FLOWS))
    return DataPath("decap", 4, 1, frames)


@dataclass(frozen=True)
class Measurement:
    """Frames sent and received, and the seconds from the first in to the last out."""

    sent: int
    received: int
    seconds: float

    @property
    def pps(self) -> float:
        """Frames out per second."""
        return self.received / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        lost = f", {self.sent - self.received} lost" if self.received < self.sent else ""
        return f"{self.pps:10.0f} pps ({self.received} frames in {self.seconds:.2f} s{lost})"


# -- the bare engine ---------------------------------------------------------------------------

async def programmed_engine() -> Switch:
    """An engine Switch holding the scenario, written through P4Runtime into an in-process
    SoftSwitch (whose datapath is then dropped)."""
    switch = SoftSwitch(ports=MemoryPorts(list(S.DATA_PORTS)), device_id=S.DEVICE_ID,
                        cpu_port=S.CPU_PORT, grpc_addr="127.0.0.1:0")
    async with switch, programmed_client(f"127.0.0.1:{switch.grpc_port}"):
        engine = switch.datapath.switch
    assert isinstance(engine, Switch)
    return engine


def engine_loop(engine: Switch, path: DataPath, count: int) -> Measurement:
    """``count`` frames through ``Switch.process``, one after the other."""
    frames, port, out_port = path.frames, path.in_port, path.out_port
    received = 0
    start = time.perf_counter()
    for i in range(count):
        for egress, _ in engine.process(port, frames[i % FLOWS]):
            received += egress == out_port
    return Measurement(count, received, time.perf_counter() - start)


def profile_engine(engine: Switch, path: DataPath, count: int, top: int = 15) -> None:
    """Print the ``top`` functions by own time of ``count`` frames through the engine."""
    profiler = cProfile.Profile()
    profiler.runcall(engine_loop, engine, path, count)
    print(f"\ncProfile: {count} {path.name} frames through Switch.process, "
          f"top {top} by own time")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# -- driving a switch over sockets -------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    """How to put a frame into the switch and count the frames it sent to the output port."""

    send: Callable[[bytes], object]
    drain: Callable[[], int]
    readable: socket.socket


def drive(link: Link, path: DataPath, count: int, window: int) -> Measurement:
    """Send ``count`` frames with at most ``window`` in flight; count what comes out."""
    sent = received = lost = 0
    start = last = time.perf_counter()
    while True:
        while sent < count and sent - received - lost < window:
            link.send(path.frames[sent % FLOWS])
            sent += 1
        if sent == count and received + lost >= sent:
            return Measurement(count, received, last - start)
        if select.select([link.readable], [], [], STALL)[0]:
            received += link.drain()
            last = time.perf_counter()
        else:
            lost = sent - received


def free_port(kind: int) -> int:
    """A port number of loopback that is free for ``kind`` (SOCK_STREAM or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def udp_peer(switch_port: int) -> socket.socket:
    """Our end of a UDP switch port: bound to loopback, connected to the switch's socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.connect(("127.0.0.1", switch_port))
    sock.setblocking(False)
    return sock


def drain_socket(sock: socket.socket) -> int:
    """Read every waiting datagram; how many there were."""
    count = 0
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return count
        count += 1


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until ``process`` accepts TCP connections on loopback ``port``."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"softswitch exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"softswitch did not listen on port {port} within {START_TIMEOUT} s")


def start_softswitch(grpc_port: int, switch_ports: dict[int, int],
                     peers: dict[int, socket.socket]) -> subprocess.Popen[bytes]:
    """``python -m softswitch`` with switch port N bound to UDP ``switch_ports[N]`` and sending
    to ``peers[N]``; returns once it serves P4Runtime on ``grpc_port``."""
    command = [sys.executable, "-m", "softswitch", "--no-p4", "--log-level", "warn",
               "--device-id", str(S.DEVICE_ID), "--cpu-port", str(S.CPU_PORT),
               "--grpc-server-addr", f"127.0.0.1:{grpc_port}",
               *[arg for port, udp in switch_ports.items()
                 for arg in ("-i", f"{port}@udp:{udp}:{peers[port].getsockname()[1]}")]]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        wait_listening(grpc_port, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@contextlib.asynccontextmanager
async def softswitch_udp() -> AsyncIterator[tuple[str, dict[int, socket.socket]]]:
    """The softswitch on loopback UDP ports; its gRPC address and our socket for each port."""
    switch_ports = {port: free_port(socket.SOCK_DGRAM) for port in S.DATA_PORTS}
    peers = {port: udp_peer(udp) for port, udp in switch_ports.items()}
    grpc_port = free_port(socket.SOCK_STREAM)
    try:
        process = start_softswitch(grpc_port, switch_ports, peers)
        try:
            yield f"127.0.0.1:{grpc_port}", peers
        finally:
            process.terminate()
            process.wait(timeout=10)
    finally:
        for sock in peers.values():
            sock.close()


def udp_link(peers: dict[int, socket.socket], path: DataPath) -> Link:
    """Frames in through our socket of ``path.in_port``, counted on ``path.out_port``'s."""
    out = peers[path.out_port]
    return Link(peers[path.in_port].send, lambda: drain_socket(out), out)


# -- running it all ----------------------------------------------------------------------------

Results = dict[str, dict[str, Measurement]]
"""Measurement per path name and target."""


def drive_all(links: Callable[[DataPath], Link], paths: Sequence[DataPath], target: str,
              args: argparse.Namespace, results: Results) -> None:
    """Warm up, then measure, every path on one target."""
    for path in paths:
        link = links(path)
        drive(link, path, args.warmup, args.window)
        results[path.name][target] = drive(link, path, args.count, args.window)
        print(f"{path.name:6} {target:11} {results[path.name][target]}", flush=True)


async def measure(args: argparse.Namespace) -> Results:
    """Every path on every target that can run here."""
    paths = (encap_path(), decap_path())
    results: Results = {path.name: {} for path in paths}
    engine = await programmed_engine()
    for path in paths:
        engine_loop(engine, path, args.warmup)
        results[path.name]["engine"] = engine_loop(engine, path, args.count)
        print(f"{path.name:6} {'engine':11} {results[path.name]['engine']}", flush=True)
    if args.profile:
        profile_engine(engine, paths[0], args.count)
    async with softswitch_udp() as (address, peers), programmed_client(address):
        drive_all(lambda path: udp_link(peers, path), paths, "softswitch", args, results)
    reason = "--no-bmv2" if args.no_bmv2 else unavailable_reason()
    if reason is not None:
        print(f"bmv2 skipped: {reason}")
        return results
    with bmv2_lab(S.DATA_PORTS, S.CPU_PORT, S.DEVICE_ID) as lab:
        async with programmed_client(lab.bmv2.grpc_addr):
            wire = lab.wire
            drive_all(lambda path: Link(lambda frame: wire.send(path.in_port, frame),
                                        lambda: len(wire.receive(path.out_port)),
                                        wire.sockets[path.out_port]),
                      paths, "bmv2", args, results)
    return results


def ratio(results: Results, path: str, target: str) -> float | None:
    """``target``'s pps over bmv2's on ``path``."""
    bmv2 = results[path].get("bmv2")
    return results[path][target].pps / bmv2.pps if bmv2 and bmv2.pps else None


def cpu_model() -> str:
    """The CPU's model name."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def report(results: Results) -> dict[str, str]:
    """Print the ratios; the CSV row."""
    row = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "machine": platform.machine(), "cpu": cpu_model(), "nproc": str(os.cpu_count())}
    for path, by_target in results.items():
        for target in TARGETS:
            figure = by_target.get(target)
            row[f"{path}_{target}_pps"] = f"{figure.pps:.0f}" if figure else ""
        for target in ("softswitch", "engine"):
            value = ratio(results, path, target)
            row[f"{path}_{target}_over_bmv2"] = f"{value:.3f}" if value is not None else ""
            if value is not None:
                verdict = "meets" if value >= GOAL else "below"
                print(f"{path}: {target} / bmv2 = {value:.3f} ({verdict} the goal of {GOAL})")
    return row


def append_row(row: dict[str, str]) -> None:
    """Append ``row`` to results.csv, writing the header when the file is new."""
    new = not RESULTS.exists() or RESULTS.stat().st_size == 0
    with RESULTS.open("a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="frames per measurement")
    parser.add_argument("--warmup", type=int, default=1_000, help="frames before measuring")
    parser.add_argument("--window", type=int, default=32,
                        help="frames in flight at most (bmv2 loses frames from 64 on)")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the engine on the encap path")
    parser.add_argument("--no-bmv2", action="store_true", help="measure the embedded target only")
    parser.add_argument("--no-csv", action="store_true", help="do not append to results.csv")
    args = parser.parse_args()
    row = report(asyncio.run(measure(args)))
    if not args.no_csv:
        append_row(row)
        print(f"appended to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
