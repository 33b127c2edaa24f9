"""bmv2_lab: a Linux kernel VXLAN device as a third VTEP. A VM behind our NVE and the host behind
the kernel VTEP ping each other both ways (the controller knows the kernel VTEP's host from a
static_host entry), and Debian's tshark, capturing on the underlay, decodes our NVE's frames as
VXLAN with the VN's VNI and the tenant addresses inside. Needs root (namespaces, the kernel
VXLAN device); the tshark part needs tshark."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bmv2_lab import lab as lab_mod
from bmv2_lab import netns, spec, topology
from bmv2_lab.agent import Agent

pytestmark = pytest.mark.skipif(netns.available() is not None,
                                reason=f"kernel VTEP lab: {netns.available()}")
KV = spec.KERNEL_VTEP
VM = spec.vm("a")                        # blue, behind hv1 on nve1
NVE = spec.nve("nve1")
VNI = spec.VNS[KV.vn]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    run_dir = tmp_path_factory.mktemp("kvtep") / "lab"
    try:
        lab = lab_mod.up(name=f"nvelabk{os.getpid() % 100000}", run_dir=run_dir, mode="netns",
                         progress=lambda _m: None)

        async def associate() -> None:
            async with Agent(lab, VM.hv) as hv:
                assert (await hv.associate(VM.name)).success

        asyncio.run(associate())
        yield lab
    finally:
        lab_mod.down(run_dir=run_dir, progress=lambda _m: None)


def test_ping_both_ways_with_the_kernel_vtep(lab: lab_mod.Lab) -> None:
    to_kernel = lab.hosts.ping(VM.name, KV.host_ip)
    assert to_kernel.ok, f"VM {VM.name} -> {KV.host_ip}: {to_kernel.text()}"
    from_kernel = lab.hosts.ping("khost", VM.ip)
    assert from_kernel.ok, f"khost -> {VM.ip}: {from_kernel.text()}"
    # The kernel VTEP learned the VM's MAC behind our NVE's VTEP address.
    fdb = netns.run(["bridge", "-n", topology.ns_name(lab.state.name, "kvtep"), "fdb", "show",
                     "dev", f"vx{VNI}"]).stdout
    assert any(VM.mac in line and f"dst {NVE.vtep_ip}" in line for line in fdb.splitlines()), fdb


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed "
                    "(apt-get install tshark; .ci/run installs it)")
def test_tshark_decodes_our_frames_as_vxlan(lab: lab_mod.Lab, tmp_path: Path) -> None:
    pcap = tmp_path / "underlay.pcap"
    os.chmod(tmp_path, 0o777)                  # dumpcap may drop privileges to write
    router = topology.ns_name(lab.state.name, "router")
    capture = subprocess.Popen(
        ["ip", "netns", "exec", router, "tshark", "-i", NVE.name, "-f", f"udp port {spec.VXLAN_PORT}",
         "-a", "duration:20", "-w", str(pcap)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert capture.stderr is not None
        deadline = time.monotonic() + 30
        line = ""
        while time.monotonic() < deadline and "Capturing on" not in line:
            line = capture.stderr.readline()
            if not line and capture.poll() is not None:
                pytest.fail(f"tshark exited: {capture.returncode}")
        assert lab.hosts.ping(VM.name, KV.host_ip).ok
        assert lab.hosts.ping("khost", VM.ip).ok
        time.sleep(0.5)
    finally:
        capture.terminate()
        capture.wait(timeout=30)
    fields = ["vxlan.vni", "ip.src", "ip.dst", "eth.src", "eth.dst", "icmp.type"]
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "vxlan && icmp", "-T", "fields",
                          *[arg for f in fields for arg in ("-e", f)], "-E", "separator=|"],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]
    assert rows, f"no VXLAN-encapsulated ICMP decoded in {pcap}"
    # Our NVE's frames: outer 10.0.1.1 -> 10.0.3.1 from its router MAC, VNI 5001, and the VM's
    # addresses inside (tshark lists outer and inner values comma-separated).
    ours = [r for r in rows if r["ip.src"] == f"{NVE.vtep_ip},{VM.ip}"]
    assert ours, rows
    for row in ours:
        assert row["vxlan.vni"] == str(VNI)
        assert row["ip.dst"] == f"{KV.vtep_ip},{KV.host_ip}"
        assert row["eth.src"].split(",") == [NVE.router_mac, VM.mac]
        assert row["eth.dst"].split(",")[0] == NVE.gateway_mac
    assert {r["icmp.type"] for r in ours} == {"8", "0"}       # our requests and our replies
    # ... and the kernel's frames toward us, decoded the same way.
    theirs = [r for r in rows if r["ip.src"] == f"{KV.vtep_ip},{KV.host_ip}"]
    assert theirs and all(r["vxlan.vni"] == str(VNI) and r["ip.dst"] == f"{NVE.vtep_ip},{VM.ip}"
                          for r in theirs), rows
