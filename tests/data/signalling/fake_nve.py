"""Test helpers for the gRPC signalling layer: a fake NveApi and ways to serve it on loopback.

Imported by tests/test_signalling_*.py and tests/test_nvectl*.py (which put this folder on
sys.path, as the engine tests do with tests/data/engine).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import grpc

from controlplane.lifecycle import Event
from controlplane.signalling.grpc_api import start_servers
from controlplane.signalling.messages import (
    Answer,
    CounterView,
    FailReason,
    Notification,
    NotificationKind,
    PortView,
    Refused,
    Request,
    TableRow,
    TableView,
    VmRequest,
    VmView,
    VnSelector,
    VnView,
)
from controlplane.signalling.tls import TlsMaterial

T = TypeVar("T")

VM_ID = "6f1c7a52-8f38-4a8e-9d1b-0c4d2f8e9a10"
OTHER_VM_ID = "0b9e6d1a-2c3f-4e5a-8b7c-9d0e1f2a3b4c"
KNOWN_NVES = ("nve1", "nve2")

VM_VIEWS = [
    VmView(
        VM_ID,
        "hv1",
        "nve1",
        1,
        5001,
        "blue",
        ("52:54:00:12:34:56",),
        ("10.0.0.5",),
        100,
        3,
        7,
        "associated",
        "grpc",
        1.25,
    ),
    VmView(
        OTHER_VM_ID,
        "hv2",
        "nve2",
        2,
        5002,
        "red",
        ("52:54:00:00:00:02", "52:54:00:00:00:03"),
        (),
        201,
        0,
        8,
        "suspended",
        "vdp",
        42.0,
    ),
]
VN_VIEWS = [
    VnView("blue", 5001, "deny", 3, ("nve1", "nve2"), 1),
    VnView("red", 5002, "permit", 0, ("nve2",), 1),
]
PORT_VIEWS = [PortView("nve1", 1, "access", 1, 4093), PortView("nve1", 9, "network", 0, 0)]
TABLE_VIEW = TableView(
    rows=(
        TableRow("port_vlan_to_vni", "port=1 vlan_id=100", 0, "set_vni", "vni=5001", 10, 640),
        TableRow("fdb_local", "vni=5001 dst=52:54:00:12:34:56", 0, "forward", "port=1"),
    ),
    occupancy={"port_vlan_to_vni": 1, "fdb_local": 1},
    capacity={"port_vlan_to_vni": 1024, "fdb_local": 4096, "acl": 512},
)
COUNTER_VIEWS = [
    CounterView("ingress_drops", 3, "ingress drops", 12, 768),
    CounterView("vap_counter", 7, f"vm {VM_ID}", 1000, 64000),
]

VM_REQUEST = VmRequest(
    event=Event.ASSOCIATE,
    vm_id=VM_ID,
    vn=VnSelector(vni=5001),
    macs=(0x525400123456, 0x525400123457),
    ipv4=(0x0A000005,),
    ipv6=("2001:db8::5",),
    nve="nve1",
    port=1,
    requested_vid=100,
    vm_class="gold",
    reserve_resources=True,
)
SUCCESS = Answer(None, vid=100, pcp=3, state="associated")
NOTIFICATIONS = [
    Notification(NotificationKind.VID_CHANGED, VM_ID, "hv1", old_vid=100, new_vid=120),
    Notification(NotificationKind.AGED_OUT, VM_ID, "hv1"),
    Notification(NotificationKind.POLICY_CHANGED, VM_ID, "hv1", pcp=5, detail="class gold"),
    Notification(NotificationKind.DISPLACED, VM_ID, "hv1", new_nve="nve2"),
]


@dataclass
class FakeNveApi:
    """Records every call and answers with canned values; implements NveApi."""

    answer: Answer = SUCCESS
    refuse_reads: Refused | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    streams: dict[str, asyncio.Queue[Notification | None]] = field(default_factory=dict)
    subscribed: threading.Event = field(default_factory=threading.Event)
    closed: list[str] = field(default_factory=list)

    async def signal(self, identity: str, request: Request) -> Answer:
        """Record; the canned answer."""
        self.calls.append(("signal", identity, request))
        return self.answer

    async def notifications(self, identity: str) -> AsyncIterator[Notification]:
        """What `publish` sends to `identity`; ends at a None (or when the caller stops)."""
        queue = self.streams.setdefault(identity, asyncio.Queue())
        self.subscribed.set()
        try:
            while (notification := await queue.get()) is not None:
                yield notification
        finally:
            self.closed.append(identity)

    def publish(self, identity: str, *notifications: Notification | None) -> None:
        """Queue notifications (None ends the stream) for `identity`, subscribed or not yet."""
        queue = self.streams.setdefault(identity, asyncio.Queue())
        for notification in notifications:
            queue.put_nowait(notification)

    async def list_vms(self) -> list[VmView]:
        """VM_VIEWS."""
        self.calls.append(("list_vms",))
        return VM_VIEWS

    async def list_vns(self) -> list[VnView]:
        """VN_VIEWS."""
        self.calls.append(("list_vns",))
        return VN_VIEWS

    async def list_ports(self) -> list[PortView]:
        """PORT_VIEWS."""
        self.calls.append(("list_ports",))
        return PORT_VIEWS

    def _check_nve(self, nve: str) -> None:
        if self.refuse_reads is not None:
            raise self.refuse_reads
        if nve not in KNOWN_NVES:
            raise Refused(FailReason.INVALID_REQUEST, f"unknown NVE {nve!r}")

    async def read_tables(self, nve: str, table: str | None) -> TableView:
        """TABLE_VIEW, or Refused for an unknown switch."""
        self.calls.append(("read_tables", nve, table))
        self._check_nve(nve)
        return TABLE_VIEW

    async def read_counters(self, nve: str) -> list[CounterView]:
        """COUNTER_VIEWS, or Refused for an unknown switch."""
        self.calls.append(("read_counters", nve))
        self._check_nve(nve)
        return COUNTER_VIEWS

    async def set_vid(self, vm_id: str, vid: int) -> Answer:
        """Record; the canned answer."""
        self.calls.append(("set_vid", vm_id, vid))
        return self.answer

    async def migrate(self, vm_id: str, to_nve: str, to_port: int) -> Answer:
        """Record; the canned answer."""
        self.calls.append(("migrate", vm_id, to_nve, to_port))
        return self.answer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serving(
    api: FakeNveApi, tls: TlsMaterial | None = None, operators: frozenset[str] = frozenset()
) -> AsyncIterator[str]:
    """Both services on a free loopback port; yields "127.0.0.1:PORT"."""
    server, port = await start_servers(api, "127.0.0.1:0", tls, operators)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


class ThreadedServer:
    """The services on their own event loop in a thread, for code that calls asyncio.run itself."""

    def __init__(
        self,
        api: FakeNveApi,
        tls: TlsMaterial | None = None,
        operators: frozenset[str] = frozenset(),
    ) -> None:
        self.api = api
        self.address = ""
        self._tls = tls
        self._operators = operators
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: grpc.aio.Server | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def __enter__(self) -> Self:
        self._thread.start()
        self._server, port = self.run(
            start_servers(self.api, "127.0.0.1:0", self._tls, self._operators)
        )
        self.address = f"127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self.run(self._server.stop(None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def publish(self, identity: str, *notifications: Notification | None) -> None:
        """FakeNveApi.publish on the server's loop."""
        self._loop.call_soon_threadsafe(self.api.publish, identity, *notifications)


def tls_files(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """(ca.pem, NAME.pem, NAME.key) of a PKI made by init_pki."""
    return directory / "ca.pem", directory / f"{name}.pem", directory / f"{name}.key"


def tls_material(directory: Path, name: str) -> TlsMaterial:
    """TlsMaterial for `name` from a PKI made by init_pki."""
    return TlsMaterial.from_files(*tls_files(directory, name))
