"""The real controller with mutual TLS: identities from certificates, refusals, nvectl, metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.request
from pathlib import Path

import pytest

from controlplane.app import Controller
from controlplane.cli import main as nvectl
from controlplane.config import TlsConfig
from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import FailReason, VmRefRequest, VmRequest, VnSelector, parse_mac
from controlplane.signalling.tls import TlsMaterial
from controlplane.toolchain import free_port
from controller_lab import lab

VM_A = "11111111-1111-1111-1111-111111111111"


def material(pki: Path, name: str) -> TlsMaterial:
    return TlsMaterial.from_files(pki / "ca.pem", pki / f"{name}.pem", pki / f"{name}.key")


async def test_mtls_identities_nvectl_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pki = tmp_path / "pki"
    assert nvectl(["pki", "init", str(pki), "--hypervisor", "hv1", "--hypervisor", "hv2",
                   "--operator", "admin"]) == 0
    async with lab(tmp_path) as net:
        metrics_port = free_port()
        net.cfg = dataclasses.replace(
            net.cfg, tls=TlsConfig(False, pki / "ca.pem", pki / "server.pem", pki / "server.key"),
            metrics_addr=f"127.0.0.1:{metrics_port}")
        async with Controller(net.cfg) as ctl:
            address = f"127.0.0.1:{ctl.port}"
            request = VmRequest(Event.ASSOCIATE, VM_A, VnSelector(name="blue"),
                                macs=(parse_mac("52:54:00:00:00:0a"),), nve="nve1", port=1)
            async with NveClient(address, material(pki, "hv1")) as hv1:
                answer = await hv1.signal(request)
                assert answer.success, answer
            async with NveClient(address, material(pki, "hv2")) as hv2:
                theirs = await hv2.signal(VmRefRequest(Event.SUSPEND, VM_A))
                assert theirs.reason is FailReason.FAILED_AUTHORIZATION
                assert "hv1" in theirs.detail
            async with NveClient(address, None, identity="hv1") as plain:
                with pytest.raises(Exception) as refused:  # no certificate: no connection
                    await plain.signal(VmRefRequest(Event.SUSPEND, VM_A))
                assert "UNAVAILABLE" in str(refused.value) or "unreachable" in str(refused.value)

            common = ["--server", address, "--ca", str(pki / "ca.pem")]
            admin = [*common, "--cert", str(pki / "admin.pem"), "--key", str(pki / "admin.key")]
            capsys.readouterr()
            assert await asyncio.to_thread(nvectl, ["show", "vms", *admin, "--json"]) == 0
            (vm,) = json.loads(capsys.readouterr().out)
            assert vm["vm_id"] == VM_A and vm["vid"] == answer.vid and vm["state"] == "associated"
            assert await asyncio.to_thread(nvectl, ["show", "tables", "fdb", "--nve", "nve1", *admin]) == 0
            assert "forward_local" in capsys.readouterr().out
            hv_as_operator = [*common, "--cert", str(pki / "hv1.pem"), "--key", str(pki / "hv1.key")]
            assert await asyncio.to_thread(nvectl, ["show", "vms", *hv_as_operator]) != 0

            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read())
            text = body.decode()
            assert 'nve_operations_total{operation="associate",result="success"} 1.0' in text
            assert 'nve_operations_total{operation="suspend",result="failed_authorization"} 1.0' in text
            assert 'nve_vms{state="associated"} 1.0' in text
            assert 'nve_table_capacity{table="fdb"} 32768.0' in text
