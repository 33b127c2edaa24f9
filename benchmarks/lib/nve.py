"""The NVE under test: a controller configuration for the switches of a fabric, the controller
itself (in this process, as `nvectl serve` runs it), the VMs the benchmarks signal or seed, their
probe frames, and the raw P4Runtime baselines measured on the same switches.

Layout: NVE k (k = 1, 2) has VTEP 10.0.k.1, access ports 1-3 and network port 4; hypervisors
hv<k>-<j> (j = 0..HV_PER_NVE-1) sit on access port ACCESS_PORTS[j % 3] and may join every VN.
VNs are vn000..vnNNN with VNI 10000+i, each with one ACL rule (deny TCP/22 from its VAPs).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.lib.targets import ACCESS_PORTS, CPU_PORT, DEVICE_ID, NETWORK_PORT, Switch
from controlplane.app import Controller
from controlplane.artifacts import BMV2_JSON, P4INFO
from controlplane.config import ControllerConfig, config_from_dict
from controlplane.intent import DesiredState
from controlplane.lifecycle import Event, Phase, State
from controlplane.model import Origin, VmRecord
from controlplane.p4rt import p4names as P
from controlplane.p4rt.batcher import batches
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.diff import diff
from controlplane.p4rt.entries import Entry, Exact, MulticastGroup, Update, WriteOp
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import VmRefRequest, VmRequest, VnSelector
from controlplane.store.sqlite import VmStore

HV_PER_NVE = 4
VNI_BASE = 10000
MAC_BASE = 0x525400000000
AGING_TIME = 86400.0             # nothing ages out during a benchmark
VXLAN_UDP_PORT = 4789


def vn_name(index: int) -> str:
    """'vn007'."""
    return f"vn{index:03d}"


def hv_name(nve: int, index: int) -> str:
    """'hv1-0': hypervisor `index` on NVE `nve` (1-based)."""
    return f"hv{nve}-{index}"


def hv_port(index: int) -> int:
    """The access port of hypervisor `index` of its NVE."""
    return ACCESS_PORTS[index % len(ACCESS_PORTS)]


def controller_config(switches: dict[str, Switch], vns: int, database: Path,
                      hv_per_nve: int = HV_PER_NVE) -> ControllerConfig:
    """The controller's configuration for the fabric's switches (named nve1, nve2, ...)."""
    names = list(switches)
    raw: dict[str, Any] = {
        "controller": {"aging_time": AGING_TIME, "signalling_addr": "127.0.0.1:0",
                       "database": str(database), "operators": ["admin"]},
        "tls": {"insecure": True},
        "switch": [],
        "vn": [{"name": vn_name(i), "vni": VNI_BASE + i, "default_action": "permit",
                "acl": [{"priority": 100, "action": "deny", "direction": "from_vap",
                         "ip_proto": 6, "l4_dport": 22}]}
               for i in range(vns)],
        "hypervisor": [],
    }
    for k, name in enumerate(names, start=1):
        raw["switch"].append({
            "name": name, "grpc_addr": switches[name].grpc_addr, "device_id": DEVICE_ID,
            "vtep_ip": f"10.0.{k}.1", "router_mac": f"02:00:00:00:0{k}:01",
            "access_ports": list(ACCESS_PORTS), "network_ports": [NETWORK_PORT],
            "cpu_port": CPU_PORT,
            "route": [{"prefix": f"10.0.{j}.0/24", "port": NETWORK_PORT,
                       "next_hop_mac": f"02:00:00:00:fe:0{k}"}
                      for j in range(1, len(names) + 1) if j != k]})
        for j in range(hv_per_nve):
            raw["hypervisor"].append({"name": hv_name(k, j), "switch": name,
                                      "ports": [hv_port(j)], "vns": [vn_name(i) for i in range(vns)]})
    return config_from_dict(raw, base=database.parent)


def _controller_kwargs() -> dict[str, Any]:
    """Turn the per-hypervisor rate limit off when this controller has one: a benchmark is a
    deliberate flood."""
    params = inspect.signature(Controller).parameters
    if "rate_limit" not in params:
        return {}
    from controlplane.ratelimit import RateLimit

    return {"rate_limit": RateLimit(rate=0.0)}


@contextlib.asynccontextmanager
async def running_controller(cfg: ControllerConfig) -> AsyncIterator[Controller]:
    """The controller, up (switches reconciled, signalling served) for the block."""
    async with Controller(cfg, insecure=True, **_controller_kwargs()) as ctl:
        yield ctl


def client(ctl: Controller, identity: str) -> NveClient:
    """A signalling client speaking as `identity` (insecure lab mode)."""
    return NveClient(f"127.0.0.1:{ctl.port}", None, identity=identity)


def total_updates(ctl: Controller) -> int:
    """Updates the controller's agents wrote since it started."""
    assert ctl.service is not None
    return sum(agent.stats.updates for agent in ctl.service.agents.values())


