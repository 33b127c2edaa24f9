"""bmv2_lab: the lab comes up, answers, and goes down clean: twice in a row, after a crash in the
middle of `up`, and after its state file is lost. The namespace lab needs root; the loopback lab
runs anywhere."""

from __future__ import annotations

import asyncio
import os
import signal
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
from bmv2_lab.state import LabState, daemons_of, is_running

NEEDS_NETNS = pytest.mark.skipif(netns.available() is not None,
                                 reason=f"namespace lab: {netns.available()}")
LAB_INTERFACES = {"acc1", "acc2", "net", "uplink", "nve1", "nve2", "kvtep", "host", "vx5001",
                  *(f"v-{v.name}" for v in spec.VMS), *(f"vnic-{h.name}" for h in spec.HYPERVISORS)}


def lab_name() -> str:
    return f"nvelabt{os.getpid() % 100000}"


def our_namespaces(name: str) -> set[str]:
    return set(netns.existing()) & set(topology.all_names(name))


def root_interfaces() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def quiet(_msg: str) -> None:
    pass


async def associate(lab: lab_mod.Lab, *vms: str) -> None:
    for vm in vms:
        async with Agent(lab, spec.vm(vm).hv) as agent:
            answer = await agent.associate(vm)
            assert answer.success, answer


@NEEDS_NETNS
def test_netns_up_ping_down_is_clean_and_idempotent(tmp_path: Path) -> None:
    name, run_dir = lab_name(), tmp_path / "lab"
    before = root_interfaces()
    try:
        lab = lab_mod.up(name=name, run_dir=run_dir, mode="netns", progress=quiet)
        assert lab.state.mode == "netns" and lab.state.complete
        assert our_namespaces(name) == set(topology.all_names(name))
        assert not (root_interfaces() - before) & LAB_INTERFACES   # nothing in our namespace
        pids = {k: r.pid for k, r in lab.state.processes.items()}
        again = lab_mod.up(name=name, run_dir=run_dir, mode="netns", progress=quiet)
        assert {k: r.pid for k, r in again.state.processes.items()} == pids   # a no-op
        asyncio.run(associate(lab, "a", "b"))
        assert lab.hosts.ping("a", spec.vm("b").ip).ok
        assert lab.hosts.ping("c", spec.vm("b").ip, count=1).received == 0  # c not associated
        records = list(lab.state.processes.values())
    finally:
        lab_mod.down(name=name, run_dir=run_dir, progress=quiet)
    assert our_namespaces(name) == set()
    assert not any(is_running(r) for r in records)
    assert daemons_of(run_dir) == []
    assert not (run_dir / "state.json").exists()
    assert lab_mod.down(name=name, run_dir=run_dir, progress=quiet) == []   # again: nothing


@NEEDS_NETNS
def test_netns_down_after_a_crash_during_up(tmp_path: Path) -> None:
    """`up` killed with SIGKILL half way: `down` still removes every namespace and daemon."""
    name, run_dir = lab_name(), tmp_path / "lab"
    proc = subprocess.Popen([sys.executable, "-m", "bmv2_lab", "up", "--mode", "netns",
                             "--name", name, "--run-dir", str(run_dir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = LabState.load(run_dir)
            if state is not None and "nve1" in state.processes:
                break                                     # namespaces and a switch exist
            time.sleep(0.02)
        else:
            pytest.fail("up never got as far as starting a switch")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = LabState.load(run_dir)
        assert state is not None and not state.complete
        assert our_namespaces(name)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        removed = lab_mod.down(name=name, run_dir=run_dir, progress=quiet)
    assert removed
    assert our_namespaces(name) == set()
    assert daemons_of(run_dir) == []


@NEEDS_NETNS
def test_netns_down_without_a_state_file(tmp_path: Path) -> None:
    """The state file is gone (deleted, disk trouble): namespaces are found by name, daemons
    by the run directory in their command line."""
    name, run_dir = lab_name(), tmp_path / "lab"
    try:
        lab = lab_mod.up(name=name, run_dir=run_dir, mode="netns", progress=quiet)
        records = list(lab.state.processes.values())
        (run_dir / "state.json").unlink()
    finally:
        lab_mod.down(name=name, run_dir=run_dir, progress=quiet)
    assert our_namespaces(name) == set()
    assert not any(is_running(r) for r in records)


def test_loopback_up_ping_down(tmp_path: Path) -> None:
    """The lab without root: embedded switches on UDP loopback ports, scapy hosts."""
    run_dir = tmp_path / "lab"
    try:
        lab = lab_mod.up(name=lab_name(), run_dir=run_dir, mode="loopback", progress=quiet)
        assert lab.state.mode == "loopback" and lab.state.namespaces == []
        asyncio.run(associate(lab, "a", "b", "c", "d"))
        assert lab.hosts.ping("a", spec.vm("b").ip).ok                       # blue, overlay
        assert lab.hosts.ping("c", spec.vm("d").ip).ok                       # red, overlay
        assert lab.hosts.ping("a", spec.vm("d").ip, count=1).received == 0   # isolated
        assert lab.hosts.tcp("a", spec.vm("b").ip, 22) == "open"
        records = list(lab.state.processes.values())
    finally:
        lab_mod.down(run_dir=run_dir, progress=quiet)
    assert not any(is_running(r) for r in records)
    assert daemons_of(run_dir) == []


def test_bmv2_target_needs_the_namespace_lab(tmp_path: Path) -> None:
    with pytest.raises(lab_mod.LabError, match="bmv2"):
        lab_mod.up(name=lab_name(), run_dir=tmp_path / "lab", mode="loopback", target="bmv2",
                   progress=quiet)
    assert LabState.load(tmp_path / "lab") is None
