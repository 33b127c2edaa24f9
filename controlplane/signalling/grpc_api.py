"""The gRPC services TesNveSignalling (hypervisor agents) and NveOperator (nvectl) over an NveApi.

Both run on one asyncio gRPC server. Who calls is decided here and nowhere else:

- mutual TLS (the normal case): the client certificate, signed by the controller's CA, names the
  caller in its subject common name. Operator RPCs are open only to the names in `operators`.
- insecure (labs only, `tls=None`): the caller names itself in the `x-nve-hypervisor` metadata
  key, and every caller may use the operator RPCs.

RPCs that answer with a Response report every refusal in it (FAIL with a reason and detail). The
operator's read RPCs have no place for one and end with a gRPC status instead: PERMISSION_DENIED
for a non-operator, INVALID_ARGUMENT for a malformed request, and the status of STATUS_OF_REASON
when the NVE refuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

import grpc

from controlplane.lifecycle import Event
from controlplane.ratelimit import RateLimit, RateLimiter
from controlplane.service_api import NveApi
from controlplane.signalling import grpc_codec as codec
from controlplane.signalling.messages import FailReason, Refused, Request, SignallingError
from controlplane.signalling.proto import nve_signalling_pb2 as pb
from controlplane.signalling.proto import nve_signalling_pb2_grpc as pb_grpc
from controlplane.signalling.tls import TlsMaterial

log = logging.getLogger(__name__)

IDENTITY_METADATA_KEY = "x-nve-hypervisor"
"""Insecure mode only: the metadata key in which a client names itself."""

NO_IDENTITY = "no hypervisor identity"

STATUS_OF_REASON: Mapping[FailReason, grpc.StatusCode] = {
    FailReason.FAILED_AUTHORIZATION: grpc.StatusCode.PERMISSION_DENIED,
    FailReason.CONFLICT_POLICIES: grpc.StatusCode.FAILED_PRECONDITION,
    FailReason.NON_SUFFICIENT_RESOURCES: grpc.StatusCode.RESOURCE_EXHAUSTED,
    FailReason.BUSY: grpc.StatusCode.ABORTED,
    FailReason.INVALID_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
}
"""The gRPC status that ends a read RPC the NVE refuses (Refused raised by the NveApi)."""


@dataclass(frozen=True, slots=True)
class Callers:
    """Identifies the caller of an RPC and decides whether it may use the operator RPCs."""

    insecure: bool
    operators: frozenset[str]

    def identity(self, context: grpc.aio.ServicerContext) -> str | None:
        """The certificate's CN (mTLS) or the metadata's name (insecure); None if absent."""
        if self.insecure:
            metadata = dict(context.invocation_metadata() or ())
            name = metadata.get(IDENTITY_METADATA_KEY)
            return name if isinstance(name, str) and name else None
        names = context.auth_context().get("x509_common_name") or []
        return names[0].decode() if names else None

    def may_operate(self, identity: str | None) -> bool:
        """True for a listed operator, and for anyone in insecure mode."""
        return self.insecure or identity in self.operators


async def _abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, detail: str) -> NoReturn:
    """End the RPC with a status (`context.abort` raises)."""
    await context.abort(code, detail)
    raise AssertionError("context.abort returned")


class SignallingServicer(pb_grpc.TesNveSignallingServicer):
    """TesNveSignalling: decode, pass to the NveApi as the calling hypervisor, encode the answer."""

    def __init__(self, api: NveApi, callers: Callers,
                 limiter: RateLimiter | None = None) -> None:
        """Serve `api`, identifying callers with `callers`; `limiter` (if any) answers BUSY to
        a caller over its rate before its request is decoded."""
        self._api = api
        self._callers = callers
        self._limiter = limiter

    async def _signal(
        self,
        event: Event,
        decode: Callable[[], Request],
        context: grpc.aio.ServicerContext,
    ) -> pb.Response:
        """Identify the caller, decode its request and answer it; refusals go in the Response."""
        identity = self._callers.identity(context)
        if identity is None:
            log.warning("%s refused: %s (peer %s)", event.value, NO_IDENTITY, context.peer())
            return codec.refusal(FailReason.FAILED_AUTHORIZATION, NO_IDENTITY)
        if self._limiter is not None and not self._limiter.allow(identity):
            return codec.refusal(FailReason.BUSY, self._limiter.detail(identity))
        try:
            request = decode()
        except SignallingError as error:
            log.warning("%s from %s refused: %s", event.value, identity, error)
            return codec.refusal(FailReason.INVALID_REQUEST, str(error))
        answer = await self._api.signal(identity, request)
        log.debug(
            "%s vm=%s from %s: %s %s",
            event.value,
            request.vm_id,
            identity,
            "SUCCESS" if answer.success else "FAIL",
            answer.detail,
        )
        return codec.encode_answer(answer)

    async def _vm_request(
        self, event: Event, message: pb.VmRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """A request that carries the VM's network properties."""
        return await self._signal(event, lambda: codec.decode_vm_request(event, message), context)

    async def _vm_ref(
        self, event: Event, message: pb.VmRef, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """A request that names the VM only."""
        return await self._signal(event, lambda: codec.decode_vm_ref(event, message), context)

    async def PreAssociate(
        self, request: pb.VmRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """§3.3.1 Pre-Association."""
        return await self._vm_request(Event.PRE_ASSOCIATE, request, context)

    async def Associate(
        self, request: pb.VmRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """§3.3.2 Association."""
        return await self._vm_request(Event.ASSOCIATE, request, context)

    async def ImmigratePreAssociate(
        self, request: pb.VmRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """§3.3.5 Immigration with Pre-Association."""
        return await self._vm_request(Event.IMMIGRATE_PRE_ASSOCIATE, request, context)

    async def ImmigrateAssociate(
        self, request: pb.VmRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """§3.3.5 Immigration with Association."""
        return await self._vm_request(Event.IMMIGRATE_ASSOCIATE, request, context)

    async def Suspend(self, request: pb.VmRef, context: grpc.aio.ServicerContext) -> pb.Response:
        """§3.3.3 Suspension."""
        return await self._vm_ref(Event.SUSPEND, request, context)

    async def Resume(self, request: pb.VmRef, context: grpc.aio.ServicerContext) -> pb.Response:
        """§3.3.4 Resume."""
        return await self._vm_ref(Event.RESUME, request, context)

    async def Emigrate(self, request: pb.VmRef, context: grpc.aio.ServicerContext) -> pb.Response:
        """§3.3.6 Emigration."""
        return await self._vm_ref(Event.EMIGRATE, request, context)

    async def Terminate(self, request: pb.VmRef, context: grpc.aio.ServicerContext) -> pb.Response:
        """§3.3.7 Termination."""
        return await self._vm_ref(Event.TERMINATE, request, context)

    async def KeepAlive(self, request: pb.VmRef, context: grpc.aio.ServicerContext) -> pb.Response:
        """§3.3.8 Keep-alive."""
        return await self._vm_ref(Event.KEEPALIVE, request, context)

    async def Notifications(
        self, request: pb.NotificationRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Notification]:
        """§3.3.9: the caller's notifications from now on, until it cancels the stream."""
        identity = self._callers.identity(context)
        if identity is None:
            log.warning("notification stream refused: %s (peer %s)", NO_IDENTITY, context.peer())
            await _abort(context, grpc.StatusCode.UNAUTHENTICATED, NO_IDENTITY)
        if self._limiter is not None and not self._limiter.allow(identity):
            await _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, self._limiter.detail(identity))
        log.info("notification stream for %s opened", identity)
        stream = self._api.notifications(identity)
        try:
            async for notification in stream:
                yield codec.encode_notification(notification)
        finally:
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()
            log.info("notification stream for %s closed", identity)


class OperatorServicer(pb_grpc.NveOperatorServicer):
    """NveOperator: inspection and operator commands, for listed operators only (under mTLS)."""

    def __init__(self, api: NveApi, callers: Callers) -> None:
        """Serve `api`, identifying and authorizing callers with `callers`."""
        self._api = api
        self._callers = callers

    def _denied(self, rpc: str, context: grpc.aio.ServicerContext) -> str | None:
        """None when the caller may operate; otherwise why not (and the refusal is logged)."""
        identity = self._callers.identity(context)
        if self._callers.may_operate(identity):
            log.debug("%s by %s", rpc, identity)
            return None
        who = repr(identity) if identity else "a client without identity"
        log.warning("%s refused: %s is not an operator", rpc, who)
        return f"{who} is not an operator"

    async def _authorize(self, rpc: str, context: grpc.aio.ServicerContext) -> None:
        """End a read RPC with PERMISSION_DENIED unless the caller may operate."""
        denied = self._denied(rpc, context)
        if denied is not None:
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, denied)

    async def _bad_request(
        self, context: grpc.aio.ServicerContext, error: SignallingError
    ) -> NoReturn:
        """End a read RPC whose request is malformed."""
        log.warning("operator request refused: %s", error)
        await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def _refused(self, context: grpc.aio.ServicerContext, refused: Refused) -> NoReturn:
        """End a read RPC that the NVE refuses."""
        log.info("operator request refused: %s", refused)
        await _abort(context, STATUS_OF_REASON[refused.reason], refused.detail)

    async def ListVms(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.VmList:
        """Every VM the controller knows."""
        await self._authorize("ListVms", context)
        return codec.encode_vm_list(await self._api.list_vms())

    async def ListVns(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.VnList:
        """Every configured VN."""
        await self._authorize("ListVns", context)
        return codec.encode_vn_list(await self._api.list_vns())

    async def ListPorts(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.PortList:
        """Every access and network port."""
        await self._authorize("ListPorts", context)
        return codec.encode_port_list(await self._api.list_ports())

    async def ReadTables(
        self, request: pb.TableRequest, context: grpc.aio.ServicerContext
    ) -> pb.TableDump:
        """A switch's installed entries (one table or all), occupancy and capacity."""
        await self._authorize("ReadTables", context)
        try:
            nve, table = codec.decode_table_request(request)
        except SignallingError as error:
            await self._bad_request(context, error)
        try:
            view = await self._api.read_tables(nve, table)
        except Refused as refused:
            await self._refused(context, refused)
        return codec.encode_table_view(view)

    async def ReadCounters(
        self, request: pb.CounterRequest, context: grpc.aio.ServicerContext
    ) -> pb.CounterList:
        """A switch's per-VAP and drop counters."""
        await self._authorize("ReadCounters", context)
        try:
            nve = codec.decode_counter_request(request)
        except SignallingError as error:
            await self._bad_request(context, error)
        try:
            counters = await self._api.read_counters(nve)
        except Refused as refused:
            await self._refused(context, refused)
        return codec.encode_counter_list(counters)

    async def SetVid(
        self, request: pb.SetVidRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """Give a VM another VID; refusals go in the Response."""
        denied = self._denied("SetVid", context)
        if denied is not None:
            return codec.refusal(FailReason.FAILED_AUTHORIZATION, denied)
        try:
            vm_id, vid = codec.decode_set_vid(request)
        except SignallingError as error:
            log.warning("SetVid refused: %s", error)
            return codec.refusal(FailReason.INVALID_REQUEST, str(error))
        return codec.encode_answer(await self._api.set_vid(vm_id, vid))

    async def Migrate(
        self, request: pb.MigrateRequest, context: grpc.aio.ServicerContext
    ) -> pb.Response:
        """Live-migrate a VM to another NVE; refusals go in the Response."""
        denied = self._denied("Migrate", context)
        if denied is not None:
            return codec.refusal(FailReason.FAILED_AUTHORIZATION, denied)
        try:
            vm_id, to_nve, to_port = codec.decode_migrate(request)
        except SignallingError as error:
            log.warning("Migrate refused: %s", error)
            return codec.refusal(FailReason.INVALID_REQUEST, str(error))
        return codec.encode_answer(await self._api.migrate(vm_id, to_nve, to_port))


async def start_servers(
    api: NveApi,
    address: str,
    tls: TlsMaterial | None,
    operators: frozenset[str] = frozenset(),
    rate_limit: RateLimit | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Serve TesNveSignalling and NveOperator on `address` ("host:port"); the server and its port.

    With `tls`, clients must present a certificate from its CA (mutual TLS) and `operators` lists
    the common names allowed to use NveOperator. With `tls=None` (labs only) nothing is
    authenticated. Port 0 in `address` picks a free port: the one bound is returned. The caller
    stops the server (`await server.stop(grace)`). OSError when the address cannot be bound.
    Each hypervisor identity may send `rate_limit` requests (default 200/s, burst 400; rate 0:
    no limit); beyond it requests are answered FAIL BUSY (see controlplane/ratelimit.py).
    """
    callers = Callers(insecure=tls is None, operators=operators)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])  # a busy port is an error
    limit = RateLimit() if rate_limit is None else rate_limit
    limiter = RateLimiter(limit) if limit.enabled else None
    pb_grpc.add_TesNveSignallingServicer_to_server(SignallingServicer(api, callers, limiter), server)  # type: ignore[no-untyped-call]
    pb_grpc.add_NveOperatorServicer_to_server(OperatorServicer(api, callers), server)  # type: ignore[no-untyped-call]
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.server_credentials())
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: {error}") from error
    await server.start()
    if tls is None:
        log.warning(
            "signalling and operator services on %s (port %d) WITHOUT TLS: any client may "
            "claim any hypervisor identity and use the operator RPCs (labs only)",
            address,
            port,
        )
    else:
        log.info(
            "signalling and operator services on %s (port %d), mutual TLS, operators %s",
            address,
            port,
            sorted(operators),
        )
    return server, port
