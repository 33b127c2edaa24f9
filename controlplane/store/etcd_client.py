"""A small asyncio client of etcd's v3 gRPC API: KV, Txn, leases, watches, with endpoint failover.

Why not a library: the maintained-looking PyPI clients either ship protobuf code generated for
protobuf 3 (`etcd3` 0.12, 2020: "Descriptors cannot be created directly" under our protobuf 6) or
speak the JSON gateway instead of gRPC. etcd's gRPC API is stable (v3, unchanged wire format since
3.0), so we generate stubs from a hand-written subset of its .proto files
(controlplane/store/etcd_proto, `tools/gen_etcd_proto.py`) with the same grpcio-tools as the rest
of the project, and keep the client to what the mapping authority needs.

Failover: the client talks to one endpoint at a time. A call that fails with UNAVAILABLE or
DEADLINE_EXCEEDED (member down, no leader, request timed out) moves to the next endpoint and is
tried there; passes over the endpoints go on for twice the request timeout (a leader election
in progress), and when none answers the call raises EtcdUnavailable naming every endpoint's
error. Every request carries etcd's `hasleader` metadata so that a member cut off from the quorum
refuses at once instead of hanging (and closes our watch streams).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from controlplane.errors import NveError
from controlplane.store.etcd_proto import kv_pb2, rpc_pb2
from controlplane.store.etcd_proto import rpc_pb2_grpc as rpc_grpc

log = logging.getLogger(__name__)

T = TypeVar("T")

REQUIRE_LEADER = (("hasleader", "true"),)
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
DEFAULT_TIMEOUT = 2.0
RETRY_PAUSE = 0.2

KeyValue = kv_pb2.KeyValue
Event = kv_pb2.Event
Compare = rpc_pb2.Compare


class EtcdError(NveError):
    """etcd refused a request (other than by being unreachable)."""


class EtcdUnavailable(EtcdError):
    """No endpoint of the cluster answered in time."""


class EtcdCompacted(EtcdError):
    """A watch or read asked for a revision that etcd has compacted away."""

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__(f"revision compacted (oldest kept: {compact_revision})")


@dataclass(frozen=True, slots=True)
class EtcdTls:
    """TLS toward etcd: a CA to trust (None: the system's) and an optional client certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials from the files."""
        def read(path: Path | None) -> bytes | None:
            return path.read_bytes() if path is not None else None
        return grpc.ssl_channel_credentials(read(self.ca), read(self.key), read(self.cert))


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes [prefix, end) every key starting with `prefix`."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"   # every key


def _address(endpoint: str) -> tuple[str, bool]:
    """'https://h:p' -> ('h:p', True); 'http://h:p' or 'h:p' -> ('h:p', False)."""
    for scheme, secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme):].rstrip("/"), secure
    return endpoint, False


class _Stubs:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.kv = rpc_grpc.KVStub(channel)  # type: ignore[no-untyped-call]
        self.watch = rpc_grpc.WatchStub(channel)  # type: ignore[no-untyped-call]
        self.lease = rpc_grpc.LeaseStub(channel)  # type: ignore[no-untyped-call]
        self.maintenance = rpc_grpc.MaintenanceStub(channel)  # type: ignore[no-untyped-call]


