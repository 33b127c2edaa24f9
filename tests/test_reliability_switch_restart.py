"""A switch killed (SIGKILL) and restarted under a running controller.

nve2 runs as a child process (the embedded target with UDP ports; bmv2's simple_switch_grpc on
veth pairs in a private network namespace when it is installed and we are root), nve1 in this
process. The controller must notice the loss, refuse what it cannot write (and roll the other
switch back), then re-push the pipeline and every entry once the switch is back: the tables read
back equal the desired state and frames from nve1 reach the VM behind nve2 again. The times are
printed (README: Reliability).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from scapy.layers.l2 import Dot1Q, Ether

from controlplane.app import Controller
from controlplane.config import load_config
from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import FailReason, VmRequest, VnSelector, parse_mac
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
sys.path.insert(0, str(Path(__file__).parent))
import rlab
from controller_lab import vm_frame

VM_A, MAC_A = "aaaaaaaa-0000-4000-8000-000000000001", "52:54:00:00:0a:01"
VM_B, MAC_B = "bbbbbbbb-0000-4000-8000-000000000002", "52:54:00:00:0b:02"
VM_C, MAC_C = "cccccccc-0000-4000-8000-000000000003", "52:54:00:00:0c:03"
NETWORK_PORT = 4
VLAN_TAGGED = b"\x81\x00"


def associate(vm: str, mac: str, nve: str) -> VmRequest:
    return VmRequest(Event.ASSOCIATE, vm, VnSelector(name="blue"), macs=(parse_mac(mac),),
                     nve=nve, port=1)


class Wire:
    """Carries nve1's network-port frames to nve2 and returns what nve2 sends to its port 1."""

    def __init__(self, nve1: SoftSwitch,
                 deliver: Callable[[list[bytes]], Awaitable[list[bytes]]]) -> None:
        self.nve1 = nve1
        self.deliver = deliver

    async def a_to_b(self, frame: bytes) -> list[bytes]:
        self.nve1.ports.inject(1, frame)  # type: ignore[attr-defined]
        await self.nve1.settle()
        out = self.nve1.ports.take_all()  # type: ignore[attr-defined]
        encapsulated = out.get(NETWORK_PORT, [])
        return await self.deliver(encapsulated) if encapsulated else []


async def scenario(tmp_path: Path, nve2_addr: str, start_nve2: Callable[[], Awaitable[None]],
                   kill_nve2: Callable[[], None], deliver, target: str) -> dict[str, float]:
    """The common part: VMs on both switches, kill, refuse, restart, restore, forward."""
    nve1 = SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                      grpc_addr="127.0.0.1:0")
    await nve1.start()
    await start_nve2()
    config = rlab.render_config(tmp_path, f"127.0.0.1:{nve1.grpc_port}", nve2_addr, 0,
                                tmp_path / "nve.db")
    cfg = load_config(config)
    wire = Wire(nve1, deliver)
    figures: dict[str, float] = {}
    try:
        async with Controller(cfg, insecure=True) as ctl:
            address = f"127.0.0.1:{ctl.port}"
            assert ctl.service is not None
            agent = ctl.service.agents["nve2"]
            async with NveClient(address, None, "hv1") as hv1, NveClient(address, None, "hv2") as hv2:
                a = await hv1.signal(associate(VM_A, MAC_A, "nve1"))
                b = await hv2.signal(associate(VM_B, MAC_B, "nve2"))
                assert a.success and b.success, (a, b)
                frame = vm_frame(MAC_A, MAC_B, a.vid)
                delivered = await wire.a_to_b(frame)
                assert [Ether(f)[Dot1Q].vlan for f in delivered] == [b.vid]
                pushes = agent.pipeline_pushes
                nve1_before = await rlab.read_switch(f"127.0.0.1:{nve1.grpc_port}")

                killed = time.monotonic()
                kill_nve2()
                while agent.connected:                              # the watcher notices
                    assert time.monotonic() - killed < 10, "the controller did not notice"
                    await asyncio.sleep(0.02)
                figures["noticed_s"] = time.monotonic() - killed

                # While nve2 is away, a change that needs it is refused and nve1 rolled back.
                down = await hv1.signal(associate(VM_C, MAC_C, "nve1"))
                assert down.reason is FailReason.BUSY, down
                assert "nve2" in down.detail or "UNAVAILABLE" in down.detail or "not connected" in down.detail, down
                assert await rlab.read_switch(f"127.0.0.1:{nve1.grpc_port}") == nve1_before

                restarted = time.monotonic()
                await start_nve2()
                figures["switch_start_s"] = time.monotonic() - restarted
                while not (agent.connected and agent.pipeline_pushes > pushes):
                    assert time.monotonic() - restarted < 30, "pipeline not re-pushed"
                    await asyncio.sleep(0.02)
                # Entries are restored right after the pipeline push, in the same step.
                wanted = rlab.expected(cfg, "nve2", ctl.service.records.values())
                while True:
                    found = await rlab.read_switch(nve2_addr)
                    if found == wanted:
                        break
                    assert time.monotonic() - restarted < 30, rlab.difference(found, wanted)
                    await asyncio.sleep(0.05)
                figures["restored_s"] = time.monotonic() - restarted
                while True:
                    delivered = await wire.a_to_b(frame)
                    if [Ether(f)[Dot1Q].vlan for f in delivered] == [b.vid]:
                        break
                    assert time.monotonic() - restarted < 30, "forwarding did not resume"
                    await asyncio.sleep(0.05)
                figures["forwarding_s"] = time.monotonic() - restarted
                figures["entries"] = float(sum(wanted.values()))
                assert agent.pipeline_pushes == pushes + 1
                again = await hv1.signal(associate(VM_C, MAC_C, "nve1"))
                assert again.success, again
    finally:
        await nve1.stop()
    print(f"\n{target}: killed; noticed in {figures['noticed_s']:.2f} s; after restart: "
          f"listening {figures['switch_start_s']:.2f} s, pipeline + {figures['entries']:.0f} "
          f"entries restored {figures['restored_s']:.2f} s, forwarding {figures['forwarding_s']:.2f} s")
    return figures


