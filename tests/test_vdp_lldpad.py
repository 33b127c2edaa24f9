"""Interop with a real VDP station: Debian's lldpad (lldpad, lldptool, vdptool) as hypervisor hv1
on nve1's access port 1, through real switches (embedded softswitch, and bmv2 when installed)
and the controller (`nvectl serve`), all in private network namespaces.

The tests of one target share one lab and run in file order: VM B is attached over gRPC on
nve2 (the far end of the frames the station's VMs send); the lldpad station pre-associates,
associates, de-associates, is refused, is told by the NVE that a VSI ended, keeps an
association alive for more than 30 s, and finally dies so that its VM ages out.
Needs root and lldpad (`.ci/run` installs it); skipped with the reason otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from controller_lab import vm_frame
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

sys.path.insert(0, str(Path(__file__).parent / "data" / "vdp"))
from lldpad_lab import LldpadLab, find_bmv2, missing_prerequisite

MISSING = missing_prerequisite()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"lldpad interop: {MISSING}")

VM_PRE = "aaaaaaaa-0000-4000-8000-000000000001"
VM_RR = "aaaaaaaa-0000-4000-8000-000000000002"
VM_A = "aaaaaaaa-0000-4000-8000-00000000000a"
VM_K = "aaaaaaaa-0000-4000-8000-00000000000c"
VM_RED = "aaaaaaaa-0000-4000-8000-00000000000d"
VM_V = "aaaaaaaa-0000-4000-8000-00000000000e"
VM_B = "bbbbbbbb-0000-4000-8000-00000000000b"
MAC_PRE, MAC_RR, MAC_A = "52:54:00:11:00:01", "52:54:00:11:00:02", "52:54:00:11:00:0a"
MAC_K, MAC_RED, MAC_V = "52:54:00:11:00:0c", "52:54:00:11:00:0d", "52:54:00:11:00:0e"
MAC_B = "52:54:00:22:00:0b"
AGING = 8.0                       # tests/data/vdp/lab.toml


TARGETS = [
    pytest.param("embedded"),
    pytest.param("bmv2", marks=pytest.mark.skipif(
        find_bmv2() is None, reason="bmv2 simple_switch_grpc not installed (PATH or "
                                    "$P4_TOOLCHAIN_PREFIX/bin)")),
]


@pytest.fixture(scope="module", params=TARGETS)
def net(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[LldpadLab]:
    """The lab of one target, up for all the tests of this module."""
    lab = LldpadLab(tmp_path_factory.mktemp(f"lldpad-{request.param}"), request.param)
    try:
        lab.start()
        deadline = time.monotonic() + 20
        while not lab.evb_negotiated():                 # the station took our EVB TLV
            assert time.monotonic() < deadline, lab.tail("controller")
            time.sleep(0.3)
        yield lab
    except BaseException:
        print(f"--- controller log ---\n{lab.tail('controller', 80)}\n"
              f"--- lldpad log ---\n{lab.tail('lldpad', 40)}", file=sys.stderr)
        raise
    finally:
        lab.stop()
        print(f"lldpad lab ({request.param}) logs: {lab.workdir}")


def attach_vm_b(net: LldpadLab) -> int:
    """VM B on nve2, associated over gRPC by hv2 (again: it has no keep-alives and ages out
    like any VM); its VID."""
    net.nvectl("vm", "associate", VM_B, "--vn", "blue", "--mac", MAC_B, "--nve", "nve2",
               "--port", "1", identity="hv2")
    return int(net.vms()[VM_B]["vid"])


def test_pre_associate(net: LldpadLab) -> None:
    pre = net.vdptool("preassoc", VM_PRE, MAC_PRE)
    assert pre.mode == "preassoc" and pre.error is None, pre.text
    assert pre.vid is not None and 2 <= pre.vid <= 4094           # the NVE assigned it
    rr = net.vdptool("preassoc-rr", VM_RR, MAC_RR)
    assert rr.mode == "preassoc-rr" and rr.error is None, rr.text
    assert rr.vid not in (None, 0, pre.vid)
    vms = net.vms()
    for vm, result in ((VM_PRE, pre), (VM_RR, rr)):
        assert vms[vm]["state"] == "pre-associated" and vms[vm]["origin"] == "vdp"
        assert vms[vm]["vid"] == result.vid and vms[vm]["hypervisor"] == "hv1"
    for vm, mac, result in ((VM_PRE, MAC_PRE, pre), (VM_RR, MAC_RR, rr)):
        gone = net.vdptool("deassoc", vm, mac, vid=result.vid or 0)
        assert gone.mode == "deassoc" and gone.error is None, gone.text
    assert VM_PRE not in net.vms() and VM_RR not in net.vms()


def test_associate_forwards_over_vxlan(net: LldpadLab) -> None:
    b_vid = attach_vm_b(net)
    assoc = net.vdptool("assoc", VM_A, MAC_A)
    assert assoc.mode == "assoc" and assoc.error is None, assoc.text
    vid = assoc.vid
    assert vid is not None and 2 <= vid <= 4094
    vms = net.vms()
    assert vms[VM_A]["state"] == "associated" and vms[VM_A]["vid"] == vid
    assert vms[VM_A]["origin"] == "vdp" and vms[VM_B]["origin"] == "grpc"
    shown = net.nvectl("show", "vms").stdout
    assert "vdp" in shown and "grpc" in shown
    out = net.frames([vm_frame(MAC_A, MAC_B, vid)])
    (vxlan,) = [Ether(f) for f in out["n2p4"] if Ether(f).haslayer(VXLAN)]
    assert vxlan[VXLAN].vni == 5001 and vxlan[VXLAN][Ether].src == MAC_A
    (delivered,) = [Ether(f) for f in out["vm2"]]
    assert delivered.src == MAC_A and delivered[Dot1Q].vlan == b_vid


def test_deassociate_stops_forwarding(net: LldpadLab) -> None:
    vid = int(net.vms()[VM_A]["vid"])
    gone = net.vdptool("deassoc", VM_A, MAC_A, vid=vid)
    assert gone.mode == "deassoc" and gone.error is None, gone.text
    assert VM_A not in net.vms()
    attach_vm_b(net)
    out = net.frames([vm_frame(MAC_A, MAC_B, vid)])
    assert out == {"n2p4": [], "vm2": []}


def test_vn_the_hypervisor_may_not_join_is_refused(net: LldpadLab) -> None:
    red = net.vdptool("assoc", VM_RED, MAC_RED, typeid=5002)      # hv1 may join blue only
    assert red.mode == "deassoc", red.text
    assert red.error == "Other Failures", red.text
    unknown = net.vdptool("assoc", VM_RED, MAC_RED, typeid=4242)  # no such VN at all
    assert unknown.error == "Unable to contact VSI Mgr", unknown.text
    assert VM_RED not in net.vms()


def test_nve_initiated_deassociate_reaches_the_station(net: LldpadLab) -> None:
    assoc = net.vdptool("assoc", VM_V, MAC_V)
    assert assoc.mode == "assoc" and assoc.error is None, assoc.text
    assert VM_V in net.station_vsis()
    net.nvectl("vm", "set-vid", VM_V, "42")            # an operator gives the VM another VID
    deadline = time.monotonic() + 5
    while VM_V in net.station_vsis():                   # lldpad got an unsolicited De-Associate
        assert time.monotonic() < deadline, net.tail("controller")
        time.sleep(0.2)
    net.nvectl("vm", "terminate", VM_V, identity="hv1")
    assert VM_V not in net.vms()


def test_keepalive_holds_the_association_for_30_seconds(net: LldpadLab) -> None:
    assoc = net.vdptool("assoc", VM_K, MAC_K)
    assert assoc.mode == "assoc" and assoc.error is None, assoc.text
    started = time.monotonic()
    while time.monotonic() - started < 31:                        # ~4 aging times
        time.sleep(5)
        vm = net.vms()[VM_K]
        assert vm["state"] == "associated", vm
        assert float(vm["idle_seconds"]) < AGING / 2, vm           # refreshed by keep-alives
    attach_vm_b(net)
    out = net.frames([vm_frame(MAC_K, MAC_B, assoc.vid or 0)])
    assert len(out["vm2"]) == 1 and Ether(out["vm2"][0]).src == MAC_K


def test_stopping_lldpad_ages_the_vm_out(net: LldpadLab) -> None:
    vid = int(net.vms()[VM_K]["vid"])
    net.kill_lldpad()
    deadline = time.monotonic() + AGING + 10
    while VM_K in net.vms():
        assert time.monotonic() < deadline, net.tail("controller")
        time.sleep(0.5)
    assert f"vm={VM_K} aged out" in net.tail("controller", 400)
    attach_vm_b(net)
    out = net.frames([vm_frame(MAC_K, MAC_B, vid)])
    assert out == {"n2p4": [], "vm2": []}
