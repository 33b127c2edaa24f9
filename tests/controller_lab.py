"""An in-process lab for controller tests: two embedded switches joined by an underlay, and the
controller, all on loopback with no root."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from controlplane.app import Controller
from controlplane.config import ControllerConfig, load_config
from controlplane.signalling.grpc_client import NveClient
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

CONFIG = Path(__file__).parent / "data" / "controller" / "two_nves.toml"
NETWORK_PORT = 4
CPU_PORT = 255


class Lab:
    """Two switches, the controller, and a way to pass frames through them."""

    def __init__(self, cfg: ControllerConfig, switches: dict[str, SoftSwitch]) -> None:
        self.cfg = cfg
        self.switches = switches
        self.controller: Controller | None = None

    @property
    def service(self):  # noqa: ANN201 - NveService
        assert self.controller is not None and self.controller.service is not None
        return self.controller.service

    def client(self, identity: str) -> NveClient:
        """A signalling client speaking as hypervisor `identity` (insecure lab mode)."""
        assert self.controller is not None
        return NveClient(f"127.0.0.1:{self.controller.port}", None, identity=identity)

    async def send(self, nve: str, port: int, frame: bytes) -> dict[tuple[str, int], list[bytes]]:
        """Inject a frame and carry it across the underlay; every frame that leaves an access
        port (or the network toward an unknown VTEP) is returned by (switch, port)."""
        out: dict[tuple[str, int], list[bytes]] = {}
        self.switches[nve].ports.inject(port, frame)  # type: ignore[attr-defined]
        for _ in range(4):
            moved = False
            for name, sw in self.switches.items():
                await sw.settle()
                for out_port, frames in sw.ports.take_all().items():  # type: ignore[attr-defined]
                    if out_port == NETWORK_PORT:
                        for peer_name, peer in self.switches.items():
                            if peer_name != name:
                                for f in frames:
                                    peer.ports.inject(NETWORK_PORT, f)  # type: ignore[attr-defined]
                                    moved = True
                        out.setdefault((name, out_port), []).extend(frames)
                    else:
                        out.setdefault((name, out_port), []).extend(frames)
            if not moved:
                break
        return {k: v for k, v in out.items() if v}

    @asynccontextmanager
    async def running_controller(self) -> AsyncIterator[Controller]:
        """The controller, up for the duration of the block."""
        async with Controller(self.cfg, insecure=True) as ctl:
            self.controller = ctl
            try:
                yield ctl
            finally:
                self.controller = None


@asynccontextmanager
async def lab(tmp_path: Path, aging_time: float = 30.0) -> AsyncIterator[Lab]:
    """Both switches up; the controller is started with lab.running_controller()."""
    cfg = load_config(CONFIG)
    switches = {sw.name: SoftSwitch(ports=MemoryPorts([1, 2, 3, NETWORK_PORT]), device_id=1,
                                    cpu_port=CPU_PORT, grpc_addr="127.0.0.1:0")
                for sw in cfg.switches}
    for sw in switches.values():
        await sw.start()
    try:
        cfg = dataclasses.replace(
            cfg, aging_time=aging_time, database=tmp_path / "nve.db",
            switches=tuple(dataclasses.replace(sw, grpc_addr=f"127.0.0.1:{switches[sw.name].grpc_port}")
                           for sw in cfg.switches))
        yield Lab(cfg, switches)
    finally:
        for sw in switches.values():
            await sw.stop()


def vm_frame(src: str, dst: str, vid: int, pcp: int = 0, dport: int = 80) -> bytes:
    """A VM's frame as its hypervisor sends it: tagged with the VID the NVE assigned."""
    return bytes(Ether(src=src, dst=dst) / Dot1Q(vlan=vid, prio=pcp)
                 / IP(src="192.168.10.1", dst="192.168.10.2") / UDP(sport=1234, dport=dport)
                 / (b"x" * 32))


async def settle_all(switches: dict[str, SoftSwitch]) -> None:
    """Let every switch finish what it received."""
    await asyncio.gather(*(sw.settle() for sw in switches.values()))