async def test_embedded_switch_killed_and_restarted(tmp_path: Path) -> None:
    grpc_port = rlab.free_port()
    sockets = {n: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for n in (1, 4)}
    for sock in sockets.values():
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
    switch_side = {n: rlab.free_port(socket.SOCK_DGRAM) for n in (1, 4)}
    ports = {n: (switch_side[n], sockets[n].getsockname()[1]) for n in (1, 4)}
    log = tmp_path / "nve2.log"
    child: list[rlab.Child] = []

    async def start() -> None:
        child.append(rlab.softswitch_child(grpc_port, ports, log).start())
        await rlab.wait_listening(grpc_port, child[-1])

    def kill() -> None:
        child[-1].kill9()

    async def deliver(frames: list[bytes]) -> list[bytes]:
        loop = asyncio.get_running_loop()
        while True:                                     # drop anything left from earlier
            try:
                sockets[1].recv(65535)
            except BlockingIOError:
                break
        for frame in frames:
            sockets[4].sendto(frame, ("127.0.0.1", switch_side[4]))
        deadline = loop.time() + 1.0
        while (left := deadline - loop.time()) > 0:
            try:
                frame = await asyncio.wait_for(loop.sock_recv(sockets[1], 65535), left)
            except TimeoutError:
                break
            if frame[12:14] == VLAN_TAGGED:             # not the NVE's own LLDP or ECP
                return [frame]
        return []

    try:
        await scenario(tmp_path, f"127.0.0.1:{grpc_port}", start, kill, deliver, "embedded")
    finally:
        for c in child:
            c.stop()
        for sock in sockets.values():
            sock.close()


# -- bmv2 -------------------------------------------------------------------------------------

def _simple_switch_grpc() -> str | None:
    prefix = Path(os.environ.get("P4_TOOLCHAIN_PREFIX", "/opt/p4-toolchain"))
    found = shutil.which("simple_switch_grpc")
    candidate = prefix / "bin" / "simple_switch_grpc"
    return found or (str(candidate) if candidate.is_file() else None)


SIMPLE_SWITCH_GRPC = _simple_switch_grpc()
FRAMES_HELPER = Path(__file__).parent / "data" / "reliability" / "netns_frames.py"


@pytest.mark.skipif(SIMPLE_SWITCH_GRPC is None, reason="bmv2 simple_switch_grpc not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace and veths")
@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 'ip' not installed")
async def test_bmv2_switch_killed_and_restarted(tmp_path: Path) -> None:
    """bmv2 in a network namespace of our own; P4Runtime over a Unix socket, frames through
    veth pairs (a helper in the namespace sends and captures them)."""
    netns = f"nve-rel-{os.getpid()}"
    sock_path = tmp_path / "bmv2.sock"
    address = f"unix:{sock_path}"
    in_ns = ["ip", "netns", "exec", netns]
    subprocess.run(["ip", "netns", "add", netns], check=True)
    child: list[rlab.Child] = []
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        for n in (1, 4):
            subprocess.run(["ip", "-n", netns, "link", "add", f"sw{n}", "type", "veth", "peer",
                            "name", f"h{n}"], check=True)
            for end in (f"sw{n}", f"h{n}"):
                subprocess.run(["ip", "-n", netns, "link", "set", end, "up"], check=True)
        for flag in ("all", "default"):
            subprocess.run([*in_ns, "sysctl", "-qw", f"net.ipv6.conf.{flag}.disable_ipv6=1"],
                           check=False)
        log = tmp_path / "bmv2.log"

        async def start() -> None:
            if sock_path.exists():
                sock_path.unlink()
            child.append(rlab.Child([*in_ns, SIMPLE_SWITCH_GRPC, "--no-p4", "--device-id", "1",
                                     "-i", "1@sw1", "-i", "4@sw4", "--", "--grpc-server-addr",
                                     address, "--cpu-port", "255"], log).start())
            started = time.monotonic()
            while not sock_path.exists():
                assert child[-1].alive, child[-1].tail()
                assert time.monotonic() - started < 30, "bmv2 did not listen"
                await asyncio.sleep(0.05)

        def kill() -> None:
            # SIGKILL the switch itself (the child is `ip netns exec`, which execs it).
            child[-1].kill9()

        async def deliver(frames: list[bytes]) -> list[bytes]:
            argv = [*in_ns, sys.executable, str(FRAMES_HELPER), "--send", "h4", "--capture", "h1",
                    *[f.hex() for f in frames]]
            proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            return [bytes.fromhex(line) for line in out.decode().split()]

        await scenario(tmp_path, address, start, kill, deliver, "bmv2")
    finally:
        for c in child:
            c.stop()
        subprocess.run(["ip", "netns", "del", netns], check=False)
