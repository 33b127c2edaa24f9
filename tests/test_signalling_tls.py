"""Mutual TLS: CA-signed clients get in with their CN as identity; others are refused."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from controlplane.lifecycle import Event
from controlplane.pki import init_pki
from controlplane.signalling.grpc_api import IDENTITY_METADATA_KEY
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import Answer, FailReason, VmRefRequest
from controlplane.signalling.proto import nve_signalling_pb2 as pb
from controlplane.signalling.proto import nve_signalling_pb2_grpc as pb_grpc
from controlplane.signalling.tls import TlsError, TlsMaterial

sys.path.insert(0, str(Path(__file__).parent / "data" / "signalling"))
from fake_nve import (  # noqa: E402
    NOTIFICATIONS,
    SUCCESS,
    VM_ID,
    VM_REQUEST,
    VM_VIEWS,
    FakeNveApi,
    serving,
    tls_material,
)

OPERATORS = frozenset({"admin"})
KEEPALIVE = VmRefRequest(Event.KEEPALIVE, VM_ID)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, ["hv1", "hv2"], ["admin"], ["localhost"])
    return directory


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other-pki")
    init_pki(directory, ["hv1"], ["admin"], ["localhost"])
    return directory


@pytest.fixture
def api() -> FakeNveApi:
    return FakeNveApi()


@pytest.fixture
async def address(api: FakeNveApi, pki: Path) -> AsyncIterator[str]:
    async with serving(api, tls_material(pki, "server"), OPERATORS) as address:
        yield address


async def test_ca_signed_client_is_identified_by_its_common_name(
    api: FakeNveApi, address: str, pki: Path
) -> None:
    async with NveClient(address, tls_material(pki, "hv2")) as client:
        assert await client.signal(VM_REQUEST) == SUCCESS
    assert api.calls == [("signal", "hv2", VM_REQUEST)]


async def test_metadata_cannot_override_the_certificate(
    api: FakeNveApi, address: str, pki: Path
) -> None:
    credentials = tls_material(pki, "hv1").channel_credentials()
    async with grpc.aio.secure_channel(address, credentials) as channel:
        await pb_grpc.TesNveSignallingStub(channel).KeepAlive(
            pb.VmRef(vm_id=VM_ID), metadata=((IDENTITY_METADATA_KEY, "hv2"),)
        )
    assert api.calls[0][1] == "hv1"


async def test_client_without_certificate_is_refused(
    api: FakeNveApi, address: str, pki: Path
) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    async with grpc.aio.secure_channel(address, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await pb_grpc.TesNveSignallingStub(channel).KeepAlive(pb.VmRef(vm_id=VM_ID), timeout=5)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert api.calls == []


async def test_client_from_another_ca_is_refused(
    api: FakeNveApi, address: str, pki: Path, other_pki: Path
) -> None:
    foreign = tls_material(other_pki, "hv1")
    material = TlsMaterial(ca=(pki / "ca.pem").read_bytes(), cert=foreign.cert, key=foreign.key)
    async with NveClient(address, material, timeout=5) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.signal(KEEPALIVE)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert api.calls == []


async def test_client_refuses_a_server_from_another_ca(
    api: FakeNveApi, address: str, other_pki: Path
) -> None:
    async with NveClient(address, tls_material(other_pki, "hv1"), timeout=5) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.signal(KEEPALIVE)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert api.calls == []


async def test_plaintext_client_is_refused(api: FakeNveApi, address: str) -> None:
    async with NveClient(address, None, "hv1", timeout=5) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.signal(KEEPALIVE)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert api.calls == []


async def test_operator_may_use_operator_rpcs(api: FakeNveApi, address: str, pki: Path) -> None:
    async with NveClient(address, tls_material(pki, "admin")) as client:
        assert await client.list_vms() == VM_VIEWS
        assert await client.set_vid(VM_ID, 0) == SUCCESS
        assert await client.migrate(VM_ID, "nve2", 4) == SUCCESS
    assert [call[0] for call in api.calls] == ["list_vms", "set_vid", "migrate"]


async def test_hypervisor_may_not_use_operator_rpcs(
    api: FakeNveApi, address: str, pki: Path
) -> None:
    async with NveClient(address, tls_material(pki, "hv1")) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.list_vms()
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert raised.value.details() == "'hv1' is not an operator"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.read_tables("nve1", None)
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
        denied = Answer(FailReason.FAILED_AUTHORIZATION, "'hv1' is not an operator")
        assert await client.set_vid(VM_ID, 0) == denied
        assert await client.migrate(VM_ID, "nve2", 0) == denied
    assert api.calls == []


async def test_notifications_for_the_certificate_identity(
    api: FakeNveApi, address: str, pki: Path
) -> None:
    api.publish("hv1", *NOTIFICATIONS, None)
    api.publish("hv2", NOTIFICATIONS[0], None)
    async with NveClient(address, tls_material(pki, "hv1"), "hv1") as client:
        assert [n async for n in client.notifications()] == NOTIFICATIONS


def test_unreadable_tls_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match=r"cannot read the key .*missing.key"):
        TlsMaterial.from_files(__file__, __file__, tmp_path / "missing.key")
