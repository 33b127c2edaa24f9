"""The gRPC P4Runtime service (``p4.v1.P4Runtime``) on top of ``Device``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import NoReturn

import grpc
from finsy.proto import p4r, p4r_grpc

from softswitch.server.arbitration import Controller
from softswitch.server.device import Device
from softswitch.server.errors import Code, P4RuntimeError, batch_status_metadata

LOGGER = logging.getLogger(__name__)

P4RUNTIME_API_VERSION = "1.4.1"
READ_CHUNK = 1000
"""Entities per ReadResponse message."""
PACKET_IN_BACKLOG = 1024
"""Packet-ins queued for a slow stream beyond this many are dropped."""

_END = object()


async def _abort(context: grpc.aio.ServicerContext, error: P4RuntimeError) -> NoReturn:
    """End the RPC with ``error`` (``context.abort`` raises)."""
    await context.abort(error.grpc_code, error.message)
    raise AssertionError("context.abort returned")


class P4RuntimeService(p4r_grpc.P4RuntimeServicer):
    """Implements Capabilities, pipeline config, Write, Read and StreamChannel."""

    def __init__(self, device: Device) -> None:
        """Serve ``device``."""
        self.device = device

    async def Capabilities(
        self, request: p4r.CapabilitiesRequest, context: grpc.aio.ServicerContext
    ) -> p4r.CapabilitiesResponse:
        """Report the implemented P4Runtime version."""
        return p4r.CapabilitiesResponse(p4runtime_api_version=P4RUNTIME_API_VERSION)

    async def SetForwardingPipelineConfig(
        self, request: p4r.SetForwardingPipelineConfigRequest, context: grpc.aio.ServicerContext
    ) -> p4r.SetForwardingPipelineConfigResponse:
        """Verify, save and/or commit a pipeline."""
        try:
            self.device.set_pipeline(request)
        except P4RuntimeError as exc:
            LOGGER.info("SetForwardingPipelineConfig refused: %s", exc.message)
            await _abort(context, exc)
        return p4r.SetForwardingPipelineConfigResponse()

    async def GetForwardingPipelineConfig(
        self, request: p4r.GetForwardingPipelineConfigRequest, context: grpc.aio.ServicerContext
    ) -> p4r.GetForwardingPipelineConfigResponse:
        """Return the pipeline config (parts selected by response_type)."""
        try:
            return self.device.get_pipeline(request)
        except P4RuntimeError as exc:
            await _abort(context, exc)

    async def Write(
        self, request: p4r.WriteRequest, context: grpc.aio.ServicerContext
    ) -> p4r.WriteResponse:
        """Apply a batch; per-update errors go in the status details (overall UNKNOWN)."""
        try:
            results = self.device.write(request)
        except P4RuntimeError as exc:
            await _abort(context, exc)
        failed = sum(result is not None for result in results)
        if failed:
            LOGGER.info("Write: %d of %d updates failed", failed, len(results))
            await context.abort(
                grpc.StatusCode.UNKNOWN,
                "Write failure.",
                trailing_metadata=batch_status_metadata("Write failure.", results),
            )
        return p4r.WriteResponse()

    async def Read(
        self, request: p4r.ReadRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[p4r.ReadResponse]:
        """Stream the entities found; failed requests are reported at the end (UNKNOWN)."""
        try:
            results = self.device.read(request)
        except P4RuntimeError as exc:
            await _abort(context, exc)
        entities = [entity for result in results if isinstance(result, list) for entity in result]
        for start in range(0, len(entities), READ_CHUNK):
            yield p4r.ReadResponse(entities=entities[start : start + READ_CHUNK])
        errors = [result if isinstance(result, P4RuntimeError) else None for result in results]
        if any(error is not None for error in errors):
            await context.abort(
                grpc.StatusCode.UNKNOWN,
                "Read failure.",
                trailing_metadata=batch_status_metadata("Read failure.", errors),
            )

    async def StreamChannel(
        self,
        request_iterator: AsyncIterator[p4r.StreamMessageRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[p4r.StreamMessageResponse]:
        """Arbitration, packet-out and packet-in for one controller connection."""
        outbox: asyncio.Queue[object] = asyncio.Queue()

        def send(message: p4r.StreamMessageResponse) -> None:
            if message.HasField("packet") and outbox.qsize() >= PACKET_IN_BACKLOG:
                LOGGER.debug("stream backlog full, packet-in dropped")
                return
            outbox.put_nowait(message)

        controller = Controller(send)
        reader = asyncio.create_task(self._read_stream(request_iterator, controller, outbox))
        try:
            while True:
                item = await outbox.get()
                if item is _END:
                    return
                if isinstance(item, P4RuntimeError):
                    await _abort(context, item)
                assert isinstance(item, p4r.StreamMessageResponse)
                yield item
        finally:
            reader.cancel()
            self.device.arbitrator.remove(controller)

    async def _read_stream(
        self,
        requests: AsyncIterator[p4r.StreamMessageRequest],
        controller: Controller,
        outbox: asyncio.Queue[object],
    ) -> None:
        """Handle the client's messages; queue the end of the stream or a terminating error."""
        try:
            async for request in requests:
                self._handle(request, controller)
            outbox.put_nowait(_END)
        except P4RuntimeError as exc:
            LOGGER.info("StreamChannel terminated: %s", exc.message)
            outbox.put_nowait(exc)
        except grpc.RpcError:
            outbox.put_nowait(_END)
        except Exception:
            LOGGER.exception("StreamChannel failed")
            outbox.put_nowait(P4RuntimeError(Code.INTERNAL, "internal error"))

    def _handle(self, request: p4r.StreamMessageRequest, controller: Controller) -> None:
        kind = request.WhichOneof("update")
        if kind == "arbitration":
            self.device.arbitrator.update(controller, request.arbitration)
        elif kind == "packet":
            self._packet_out(request.packet, controller)
        else:
            error = _stream_error(Code.UNIMPLEMENTED, f"unsupported stream message {kind}")
            error.error.other.SetInParent()
            controller.send(error)

    def _packet_out(self, packet: p4r.PacketOut, controller: Controller) -> None:
        if not self.device.arbitrator.is_primary(controller.election_id):
            error = _stream_error(Code.PERMISSION_DENIED, "only the primary may send packet-out")
        else:
            try:
                self.device.packet_out(packet)
                return
            except P4RuntimeError as exc:
                error = _stream_error(exc.code, exc.message)
        error.error.packet_out.packet_out.CopyFrom(packet)
        controller.send(error)


def _stream_error(code: int, message: str) -> p4r.StreamMessageResponse:
    return p4r.StreamMessageResponse(error=p4r.StreamError(canonical_code=code, message=message))