# -- the VMs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Vm:
    """A VM as its hypervisor signals it (with the VID it asks for) and probes it."""

    index: int
    vm_id: str
    nve: int                       # 1-based
    hv: str
    port: int
    vn: int                        # VN index
    macs: tuple[int, ...]
    vid: int

    @property
    def vni(self) -> int:
        return VNI_BASE + self.vn

    @property
    def switch(self) -> str:
        return f"nve{self.nve}"

    def request(self, event: Event = Event.ASSOCIATE) -> VmRequest:
        """The request that carries its properties."""
        return VmRequest(event, self.vm_id, VnSelector(name=vn_name(self.vn)), macs=self.macs,
                         nve=self.switch, port=self.port, requested_vid=self.vid)

    def ref(self, event: Event) -> VmRefRequest:
        """A request that names it only (terminate, ...)."""
        return VmRefRequest(event, self.vm_id)

    def record(self, vap_id: int, now: float) -> VmRecord:
        """The record the controller keeps once it is associated (for seeding the store)."""
        return VmRecord(vm_id=self.vm_id, hypervisor=self.hv, switch=self.switch,
                        port=self.port, vni=self.vni, macs=tuple(sorted(self.macs)), ipv4=(),
                        ipv6=(), vid=self.vid, pcp=0, vap_id=vap_id,
                        phase=Phase(State.ASSOCIATED), last_seen=now, origin=Origin.GRPC)


def plan_vms(count: int, *, nves: int = 2, vns: int = 1, macs: int = 1,
             hv_per_nve: int = HV_PER_NVE, first: int = 0, nve: int | None = None) -> list[Vm]:
    """`count` VMs numbered from `first`, spread round-robin over the NVEs (or all on `nve`),
    their hypervisors and the VNs; VIDs per (NVE, port) from 2 and MACs unique."""
    vms = []
    used: dict[tuple[int, int], int] = {}
    for i in range(first, first + count):
        k = nve if nve is not None else 1 + i % nves
        j = (i // nves) % hv_per_nve
        port = hv_port(j)
        vid = 2 + used.get((k, port), 0)
        used[(k, port)] = used.get((k, port), 0) + 1
        vms.append(Vm(index=i, vm_id=f"{i:08x}-0000-4000-8000-{k:012x}", nve=k,
                      hv=hv_name(k, j), port=port, vn=(i // nves) % vns,
                      macs=tuple(MAC_BASE + (i << 4) + m for m in range(macs)), vid=vid))
    return vms


def seed_store(database: Path, vms: Sequence[Vm]) -> float:
    """Write the records of `vms` as associated into the controller's database (one
    transaction), as a controller that had signalled them would have; seconds taken."""
    vap_ids: dict[str, int] = {}
    now = time.time()
    records = []
    for vm in vms:
        vap_ids[vm.switch] = vap_ids.get(vm.switch, 0) + 1
        records.append(vm.record(vap_ids[vm.switch], now))
    started = time.perf_counter()
    store = VmStore(database)
    try:
        store.commit(records, [])
    finally:
        store.close()
    return time.perf_counter() - started


# -- frames -------------------------------------------------------------------------------------

def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vm_frame(src_mac: int, dst_mac: int, vid: int, tag: int = 0) -> bytes:
    """A VM's UDP frame as its hypervisor sends it, tagged with the VM's VID; `tag` goes in the
    payload."""
    payload = struct.pack("!4sI", b"NVEB", tag) + b"x" * 24
    udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                               socket.inet_aton("192.168.0.1"), socket.inet_aton("192.168.0.2")))
    struct.pack_into("!H", ip, 10, _checksum(bytes(ip)))
    return (dst_mac.to_bytes(6, "big") + src_mac.to_bytes(6, "big")
            + struct.pack("!HHH", 0x8100, vid & 0xFFF, 0x0800) + bytes(ip) + udp)


@dataclass(frozen=True)
class Vxlan:
    """What a VXLAN frame out of a network port carries."""

    vni: int
    dst_ip: str
    inner_dst: int
    inner_src: int


def parse_vxlan(frame: bytes) -> Vxlan | None:
    """The VXLAN fields of an untagged IPv4/UDP/4789 frame, None for anything else."""
    if len(frame) < 64 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    if int.from_bytes(frame[udp + 2:udp + 4], "big") != VXLAN_UDP_PORT:
        return None
    inner = udp + 16
    return Vxlan(vni=int.from_bytes(frame[udp + 12:udp + 15], "big"),
                 dst_ip=socket.inet_ntoa(frame[30:34]),
                 inner_dst=int.from_bytes(frame[inner:inner + 6], "big"),
                 inner_src=int.from_bytes(frame[inner + 6:inner + 12], "big"))


def inner_vid(frame: bytes) -> int | None:
    """The VID of a tagged frame delivered to an access port."""
    if frame[12:14] != b"\x81\x00":
        return None
    return int.from_bytes(frame[14:16], "big") & 0xFFF


