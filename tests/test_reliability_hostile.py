"""Hostile or broken hypervisors.

- a client without a certificate, with one from another CA, or with one whose name the NVE
  does not know, is refused; in lab mode a client that names no one is refused;
- hypervisor A cannot touch hypervisor B's VMs (neither by reference nor by associating B's VM
  id), nor use the operator API;
- VN membership is enforced: FAILED_AUTHORIZATION, and a log line naming the identity;
- a flooding hypervisor is rate-limited with BUSY while the others keep being served;
- a MAC already bound to another VM is CONFLICT_POLICIES;
- a full table answers NON_SUFFICIENT_RESOURCES and leaves nothing half-installed, whether the
  controller's own count or the switch refuses (then the batch written so far is rolled back).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time
from pathlib import Path

import grpc
import pytest

from controlplane.app import Controller
from controlplane.config import TlsConfig
from controlplane.lifecycle import Event
from controlplane.p4rt import p4names as P
from controlplane.pki import init_pki
from controlplane.ratelimit import RateLimit, RateLimitConfigError, RateLimiter
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import (
    FailReason,
    VmRefRequest,
    VmRequest,
    VnSelector,
    parse_mac,
)
from controlplane.signalling.proto import nve_signalling_pb2 as pb
from controlplane.signalling.proto import nve_signalling_pb2_grpc as pb_grpc
from controlplane.signalling.tls import TlsMaterial

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
sys.path.insert(0, str(Path(__file__).parent))
import rlab
from controller_lab import lab

VM_A = "aaaaaaaa-1111-4111-8111-111111111111"
VM_B = "bbbbbbbb-2222-4222-8222-222222222222"
VM_C = "cccccccc-3333-4333-8333-333333333333"
MAC_A, MAC_B, MAC_C = "52:54:00:aa:00:01", "52:54:00:bb:00:02", "52:54:00:cc:00:03"
ATTACHMENT = {"hv1": ("nve1", 1), "hv2": ("nve2", 1), "hv3": ("nve1", 2), "mallory": ("nve1", 1)}


def request(event: Event, vm: str, macs: str | tuple[str, ...], hv: str = "hv1",
            vn: str = "blue") -> VmRequest:
    nve, port = ATTACHMENT[hv]
    macs = (macs,) if isinstance(macs, str) else macs
    return VmRequest(event, vm, VnSelector(name=vn), macs=tuple(parse_mac(m) for m in macs),
                     nve=nve, port=port)


def addresses(net) -> dict[str, str]:
    return {sw.name: sw.grpc_addr for sw in net.cfg.switches}


async def tables(net) -> dict[str, rlab.Installed]:
    return {name: await rlab.read_switch(a) for name, a in addresses(net).items()}


async def assert_tables_match_records(net) -> None:
    for name, address in addresses(net).items():
        found = await rlab.read_switch(address)
        wanted = rlab.expected(net.cfg, name, net.service.records.values())
        assert found == wanted, rlab.difference(found, wanted)


@contextlib.asynccontextmanager
async def controller(net, **kw):
    async with Controller(net.cfg, insecure=net.cfg.tls.insecure, **kw) as ctl:
        net.controller = ctl
        try:
            yield ctl
        finally:
            net.controller = None


async def test_unauthenticated_and_foreign_clients_are_refused(tmp_path: Path) -> None:
    pki, foreign = tmp_path / "pki", tmp_path / "foreign"
    init_pki(pki, ["hv1", "hv2", "mallory"], ["admin"], ["localhost", "127.0.0.1"])
    init_pki(foreign, ["hv1"], [], ["localhost", "127.0.0.1"])

    def tls(directory: Path, name: str) -> TlsMaterial:
        return TlsMaterial.from_files(pki / "ca.pem", directory / f"{name}.pem",
                                      directory / f"{name}.key")

    async with lab(tmp_path) as net:
        net.cfg = dataclasses.replace(
            net.cfg, tls=TlsConfig(False, pki / "ca.pem", pki / "server.pem", pki / "server.key"))
        async with controller(net) as ctl:
            address = f"127.0.0.1:{ctl.port}"
            async with NveClient(address, tls(pki, "hv1")) as hv1:
                assert (await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A))).success
                # The operator API is for operators: a hypervisor's certificate is refused.
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await hv1.list_vms()
                assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
                moved = await hv1.migrate(VM_A, "nve2", 0)
                assert moved.reason is FailReason.FAILED_AUTHORIZATION, moved
                revid = await hv1.set_vid(VM_A, 77)
                assert revid.reason is FailReason.FAILED_AUTHORIZATION, revid
            before = await tables(net)
            # No certificate at all, and a certificate from a CA the NVE does not trust.
            for client in (NveClient(address, None, identity="hv1", timeout=3),
                           NveClient(address, TlsMaterial.from_files(
                               pki / "ca.pem", foreign / "hv1.pem", foreign / "hv1.key"), timeout=3)):
                async with client:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await client.signal(VmRefRequest(Event.TERMINATE, VM_A))
                    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
            # A certificate from our CA whose name is no hypervisor of ours.
            async with NveClient(address, tls(pki, "mallory")) as mallory:
                who = await mallory.signal(request(Event.ASSOCIATE, VM_C, MAC_C, hv="mallory"))
                assert who.reason is FailReason.FAILED_AUTHORIZATION and "mallory" in who.detail
                theirs = await mallory.signal(VmRefRequest(Event.TERMINATE, VM_A))
                assert theirs.reason is FailReason.FAILED_AUTHORIZATION
            assert await tables(net) == before
            assert [vm.vm_id for vm in await net.service.list_vms()] == [VM_A]


async def test_lab_mode_client_without_identity_is_refused(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller() as ctl:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ctl.port}") as channel:
            stub = pb_grpc.TesNveSignallingStub(channel)
            answer = await stub.Terminate(pb.VmRef(vm_id=VM_A))
            assert answer.result == pb.FAIL and answer.reason == pb.FAILED_AUTHORIZATION
            assert "identity" in answer.detail
            with pytest.raises(grpc.aio.AioRpcError) as stream:
                async for _ in stub.Notifications(pb.NotificationRequest()):
                    pass
            assert stream.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_hypervisor_cannot_touch_anothers_vms(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            a = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A))
            assert a.success
            before = await tables(net)
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                for event in (Event.SUSPEND, Event.RESUME, Event.EMIGRATE, Event.TERMINATE,
                              Event.KEEPALIVE):
                    answer = await hv2.signal(VmRefRequest(event, VM_A))
                    assert answer.reason is FailReason.FAILED_AUTHORIZATION, (event, answer)
                    assert "hv1" in answer.detail and "hv2" in answer.detail
                # Associating B's VM id from elsewhere would displace it: only immigration may.
                for event in (Event.PRE_ASSOCIATE, Event.ASSOCIATE):
                    answer = await hv2.signal(request(event, VM_A, MAC_A, hv="hv2"))
                    assert answer.reason is FailReason.FAILED_AUTHORIZATION, (event, answer)
                    assert "immigration" in answer.detail
            assert any("hypervisor=hv2" in r.getMessage() and VM_A in r.getMessage()
                       for r in caplog.records)
            assert await tables(net) == before
            (vm,) = await net.service.list_vms()
            assert (vm.hypervisor, vm.state, vm.vid) == ("hv1", "associated", a.vid)


async def test_vn_membership_is_enforced_and_logged(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    async with lab(tmp_path) as net, net.running_controller(), net.client("hv3") as hv3:
        before = await tables(net)
        with caplog.at_level(logging.WARNING):
            for vn in ("blue", "green"):
                answer = await hv3.signal(request(Event.ASSOCIATE, VM_C, MAC_C, hv="hv3", vn=vn))
                assert answer.reason is FailReason.FAILED_AUTHORIZATION, answer
                assert vn in answer.detail and "hv3" in answer.detail
        lines = [r.getMessage() for r in caplog.records if "hypervisor=hv3" in r.getMessage()]
        assert any("not allowed" in line and "blue" in line for line in lines), lines
        assert await tables(net) == before
        ok = await hv3.signal(request(Event.ASSOCIATE, VM_C, MAC_C, hv="hv3", vn="red"))
        assert ok.success, ok


async def flood(client: NveClient, count: int, concurrency: int = 64) -> list:
    """`count` keep-alives of VMs nobody has, `concurrency` at a time."""
    answers: list = []
    pending = [VmRefRequest(Event.KEEPALIVE, f"f100d000-0000-4000-8000-{i:012x}")
               for i in range(count)]

    async def worker() -> None:
        while pending:
            answers.append(await client.signal(pending.pop()))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


async def test_flooding_hypervisor_is_rate_limited_others_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with lab(tmp_path) as net, controller(net, rate_limit=RateLimit(20, 40)):
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            served: list = []

            async def polite() -> None:
                for n in range(10):
                    vm = f"9000{n:04x}-0000-4000-8000-000000000000"
                    served.append(await hv2.signal(request(Event.ASSOCIATE, vm,
                                                           f"52:54:00:99:00:{n:02x}", hv="hv2")))
                    await asyncio.sleep(0.02)

            with caplog.at_level(logging.WARNING):
                answers, _ = await asyncio.gather(flood(hv1, 400), polite())
            busy = [a for a in answers if a.reason is FailReason.BUSY]
            assert len(busy) >= 300, len(busy)             # 40 at once, 20/s after that
            assert all("rate limit" in a.detail and "hv1" in a.detail for a in busy)
            others = [a for a in answers if a.reason is not FailReason.BUSY]
            assert all(a.reason is FailReason.INVALID_REQUEST for a in others)  # served: unknown VM
            assert all(a.success for a in served), served
            assert any("hypervisor=hv1 rate-limited" in r.getMessage() for r in caplog.records)
            await asyncio.sleep(0.2)                       # the bucket refills: hv1 served again
            again = await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A))
            assert again.success, again


async def test_default_rate_limit_stops_a_flood(tmp_path: Path) -> None:
    """With the defaults (200 requests/s, burst 400) a flood of 1,500 requests is cut."""
    async with lab(tmp_path) as net, net.running_controller(), net.client("hv1") as hv1:
        started = time.monotonic()
        answers = await flood(hv1, 1500)
        elapsed = time.monotonic() - started
        busy = sum(a.reason is FailReason.BUSY for a in answers)
        # At most 400 + 200/s got through; at least that many did (a little slack).
        assert busy <= 1500 - 400, busy
        assert busy >= 1500 - 400 - 200 * elapsed - 20, (busy, elapsed)
        assert elapsed > 5 or busy > 0


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimit(10, 5), clock=lambda: now[0], max_identities=3)
    assert [limiter.allow("a") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("b")                              # another identity has its own bucket
    now[0] += 0.1                                          # one token back
    assert limiter.allow("a") and not limiter.allow("a")
    now[0] += 10
    assert [limiter.allow("a") for _ in range(6)] == [True] * 5 + [False]   # capped at burst
    for name in ("c", "d", "e"):                           # bounded memory
        limiter.allow(name)
    assert len(limiter) <= 3
    assert "10 requests/s, burst 5" in limiter.detail("a")
    off = RateLimiter(RateLimit(0, 1))
    assert all(off.allow("x") for _ in range(1000))
    with pytest.raises(RateLimitConfigError, match="rate"):
        RateLimit(-1, 1)


async def test_mac_bound_elsewhere_is_conflict_policies(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2, net.client("hv3") as hv3:
            assert (await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A))).success
            before = await tables(net)
            for client, hv, vn in ((hv2, "hv2", "blue"), (hv3, "hv3", "red"),
                                   (hv1, "hv1", "blue")):
                answer = await client.signal(request(Event.ASSOCIATE, VM_B, (MAC_B, MAC_A),
                                                     hv=hv, vn=vn))
                assert answer.reason is FailReason.CONFLICT_POLICIES, (hv, answer)
                assert MAC_A in answer.detail and VM_A in answer.detail
            assert await tables(net) == before


async def test_full_table_is_non_sufficient_resources_nothing_half_installed(
        tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv2") as hv2:
            assert (await hv2.signal(request(Event.ASSOCIATE, VM_B, MAC_B, hv="hv2"))).success
            # 1) The controller's own count (from the P4Info sizes): refused before writing.
            net.service.capacities["vap_src_mac"] = 3
            macs = tuple(f"52:54:00:aa:01:{i:02x}" for i in range(4))
            refused = await hv1.signal(request(Event.ASSOCIATE, VM_A, macs))
            assert refused.reason is FailReason.NON_SUFFICIENT_RESOURCES, refused
            assert "vap_src_mac" in refused.detail
            net.service.capacities["vap_src_mac"] = 16384
            await assert_tables_match_records(net)
            # 2) The switch's table is smaller than the P4Info says: it refuses the third of four
            #    MACs; the entries written before it, on both switches, are removed again.
            table = net.switches["nve1"].datapath.switch.table(P.VAP_SRC_MAC)
            original = table.info
            table.info = dataclasses.replace(original, size=len(table) + 2)
            try:
                answer = await hv1.signal(request(Event.ASSOCIATE, VM_A, macs))
                assert answer.reason is FailReason.NON_SUFFICIENT_RESOURCES, answer
                await assert_tables_match_records(net)
                assert VM_A not in {vm.vm_id for vm in await net.service.list_vms()}
                # Filling it one MAC at a time: the last that fits is SUCCESS, then refused.
                results = [await hv1.signal(request(Event.ASSOCIATE, f"abcd{i:04x}-0000-4000-8000-"
                                                    "000000000000", f"52:54:00:ab:00:{i:02x}"))
                           for i in range(3)]
                assert [r.success for r in results] == [True, True, False], results
                assert results[2].reason is FailReason.NON_SUFFICIENT_RESOURCES
                await assert_tables_match_records(net)
            finally:
                table.info = original
            assert (await hv1.signal(request(Event.ASSOCIATE, VM_A, macs))).success
            await assert_tables_match_records(net)


async def test_stale_copy_cannot_resume_beside_the_immigrated_one(tmp_path: Path) -> None:
    """Found by the signalling fuzzer: a VM suspended at hv1, immigrated to hv3, then resumed
    at hv1 had two active copies whose FDB entries share a key; the switch kept one and the
    controller believed both. Now the resume is refused; the VM returns by immigration once the
    stale copy is terminated."""
    async with lab(tmp_path) as net, net.running_controller():
        async with net.client("hv1") as hv1, net.client("hv3") as hv3:
            assert (await hv1.signal(request(Event.ASSOCIATE, VM_A, MAC_A, vn="red"))).success
            assert (await hv1.signal(VmRefRequest(Event.SUSPEND, VM_A))).success
            moved = await hv3.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, hv="hv3",
                                             vn="red"))
            assert moved.success, moved
            back = await hv1.signal(VmRefRequest(Event.RESUME, VM_A))
            assert back.reason is FailReason.CONFLICT_POLICIES and "immigrate" in back.detail
            await assert_tables_match_records(net)
            assert (await hv1.signal(VmRefRequest(Event.TERMINATE, VM_A))).success
            home = await hv1.signal(request(Event.IMMIGRATE_ASSOCIATE, VM_A, MAC_A, vn="red"))
            assert home.success, home
            await assert_tables_match_records(net)
            states = {vm.hypervisor: vm.state for vm in await net.service.list_vms()}
            assert states == {"hv1": "associated", "hv3": "associated (emigrated)"}, states
