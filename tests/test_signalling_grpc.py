"""grpc_api and grpc_client on loopback without TLS: every RPC, decode errors, identity, streams."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from controlplane.lifecycle import Event
from controlplane.signalling import grpc_codec as codec
from controlplane.signalling.grpc_api import IDENTITY_METADATA_KEY, STATUS_OF_REASON, start_servers
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import Answer, FailReason, Refused, VmRefRequest
from controlplane.signalling.proto import nve_signalling_pb2 as pb
from controlplane.signalling.proto import nve_signalling_pb2_grpc as pb_grpc

sys.path.insert(0, str(Path(__file__).parent / "data" / "signalling"))
from fake_nve import (  # noqa: E402
    COUNTER_VIEWS,
    NOTIFICATIONS,
    PORT_VIEWS,
    SUCCESS,
    TABLE_VIEW,
    VM_ID,
    VM_REQUEST,
    VM_VIEWS,
    VN_VIEWS,
    FakeNveApi,
    serving,
)

HV = (IDENTITY_METADATA_KEY, "hv1")


@pytest.fixture
def api() -> FakeNveApi:
    return FakeNveApi()


@pytest.fixture
async def address(api: FakeNveApi) -> AsyncIterator[str]:
    async with serving(api) as address:
        yield address


@pytest.fixture
async def channel(address: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(address) as channel:
        yield channel


@pytest.fixture
async def client(address: str) -> AsyncIterator[NveClient]:
    async with NveClient(address, None, "hv1") as client:
        yield client


@pytest.mark.parametrize("event", list(codec.VM_REQUEST_RPCS), ids=lambda e: e.name)
async def test_vm_request_rpcs_round_trip(api: FakeNveApi, client: NveClient, event: Event) -> None:
    request = replace(VM_REQUEST, event=event)
    assert await client.signal(request) == SUCCESS
    assert api.calls == [("signal", "hv1", request)]


@pytest.mark.parametrize("event", list(codec.VM_REF_RPCS), ids=lambda e: e.name)
async def test_vm_ref_rpcs_round_trip(api: FakeNveApi, client: NveClient, event: Event) -> None:
    api.answer = Answer(FailReason.BUSY, "another request for this VM is in flight")
    assert await client.signal(VmRefRequest(event, VM_ID)) == api.answer
    assert api.calls == [("signal", "hv1", VmRefRequest(event, VM_ID))]


async def test_rpc_names_match_the_servicer(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.TesNveSignallingStub(channel)
    for rpc in (*codec.VM_REQUEST_RPCS.values(), *codec.VM_REF_RPCS.values()):
        assert hasattr(stub, rpc)


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (pb.VmRequest(), "vm_id is missing"),
        (pb.VmRequest(vm_id="vm1"), "vm_id 'vm1' is not a UUID"),
        (pb.VmRequest(vm_id=VM_ID), "vn is missing"),
        (
            pb.VmRequest(
                vm_id=VM_ID, vn=pb.VnRef(vni=5001), addresses=[pb.Address(mac="00:00:00:00:00:00")]
            ),
            "addresses[0].mac: MAC 00:00:00:00:00:00 is not a VM address",
        ),
        (
            pb.VmRequest(
                vm_id=VM_ID, vn=pb.VnRef(vni=5001), addresses=[pb.Address(mac="52:54:00:00:00:01")]
            ),
            "attachment is missing",
        ),
    ],
)
async def test_malformed_request_answers_invalid_request(
    api: FakeNveApi, channel: grpc.aio.Channel, message: pb.VmRequest, detail: str
) -> None:
    response = await pb_grpc.TesNveSignallingStub(channel).Associate(message, metadata=(HV,))
    assert (response.result, response.reason, response.detail) == (
        pb.FAIL,
        pb.INVALID_REQUEST,
        detail,
    )
    assert api.calls == []


async def test_malformed_vm_ref(api: FakeNveApi, channel: grpc.aio.Channel) -> None:
    response = await pb_grpc.TesNveSignallingStub(channel).Terminate(
        pb.VmRef(vm_id="nope"), metadata=(HV,)
    )
    assert (response.reason, response.detail) == (pb.INVALID_REQUEST, "vm_id 'nope' is not a UUID")
    assert api.calls == []


async def test_identity_comes_from_metadata(api: FakeNveApi, address: str) -> None:
    async with NveClient(address, None, "hv7") as client:
        await client.signal(VmRefRequest(Event.KEEPALIVE, VM_ID))
    assert api.calls[0][1] == "hv7"


async def test_missing_identity_fails_authorization(api: FakeNveApi, address: str) -> None:
    async with NveClient(address, None, None) as client:
        answer = await client.signal(VM_REQUEST)
    assert answer == Answer(FailReason.FAILED_AUTHORIZATION, "no hypervisor identity")
    assert api.calls == []


async def test_notifications_stream_until_cancelled(api: FakeNveApi, client: NveClient) -> None:
    received = []
    stream = client.notifications()
    api.publish("hv1", *NOTIFICATIONS)
    api.publish("hv2", NOTIFICATIONS[0])  # another hypervisor's: not ours
    async for notification in stream:
        received.append(notification)
        if len(received) == len(NOTIFICATIONS):
            break
    await stream.aclose()  # the client cancels the call
    assert received == NOTIFICATIONS
    for _ in range(100):
        if api.closed:
            break
        await asyncio.sleep(0.01)
    assert api.closed == ["hv1"]


async def test_notifications_end_when_the_server_ends_them(
    api: FakeNveApi, client: NveClient
) -> None:
    api.publish("hv1", NOTIFICATIONS[1], None)
    assert [n async for n in client.notifications()] == [NOTIFICATIONS[1]]


async def test_notifications_need_an_identity(address: str) -> None:
    async with NveClient(address, None, None) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            [n async for n in client.notifications()]
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == "no hypervisor identity"


async def test_operator_reads_round_trip(api: FakeNveApi, address: str) -> None:
    async with NveClient(address, None) as client:  # insecure: everyone may operate
        assert await client.list_vms() == VM_VIEWS
        assert await client.list_vns() == VN_VIEWS
        assert await client.list_ports() == PORT_VIEWS
        assert await client.read_tables("nve1", None) == TABLE_VIEW
        assert await client.read_tables("nve1", "acl") == TABLE_VIEW
        assert await client.read_counters("nve2") == COUNTER_VIEWS
    assert api.calls == [
        ("list_vms",),
        ("list_vns",),
        ("list_ports",),
        ("read_tables", "nve1", None),
        ("read_tables", "nve1", "acl"),
        ("read_counters", "nve2"),
    ]


async def test_operator_commands_round_trip(api: FakeNveApi, client: NveClient) -> None:
    assert await client.set_vid(VM_ID, 120) == SUCCESS
    assert await client.migrate(VM_ID, "nve2", 0) == SUCCESS
    assert api.calls == [("set_vid", VM_ID, 120), ("migrate", VM_ID, "nve2", 0)]


async def test_operator_command_decode_errors(api: FakeNveApi, channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.NveOperatorStub(channel)
    response = await stub.SetVid(pb.SetVidRequest(vm_id=VM_ID, vid=5000))
    assert (response.reason, response.detail) == (
        pb.INVALID_REQUEST,
        "vid: requested VID 5000 is outside 0..4094",
    )
    response = await stub.Migrate(pb.MigrateRequest(vm_id=VM_ID))
    assert (response.reason, response.detail) == (pb.INVALID_REQUEST, "to_nve is missing")
    assert api.calls == []


async def test_read_with_unknown_switch_is_invalid_argument(client: NveClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.read_tables("nve9", None)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "unknown NVE 'nve9'"


async def test_read_with_empty_switch_is_invalid_argument(
    api: FakeNveApi, client: NveClient
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.read_counters("")
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "nve is missing",
    )
    assert api.calls == []


@pytest.mark.parametrize("reason", list(FailReason), ids=lambda r: r.name)
async def test_refused_reads_map_to_a_status(
    api: FakeNveApi, client: NveClient, reason: FailReason
) -> None:
    api.refuse_reads = Refused(reason, "no")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.read_counters("nve1")
    assert raised.value.code() is STATUS_OF_REASON[reason]


async def test_address_in_use_is_an_os_error(api: FakeNveApi, address: str) -> None:
    with pytest.raises(OSError, match=f"cannot listen on {address}"):
        await start_servers(api, address, None)