class FrameWatch:
    """Time-stamps every frame a switch sends out of one port, as it arrives (asyncio reader)."""

    def __init__(self, switch: Switch, port: int) -> None:
        self.switch, self.port = switch, port
        self.arrivals: list[tuple[float, bytes]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(switch.fileno(port), self._readable)

    def _readable(self) -> None:
        now = time.perf_counter()
        for frame in self.switch.receive(self.port):
            self.arrivals.append((now, frame))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:
        """Until something arrives or `timeout` seconds pass."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, timeout)

    def take(self) -> list[tuple[float, bytes]]:
        """The arrivals so far, forgotten."""
        arrivals, self.arrivals = self.arrivals, []
        return arrivals

    def close(self) -> None:
        self._loop.remove_reader(self.switch.fileno(self.port))


# -- the raw baselines --------------------------------------------------------------------------

_last_election = 0


def election_id() -> int:
    """An election id above every one used before (the controller's are milliseconds)."""
    global _last_election
    _last_election = max(int(time.time() * 1000) + 1, _last_election + 1)
    return _last_election


@contextlib.asynccontextmanager
async def raw_client(switch: Switch, *, force_pipeline: bool = False
                     ) -> AsyncIterator[P4RuntimeClient]:
    """A primary P4Runtime client of `switch` running the NVE pipeline (pushed when missing, or
    always with `force_pipeline`, which empties every table)."""
    async with P4RuntimeClient() as raw:
        await raw.connect(switch.grpc_addr, device_id=DEVICE_ID, election_id=election_id())
        await raw.set_pipeline(P4INFO, BMV2_JSON, force=force_pipeline)
        yield raw


def _probe_entry(index: int) -> Entry:
    return Entry(P.FDB, {P.FDB_VNI: Exact(0xFFFFF0), P.FDB_ETH_DST: Exact(0x0EFF00000000 + index)},
                 P.FORWARD_REMOTE, {P.FORWARD_REMOTE_VTEP_IP: 0x0A00FE01})


async def raw_write_rtts(switch: Switch, count: int) -> list[float]:
    """Seconds of `count` single-update Write round trips (an FDB INSERT, then its DELETE, ...)
    through the controller's own P4Runtime client: the raw cost the controller pays per Write."""
    rtts = []
    async with raw_client(switch) as raw:
        for i in range(count):
            entry = _probe_entry(i // 2)
            op = WriteOp.INSERT if i % 2 == 0 else WriteOp.DELETE
            update = [Update(op, entry)]
            started = time.perf_counter()
            await raw.write(update)
            rtts.append(time.perf_counter() - started)
        if count % 2:
            await raw.write([Update(WriteOp.DELETE, _probe_entry(count // 2))])
    return rtts


async def wipe(raw: P4RuntimeClient, switch: Switch) -> None:
    """Empty every table and multicast group of `switch`. bmv2 gets explicit DELETEs: a new
    pipeline would empty its tables but not free its multicast nodes (its PRE holds 4,096 L1
    nodes in all, so they would run out); the embedded switch gets the pipeline again."""
    if switch.kind != "bmv2":
        await raw.set_pipeline(P4INFO, BMV2_JSON, force=True)
        return
    held: set[Entry | MulticastGroup] = set(await raw.read_table_entries())
    held |= set(await raw.read_multicast_groups())
    await raw.write_batches([batch[i:i + 1000] for batch in batches(diff(set(), held))
                             for i in range(0, len(batch), 1000)])


async def raw_batched_write(switch: Switch, entries: Iterable[Entry | MulticastGroup],
                            preload: Iterable[Entry | MulticastGroup] = (), chunk: int = 1000
                            ) -> tuple[float, int, int]:
    """Empty `switch`, write `preload` (not timed), then write `entries` in dependency order,
    `chunk` updates per WriteRequest, through the controller's own P4Runtime client; (seconds
    of the timed writes, updates, WriteRequests)."""
    preload = set(preload)
    async with raw_client(switch) as raw:
        await wipe(raw, switch)
        await raw.write_batches(batches(diff(preload, set())))
        changes = diff(set(entries) | preload, preload)
        requests = [batch[i:i + chunk] for batch in batches(changes)
                    for i in range(0, len(batch), chunk)]
        started = time.perf_counter()
        await raw.write_batches(requests)
        return time.perf_counter() - started, len(changes), len(requests)


def split_desired(desired: DesiredState, base: DesiredState) -> list[Entry | MulticastGroup]:
    """The entries and groups of `desired` that `base` does not hold."""
    return sorted((desired.entries | desired.groups) - (base.entries | base.groups), key=repr)


def table_counts(desired: DesiredState) -> dict[str, int]:
    """Entries per table (short name) of a desired state."""
    counts: dict[str, int] = {}
    for entry in desired.entries:
        table = entry.table.rsplit(".", 1)[-1]
        counts[table] = counts.get(table, 0) + 1
    counts["multicast_groups"] = len(desired.groups)
    counts["multicast_replicas"] = sum(len(group.replicas) for group in desired.groups)
    return counts


NOT_TABLES = ("multicast_groups", "multicast_replicas")
BMV2_PRE_NODES = 4096
"""bmv2's packet replication engine holds 4,096 L1 nodes (one per replica) in all."""


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
