"""The P4Runtime StreamChannel of one connection.

Owns the bidirectional stream: sends the arbitration request, tracks whether we
are primary from every arbitration update, queues packet-ins, records stream
errors, and notices when the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from finsy.grpcutil import GRPCStatusCode
from finsy.p4client import P4Client, P4ClientError
from finsy.proto import U128, p4r

from controlplane.p4rt.debug import dump
from controlplane.p4rt.errors import P4ConnectionError, P4ValueError

LOG = logging.getLogger(__name__)

MAX_STREAM_ERRORS = 100
"""How many StreamError reports are kept."""


class PacketIn(NamedTuple):
    """A packet sent to the controller: payload and metadata by name."""

    payload: bytes
    metadata: dict[str, int]


class StreamErrorReport(NamedTuple):
    """A StreamError message from the device (e.g. a refused PacketOut)."""

    code_name: str
    message: str
    kind: str
    """Which stream message failed: ``packet_out``, ``digest_list_ack`` or ``other``."""


class _End(NamedTuple):
    """Queue marker: the stream ended, with `error` unless we closed it."""

    error: str | None


class StreamSession:
    """Arbitration state, packet-in queue and stream errors of one connection."""

    def __init__(
        self,
        p4client: P4Client,
        device_id: int,
        role: str,
        decode_packet: Callable[[p4r.PacketIn], PacketIn],
        queue_size: int,
    ) -> None:
        """Prepare a session; `arbitrate` opens the stream."""
        self._client = p4client
        self._device_id = device_id
        self._role = role
        self._decode_packet = decode_packet
        self._packets: asyncio.Queue[PacketIn | _End] = asyncio.Queue(queue_size)
        self._errors: deque[StreamErrorReport] = deque(maxlen=MAX_STREAM_ERRORS)
        self._send_lock = asyncio.Lock()
        self._answer: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._closed = False
        self._ended = False
        self.election_id = 0
        self.is_primary = False
        self.primary_election_id: int | None = None
        self.arbitration_status = ""
        """Code name of the last arbitration update: OK, ALREADY_EXISTS or NOT_FOUND."""

    @property
    def alive(self) -> bool:
        """True while the stream is open."""
        return self._reader is not None and not self._reader.done() and not self._closed

    @property
    def failure(self) -> str | None:
        """Why the stream ended, if it ended by itself."""
        return self._failure

    @property
    def stream_errors(self) -> tuple[StreamErrorReport, ...]:
        """StreamError reports received so far (at most MAX_STREAM_ERRORS, oldest first)."""
        return tuple(self._errors)

    async def arbitrate(self, election_id: int, timeout: float) -> None:
        """Send an arbitration request (opening the stream the first time); await the answer."""
        request = p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(
                device_id=self._device_id,
                election_id=U128.encode(election_id),
                role=p4r.Role(name=self._role) if self._role else None,
            )
        )
        self.election_id = election_id
        self._answer = asyncio.get_running_loop().create_future()
        if self._reader is None:
            await self._send(request)
            self._reader = asyncio.create_task(self._read_loop(), name="p4rt-stream-reader")
        else:
            await self.send(request)
        try:
            await asyncio.wait_for(self._answer, timeout)
        except TimeoutError:
            raise P4ConnectionError(f"no arbitration answer within {timeout} s") from None

    async def send(self, request: p4r.StreamMessageRequest) -> None:
        """Send one stream message; raise P4ConnectionError if the stream is down."""
        if not self.alive:
            raise P4ConnectionError(f"stream is down: {self._failure or 'closed'}")
        await self._send(request)

    async def _send(self, request: p4r.StreamMessageRequest) -> None:
        """Send on the stream (finsy opens it on the first send)."""
        dump("send", request)
        async with self._send_lock:
            try:
                await self._client.send(request)
            except P4ClientError as ex:
                raise P4ConnectionError(
                    f"stream send failed: {ex.code.name}: {ex.message}"
                ) from None

    async def packets(self) -> AsyncIterator[PacketIn]:
        """Yield packet-ins until the stream ends; raise P4ConnectionError if it failed."""
        while True:
            item = await self._packets.get()
            if isinstance(item, _End):
                self._packets.put_nowait(item)  # let other consumers see the end too
                if item.error is not None:
                    raise P4ConnectionError(f"stream ended: {item.error}")
                return
            yield item

    async def stop(self) -> None:
        """Stop reading; packet-in consumers see the end of the stream."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        self._end(None)

    async def _read_loop(self) -> None:
        """Dispatch stream messages until the stream ends."""
        try:
            while True:
                msg = await self._client.receive()
                dump("recv", msg)
                self._dispatch(msg)
        except P4ClientError as ex:
            if ex.is_election_id_used:
                reason = f"election id {self.election_id} is already used: {ex.message}"
            else:
                reason = f"{ex.code.name}: {ex.message}"
            self._fail(reason)
        except RuntimeError as ex:  # finsy raises RuntimeError on EOF
            self._fail(str(ex))
        except Exception as ex:  # task boundary: never die silently
            LOG.exception("stream reader crashed")
            self._fail(f"stream reader crashed: {ex!r}")

    def _dispatch(self, msg: p4r.StreamMessageResponse) -> None:
        """Handle one message from the device."""
        kind = msg.WhichOneof("update")
        if kind == "arbitration":
            self._on_arbitration(msg.arbitration)
        elif kind == "packet":
            self._on_packet(msg.packet)
        elif kind == "error":
            self._on_error(msg.error)
        else:
            LOG.debug("ignored stream message %s", kind)

    def _on_arbitration(self, update: p4r.MasterArbitrationUpdate) -> None:
        """Update primary state: we are primary iff OK and the primary id is ours."""
        self.primary_election_id = U128.decode(update.election_id)
        code = GRPCStatusCode(update.status.code)
        primary = code == GRPCStatusCode.OK and self.primary_election_id == self.election_id
        answering = self._answer is not None and not self._answer.done()
        if primary != self.is_primary or code.name != self.arbitration_status or answering:
            LOG.info(
                "device %d: %s (election id %d, highest election id %d, status %s)",
                self._device_id,
                "primary" if primary else "backup",
                self.election_id,
                self.primary_election_id,
                code.name,
            )
        self.is_primary = primary
        self.arbitration_status = code.name
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)

    def _on_packet(self, packet: p4r.PacketIn) -> None:
        """Decode and queue a packet-in; drop it when the queue is full."""
        try:
            decoded = self._decode_packet(packet)
        except P4ValueError as ex:  # a bad packet must not stop the stream reader
            LOG.warning("dropped undecodable packet-in: %s", ex)
            return
        try:
            self._packets.put_nowait(decoded)
        except asyncio.QueueFull:
            LOG.warning("packet-in queue full (%d): packet dropped", self._packets.maxsize)

    def _on_error(self, error: p4r.StreamError) -> None:
        """Record and log a StreamError."""
        report = StreamErrorReport(
            GRPCStatusCode(error.canonical_code).name,
            error.message,
            error.WhichOneof("details") or "other",
        )
        self._errors.append(report)
        LOG.error(
            "device stream error on %s: %s: %s", report.kind, report.code_name, report.message
        )

    def _fail(self, reason: str) -> None:
        """The stream ended by itself."""
        self.is_primary = False
        self._failure = reason
        LOG.warning("device %d: stream ended: %s", self._device_id, reason)
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(P4ConnectionError(f"arbitration failed: {reason}"))
        self._end(reason)

    def _end(self, error: str | None) -> None:
        """Tell packet-in consumers, once, that the stream ended."""
        self.is_primary = False
        if self._ended:
            return
        self._ended = True
        if self._packets.full():  # make room for the end marker
            self._packets.get_nowait()
        self._packets.put_nowait(_End(error))
