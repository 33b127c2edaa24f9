"""Test harness for the etcd mapping authority: real etcd processes on loopback (one node or a
three-member cluster) in a temporary directory, a TCP proxy that can cut a client off, two
embedded switches joined by an underlay, and controllers run as `nvectl serve` processes, one
per NVE, each with its own configuration (only its own switch) and its own SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import Notification, VmRequest, VnSelector, parse_mac
from controlplane.store.etcd_client import EtcdClient, EtcdError
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

ETCD = shutil.which("etcd")
requires_etcd = pytest.mark.skipif(
    ETCD is None, reason="etcd is not installed (Debian: apt-get install etcd-server; "
                         ".ci/run installs it when it runs as root)")

ROOT = Path(__file__).resolve().parents[3]
NETWORK_PORT = 4
CPU_PORT = 255
LLDP = b"\x88\xcc"
LEASE_TTL = 2


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Poll a predicate (plain or async) until it returns something truthy; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


# -- etcd -------------------------------------------------------------------------------------
class EtcdMember:
    """One etcd process."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.data_dir = root / name
        self.log = root / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, cluster: str, state: str) -> None:
        assert ETCD is not None
        argv = [ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", f"http://{self.endpoint}",
                "--advertise-client-urls", f"http://{self.endpoint}",
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "nve-test",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-level", "warn"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(sig)

    async def wait_exit(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        try:
            await asyncio.to_thread(self.process.wait, timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


class EtcdCluster:
    """`size` etcd members on loopback ports under `root`."""

    def __init__(self, root: Path, size: int = 1) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.members = [EtcdMember(f"m{i}", root) for i in range(size)]
        self._cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        self._started = False

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    async def start(self) -> None:
        state = "existing" if self._started else "new"
        for member in self.members:
            if not member.running:
                member.start(self._cluster, state)
        self._started = True
        await self.ready()

    async def restart(self, member: EtcdMember) -> None:
        member.start(self._cluster, "existing")
        await self.ready()

    async def ready(self, timeout: float = 30.0) -> None:
        """Every running member answers and knows a leader."""
        async def up() -> bool:
            for member in self.members:
                if not member.running:
                    if member.process is not None and member.process.returncode not in (
                            None, -signal.SIGKILL, -signal.SIGTERM, 0):
                        raise AssertionError(f"etcd {member.name} exited "
                                             f"({member.process.returncode})")
                    continue
                client = EtcdClient([member.endpoint], timeout=1.0)
                try:
                    if not (await client.status()).leader:
                        return False
                    await client.range(b"ready-probe")
                except EtcdError:
                    return False
                finally:
                    await client.close()
            return True
        try:
            await eventually(up, timeout, "etcd to be ready")
        except AssertionError:
            for member in self.members:
                if member.log.exists():
                    print(member.log.read_text()[-3000:], file=sys.stderr)
            raise

    async def leader(self) -> EtcdMember:
        """The member that leads now."""
        ids = {}
        leader_id = 0
        for member in self.members:
            if not member.running:
                continue
            client = EtcdClient([member.endpoint], timeout=1.0)
            try:
                status = await client.status()
            finally:
                await client.close()
            ids[status.header.member_id] = member
            leader_id = status.leader
        return ids[leader_id]

    async def kill(self, member: EtcdMember) -> None:
        member.signal(signal.SIGKILL)
        await member.wait_exit()

    async def stop(self) -> None:
        for member in self.members:
            member.signal(signal.SIGTERM)
        for member in self.members:
            await member.wait_exit()

    def client(self, timeout: float = 2.0) -> EtcdClient:
        return EtcdClient(self.endpoints, timeout=timeout)


class Proxy:
    """A TCP relay to `target` that the test can cut (every connection dropped, new ones
    refused) and restore: a client losing its network path to etcd."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.blocked = False
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.blocked = True
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.blocked = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


# -- switches and controllers -----------------------------------------------------------------
class Fabric:
    """Two embedded switches, nve1 and nve2, whose network ports are joined."""

    def __init__(self) -> None:
        self.switches = {name: SoftSwitch(ports=MemoryPorts([1, 2, 3, NETWORK_PORT]),
                                          device_id=1, cpu_port=CPU_PORT,
                                          grpc_addr="127.0.0.1:0")
                         for name in ("nve1", "nve2")}

    async def start(self) -> None:
        for sw in self.switches.values():
            await sw.start()

    async def stop(self) -> None:
        for sw in self.switches.values():
            await sw.stop()

    def grpc_addr(self, name: str) -> str:
        return f"127.0.0.1:{self.switches[name].grpc_port}"

    async def send(self, nve: str, port: int, frame: bytes) -> dict[tuple[str, int], list[bytes]]:
        """Inject a frame and carry it across the underlay; every frame that left a port, by
        (switch, port)."""
        out: dict[tuple[str, int], list[bytes]] = {}
        self.switches[nve].ports.inject(port, frame)  # type: ignore[attr-defined]
        for _ in range(4):
            moved = False
            for name, sw in self.switches.items():
                await sw.settle()
                for out_port, frames in sw.ports.take_all().items():  # type: ignore[attr-defined]
                    frames = [f for f in frames if f[12:14] != LLDP]   # the controllers' own
                    out.setdefault((name, out_port), []).extend(frames)
                    if out_port == NETWORK_PORT:
                        for peer_name, peer in self.switches.items():
                            if peer_name != name:
                                for f in frames:
                                    peer.ports.inject(NETWORK_PORT, f)  # type: ignore[attr-defined]
                                    moved = True
            if not moved:
                break
        return {k: v for k, v in out.items() if v}


SWITCHES = {
    "nve1": ("10.0.1.1", "02:00:00:00:01:01", "10.0.2.0/24", "02:00:00:00:fe:01"),
    "nve2": ("10.0.2.1", "02:00:00:00:02:01", "10.0.1.0/24", "02:00:00:00:fe:02"),
}
# hypervisor -> (switch, port): hv1 and hv3 on nve1 (ctl1), hv2 and hv4 on nve2 (ctl2).
HYPERVISORS = {"hv1": ("nve1", 1), "hv3": ("nve1", 2), "hv2": ("nve2", 1), "hv4": ("nve2", 2)}


def controller_config(name: str, switch: str, grpc_addr: str, signalling_port: int,
                      database: Path, endpoints: list[str], lease_ttl: int = LEASE_TTL) -> str:
    """The TOML of a controller that manages `switch` alone and shares locations over etcd."""
    vtep, mac, remote, next_hop = SWITCHES[switch]
    hypervisors = "".join(
        f'\n[[hypervisor]]\nname = "{hv}"\nswitch = "{sw}"\nports = [{port}]\n'
        f'vns = ["blue", "red"]\n'
        for hv, (sw, port) in HYPERVISORS.items() if sw == switch)
    return f'''# {name}: one controller per NVE, locations shared through etcd
[controller]
aging_time = 120.0
signalling_addr = "127.0.0.1:{signalling_port}"
database = "{database}"
operators = ["admin"]

[tls]
insecure = true

[store]
kind = "etcd"
endpoints = [{", ".join(f'"{e}"' for e in endpoints)}]
lease_ttl = {lease_ttl}
controller_id = "{name}"
request_timeout = 1.5
connect_timeout = 20.0

[[switch]]
name = "{switch}"
grpc_addr = "{grpc_addr}"
device_id = 1
vtep_ip = "{vtep}"
router_mac = "{mac}"
access_ports = [1, 2, 3]
network_ports = [4]
route = [{{ prefix = "{remote}", port = 4, next_hop_mac = "{next_hop}" }}]

[[vn]]
name = "blue"
vni = 5001
default_action = "permit"

[[vn]]
name = "red"
vni = 5002
default_action = "permit"
{hypervisors}'''


class ControllerProcess:
    """`nvectl serve` for one NVE, as its own process."""

    def __init__(self, name: str, switch: str, root: Path, fabric: Fabric,
                 endpoints: list[str]) -> None:
        self.name = name
        self.switch = switch
        self.port = free_port()
        self.config = root / f"{name}.toml"
        self.log = root / f"{name}.log"
        self.config.write_text(controller_config(name, switch, fabric.grpc_addr(switch),
                                                 self.port, root / f"{name}.db", endpoints))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controlplane.cli", "serve", "--config", str(self.config),
                 "--insecure"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)

    async def ready(self, timeout: float = 40.0) -> None:
        async def up() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.tail()}")
            try:
                async with NveClient(self.address, None, identity="admin", timeout=1.0) as c:
                    await c.list_vns()
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False
        try:
            await eventually(up, timeout, f"controller {self.name}")
        except AssertionError:
            print(self.tail(), file=sys.stderr)
            raise

    def tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def client(self, identity: str) -> NveClient:
        return NveClient(self.address, None, identity=identity, timeout=15.0)

    async def kill(self) -> None:
        """SIGKILL: a controller that dies without a word (its lease is left to expire)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)


class Lab:
    """etcd + two switches + one controller per switch."""

    def __init__(self, root: Path, etcd: EtcdCluster, fabric: Fabric,
                 endpoints: list[str] | None = None) -> None:
        self.root = root
        self.etcd = etcd
        self.fabric = fabric
        endpoints = endpoints or etcd.endpoints
        self.controllers = {
            "ctl1": ControllerProcess("ctl1", "nve1", root, fabric, endpoints),
            "ctl2": ControllerProcess("ctl2", "nve2", root, fabric, endpoints),
        }

    def ctl(self, hypervisor: str) -> ControllerProcess:
        switch = HYPERVISORS[hypervisor][0]
        return next(c for c in self.controllers.values() if c.switch == switch)

    async def start(self) -> None:
        for ctl in self.controllers.values():
            ctl.start()
        await asyncio.gather(*(ctl.ready() for ctl in self.controllers.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(ctl.stop() for ctl in self.controllers.values()))

    def logs(self) -> str:
        return "\n".join(f"==== {c.name}\n{c.tail()}" for c in self.controllers.values())


# -- scenario helpers ---------------------------------------------------------------------------
VM_A = "aaaaaaaa-0000-0000-0000-000000000001"
VM_B = "bbbbbbbb-0000-0000-0000-000000000002"
VM_C = "cccccccc-0000-0000-0000-000000000003"
VM_D = "dddddddd-0000-0000-0000-000000000004"
MAC_A, MAC_B, MAC_C, MAC_D = (f"52:54:00:00:00:{n:02x}" for n in (0xA, 0xB, 0xC, 0xD))
BROADCAST = "ff:ff:ff:ff:ff:ff"


def request(event: Event, vm_id: str, mac: str, hv: str, vn: str = "blue") -> VmRequest:
    """A request of hypervisor `hv` for a VM with one MAC, at hv's switch and port."""
    nve, port = HYPERVISORS[hv]
    return VmRequest(event, vm_id, VnSelector(name=vn), macs=(parse_mac(mac),), nve=nve,
                     port=port)


async def delivered(net: Lab, nve: str, port: int, frame: bytes, at: tuple[str, int],
                    timeout: float = 10.0) -> list[bytes]:
    """Send `frame` until it comes out at `at` (remote locations arrive through the watch)."""
    async def attempt() -> list[bytes] | None:
        return (await net.fabric.send(nve, port, frame)).get(at)
    return await eventually(attempt, timeout, f"frame to come out at {at}")


async def owner(net: Lab, vm_id: str) -> dict[str, Any]:
    """The VM's value in etcd ({} when it has no key)."""
    client = net.etcd.client()
    try:
        response = await client.range(f"/nve/v1/vms/{vm_id}".encode())
    finally:
        await client.close()
    return json.loads(response.kvs[0].value) if response.kvs else {}


async def states(net: Lab, vm_id: str) -> dict[str, str]:
    """Controller name -> the VM's state there."""
    out = {}
    for name, ctl in net.controllers.items():
        async with ctl.client("admin") as admin:
            for view in await admin.list_vms():
                if view.vm_id == vm_id:
                    out[name] = view.state
    return out


def collect(client: NveClient, into: list[Notification]) -> asyncio.Task[None]:
    """Append `client`'s notifications to `into` until the task is cancelled."""
    async def listen() -> None:
        async for note in client.notifications():
            into.append(note)
    return asyncio.create_task(listen())
