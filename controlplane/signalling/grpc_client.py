"""A client of a running controller's TesNveSignalling and NveOperator services (used by nvectl).

It speaks the wire protocol only, exactly as a hypervisor agent or an operator tool would, and
returns the typed messages of `messages.py`. gRPC errors (grpc.aio.AioRpcError) pass through to
the caller; a malformed answer raises SignallingError.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import grpc
from google.protobuf.message import Message

from controlplane.signalling import grpc_codec as codec
from controlplane.signalling.grpc_api import IDENTITY_METADATA_KEY
from controlplane.signalling.messages import (
    Answer,
    CounterView,
    Notification,
    PortView,
    Request,
    TableView,
    VmRequest,
    VmView,
    VnView,
)
from controlplane.signalling.proto import nve_signalling_pb2 as pb
from controlplane.signalling.proto import nve_signalling_pb2_grpc as pb_grpc
from controlplane.signalling.tls import TlsMaterial

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds a unary RPC may take, connection included."""


class NveClient:
    """One channel to the controller; use as `async with NveClient(...) as client`."""

    def __init__(
        self,
        address: str,
        tls: TlsMaterial | None,
        identity: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Connect to `address` with mutual TLS, or without TLS when `tls` is None (labs only).

        Without TLS, `identity` names the caller in the metadata; with TLS the client
        certificate's common name does, and `identity` only labels received notifications.
        """
        if tls is None:
            self._channel = grpc.aio.insecure_channel(address)
            self._metadata: tuple[tuple[str, str], ...] = (
                ((IDENTITY_METADATA_KEY, identity),) if identity else ()
            )
        else:
            self._channel = grpc.aio.secure_channel(address, tls.channel_credentials())
            self._metadata = ()
        self._identity = identity or ""
        self._timeout = timeout
        self._signalling = pb_grpc.TesNveSignallingStub(self._channel)  # type: ignore[no-untyped-call]
        self._operator = pb_grpc.NveOperatorStub(self._channel)  # type: ignore[no-untyped-call]
        log.debug("channel to %s (%s)", address, "insecure" if tls is None else "mutual TLS")

    async def __aenter__(self) -> Self:
        """The client itself."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the channel."""
        await self._channel.close()

    async def signal(self, request: Request) -> Answer:
        """Send one hypervisor request; the Answer may be FAIL."""
        if isinstance(request, VmRequest):
            rpc = getattr(self._signalling, codec.VM_REQUEST_RPCS[request.event])
            message = codec.encode_vm_request(request)
        else:
            rpc = getattr(self._signalling, codec.VM_REF_RPCS[request.event])
            message = codec.encode_vm_ref(request)
        response = await rpc(message, metadata=self._metadata, timeout=self._timeout)
        return codec.decode_answer(response)

    async def notifications(self) -> AsyncIterator[Notification]:
        """The caller's notifications as they come, until the caller stops or the server ends."""
        call = self._signalling.Notifications(pb.NotificationRequest(), metadata=self._metadata)
        try:
            async for message in call:
                yield codec.decode_notification(message, self._identity)
        finally:
            call.cancel()

    async def list_vms(self) -> list[VmView]:
        """Every VM the controller knows."""
        return codec.decode_vm_list(await self._unary(self._operator.ListVms, pb.Empty()))

    async def list_vns(self) -> list[VnView]:
        """Every configured VN."""
        return codec.decode_vn_list(await self._unary(self._operator.ListVns, pb.Empty()))

    async def list_ports(self) -> list[PortView]:
        """Every access and network port."""
        return codec.decode_port_list(await self._unary(self._operator.ListPorts, pb.Empty()))

    async def read_tables(self, nve: str, table: str | None) -> TableView:
        """Entries of switch `nve` (one table, or all), with occupancy and capacity."""
        request = pb.TableRequest(nve=nve, table=table or "")
        return codec.decode_table_view(await self._unary(self._operator.ReadTables, request))

    async def read_counters(self, nve: str) -> list[CounterView]:
        """Per-VAP and drop counters of switch `nve`."""
        request = pb.CounterRequest(nve=nve)
        return codec.decode_counter_list(await self._unary(self._operator.ReadCounters, request))

    async def set_vid(self, vm_id: str, vid: int) -> Answer:
        """Give a VM another VID (0: any free one)."""
        request = pb.SetVidRequest(vm_id=vm_id, vid=vid)
        return codec.decode_answer(await self._unary(self._operator.SetVid, request))

    async def migrate(self, vm_id: str, to_nve: str, to_port: int) -> Answer:
        """Live-migrate a VM to another NVE (port 0: the controller chooses)."""
        request = pb.MigrateRequest(vm_id=vm_id, to_nve=to_nve, to_port=to_port)
        return codec.decode_answer(await self._unary(self._operator.Migrate, request))

    async def _unary(self, rpc: Any, request: Message) -> Any:
        """Call a unary RPC of an (untyped, generated) stub with our metadata and timeout."""
        return await rpc(request, metadata=self._metadata, timeout=self._timeout)