class EtcdClient:
    """One etcd cluster, reached through any of `endpoints` ("host:port", "http(s)://host:port")."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
                 tls: EtcdTls | None = None) -> None:
        if not endpoints:
            raise ValueError("etcd needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout                # one attempt on one endpoint
        self.retry_for = 2 * timeout          # every endpoint, again and again, this long
        self.tls = tls
        self._index = 0
        self._stubs: dict[str, _Stubs] = {}

    @property
    def endpoint(self) -> str:
        """The endpoint calls go to now."""
        return self.endpoints[self._index]

    async def close(self) -> None:
        """Close every channel."""
        stubs, self._stubs = self._stubs, {}
        for stub in stubs.values():
            await stub.channel.close()

    def failed(self, endpoint: str) -> None:
        """`endpoint` did not answer: move on to the next one (unless someone already did)."""
        if self.endpoint == endpoint and len(self.endpoints) > 1:
            self._index = (self._index + 1) % len(self.endpoints)
            log.info("etcd: %s failed, trying %s", endpoint, self.endpoint)

    def _channel(self, endpoint: str) -> _Stubs:
        if endpoint not in self._stubs:
            address, secure = _address(endpoint)
            options = [("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000),
                       ("grpc.max_receive_message_length", 64 << 20),
                       ("grpc.initial_reconnect_backoff_ms", 200),
                       ("grpc.max_reconnect_backoff_ms", 1_000)]
            if self.tls is not None or secure:
                channel = grpc.aio.secure_channel(address, (self.tls or EtcdTls()).credentials(),
                                                  options=options)
            else:
                channel = grpc.aio.insecure_channel(address, options=options)
            self._stubs[endpoint] = _Stubs(channel)
        return self._stubs[endpoint]

    async def _call(self, what: str, attempt: Callable[[_Stubs, float], Awaitable[T]]) -> T:
        """Run `attempt` on the current endpoint, failing over to the others in turn; passes
        over the endpoints go on for `retry_for` seconds (long enough to ride out a leader
        election) before the cluster is declared unavailable."""
        deadline = time.monotonic() + self.retry_for
        while True:
            errors = []
            for _ in range(len(self.endpoints)):
                endpoint = self.endpoint
                try:
                    return await attempt(self._channel(endpoint), self.timeout)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in RETRYABLE:
                        raise EtcdError(f"etcd {endpoint} {what}: {exc.code().name}: "
                                        f"{exc.details()}") from None
                    errors.append(f"{endpoint}: {exc.details() or exc.code().name}")
                except TimeoutError:
                    errors.append(f"{endpoint}: no answer within {self.timeout:g} s")
                self.failed(endpoint)
            if time.monotonic() >= deadline:
                raise EtcdUnavailable(f"etcd unreachable ({'; '.join(errors)})")
            await asyncio.sleep(RETRY_PAUSE)

    # -- KV -----------------------------------------------------------------------------------
    async def range(self, key: bytes, range_end: bytes = b"", *,
                    revision: int = 0) -> rpc_pb2.RangeResponse:
        """The keys in [key, range_end) (just `key` without range_end), linearizable."""
        request = rpc_pb2.RangeRequest(key=key, range_end=range_end, revision=revision)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.kv.Range(request, timeout=timeout, metadata=REQUIRE_LEADER)
        try:
            return await self._call("range", attempt)
        except EtcdError as exc:
            if "compacted" in str(exc):
                raise EtcdCompacted(revision) from None
            raise

    async def get_prefix(self, prefix: bytes, page: int = 1000) -> tuple[list[Any], int]:
        """Every key under `prefix` and the revision they were read at; read `page` keys at a
        time, all at that one revision."""
        end = prefix_end(prefix)
        start, revision, kvs = prefix, 0, []
        while True:
            request = rpc_pb2.RangeRequest(key=start, range_end=end, limit=page,
                                           revision=revision)

            async def attempt(stubs: _Stubs, timeout: float,
                              request: Any = request) -> Any:
                return await stubs.kv.Range(request, timeout=timeout, metadata=REQUIRE_LEADER)
            response = await self._call("range", attempt)
            revision = revision or int(response.header.revision)
            kvs.extend(response.kvs)
            if not response.more or not response.kvs:
                return kvs, revision
            start = bytes(response.kvs[-1].key) + b"\0"

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> rpc_pb2.PutResponse:
        """Set `key` (attached to `lease` when not 0)."""
        request = rpc_pb2.PutRequest(key=key, value=value, lease=lease)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.kv.Put(request, timeout=timeout, metadata=REQUIRE_LEADER)
        return await self._call("put", attempt)

    async def delete(self, key: bytes, range_end: bytes = b"") -> rpc_pb2.DeleteRangeResponse:
        """Delete `key` (or [key, range_end))."""
        request = rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.kv.DeleteRange(request, timeout=timeout, metadata=REQUIRE_LEADER)
        return await self._call("delete", attempt)

    async def txn(self, compare: Sequence[rpc_pb2.Compare], success: Sequence[rpc_pb2.RequestOp],
                  failure: Sequence[rpc_pb2.RequestOp] = ()) -> rpc_pb2.TxnResponse:
        """If every comparison holds run `success`, else `failure`; atomically."""
        request = rpc_pb2.TxnRequest(compare=compare, success=success, failure=failure)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.kv.Txn(request, timeout=timeout, metadata=REQUIRE_LEADER)
        return await self._call("txn", attempt)

    async def compact(self, revision: int) -> None:
        """Discard history before `revision` (tests use it to provoke compacted watches)."""
        request = rpc_pb2.CompactionRequest(revision=revision, physical=True)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.kv.Compact(request, timeout=timeout, metadata=REQUIRE_LEADER)
        await self._call("compact", attempt)

    async def status(self) -> rpc_pb2.StatusResponse:
        """The current endpoint's status (version, leader, raft index)."""
        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.maintenance.Status(rpc_pb2.StatusRequest(), timeout=timeout)
        return await self._call("status", attempt)

    # -- leases -------------------------------------------------------------------------------
    async def grant(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; its id."""
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.lease.LeaseGrant(request, timeout=timeout, metadata=REQUIRE_LEADER)
        response = await self._call("lease grant", attempt)
        if response.error:
            raise EtcdError(f"lease grant: {response.error}")
        return int(response.ID)

    async def keepalive(self, lease: int) -> int:
        """Renew `lease` once; its new TTL in seconds, or 0 when it has expired."""
        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            call = stubs.lease.LeaseKeepAlive(metadata=REQUIRE_LEADER, timeout=timeout)
            try:
                await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease))
                response = await call.read()
            finally:
                call.cancel()
            if response is grpc.aio.EOF:
                raise TimeoutError
            return response
        response = await self._call("lease keep-alive", attempt)
        return max(0, int(response.TTL))

    async def time_to_live(self, lease: int) -> int:
        """Seconds `lease` has left (-1: expired or unknown)."""
        request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.lease.LeaseTimeToLive(request, timeout=timeout,
                                                     metadata=REQUIRE_LEADER)
        return int((await self._call("lease time-to-live", attempt)).TTL)

    async def revoke(self, lease: int) -> None:
        """End `lease` now: every key attached to it is deleted."""
        request = rpc_pb2.LeaseRevokeRequest(ID=lease)

        async def attempt(stubs: _Stubs, timeout: float) -> Any:
            return await stubs.lease.LeaseRevoke(request, timeout=timeout, metadata=REQUIRE_LEADER)
        try:
            await self._call("lease revoke", attempt)
        except EtcdError as exc:
            if "not found" not in str(exc):
                raise

    # -- watches ------------------------------------------------------------------------------
    async def watch(self, key: bytes, range_end: bytes, start_revision: int,
                    idle: float = 3.0) -> AsyncIterator[rpc_pb2.WatchResponse]:
        """Responses carrying events on [key, range_end) from `start_revision` on, forever.

        Raises EtcdCompacted when start_revision is gone, EtcdUnavailable when the stream breaks
        or the member stops answering: after `idle` seconds without a response the stream asks
        for a progress report, and a member silent for another `idle` seconds is given up.
        """
        endpoint = self.endpoint
        call = self._channel(endpoint).watch.Watch(metadata=REQUIRE_LEADER)
        read: asyncio.Future[Any] | None = None
        try:
            await call.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(
                key=key, range_end=range_end, start_revision=start_revision)))
            pinged = False
            while True:
                if read is None:
                    read = asyncio.ensure_future(call.read())
                done, _ = await asyncio.wait({read}, timeout=idle)
                if not done:
                    if pinged:
                        raise TimeoutError
                    await call.write(rpc_pb2.WatchRequest(
                        progress_request=rpc_pb2.WatchProgressRequest()))
                    pinged = True
                    continue
                response, read, pinged = read.result(), None, False
                if response is grpc.aio.EOF:
                    raise EtcdUnavailable(f"etcd {endpoint}: the watch stream ended")
                if response.compact_revision:
                    raise EtcdCompacted(int(response.compact_revision))
                if response.canceled:
                    raise EtcdUnavailable(f"etcd {endpoint}: watch canceled: "
                                          f"{response.cancel_reason or 'no reason given'}")
                yield response
        except grpc.aio.AioRpcError as exc:
            self.failed(endpoint)
            raise EtcdUnavailable(f"etcd {endpoint}: watch: {exc.details() or exc.code().name}"
                                  ) from None
        except TimeoutError:
            self.failed(endpoint)
            raise EtcdUnavailable(f"etcd {endpoint}: watch stream silent for {2 * idle:g} s"
                                  ) from None
        finally:
            call.cancel()
            if read is not None and not read.done():
                read.cancel()


# -- transaction building blocks ---------------------------------------------------------------
def mod_revision_is(key: bytes, revision: int) -> rpc_pb2.Compare:
    """Compare: the key's mod_revision equals `revision` (0: the key does not exist)."""
    return rpc_pb2.Compare(result=rpc_pb2.Compare.EQUAL, target=rpc_pb2.Compare.MOD, key=key,
                           mod_revision=revision)


def put_op(key: bytes, value: bytes, lease: int = 0) -> rpc_pb2.RequestOp:
    """A Put inside a transaction."""
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, lease=lease))


def delete_op(key: bytes) -> rpc_pb2.RequestOp:
    """A DeleteRange of one key inside a transaction."""
    return rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))


def get_op(key: bytes) -> rpc_pb2.RequestOp:
    """A Range of one key inside a transaction."""
    return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))
