"""bmv2_lab with the etcd store: one controller per NVE (ctl1: nve1, ctl2: nve2) sharing VM
locations through an etcd the lab starts. Fast checks of the per-NVE configurations, and the
whole demo end to end in the loopback lab (any user; skipped without etcd)."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bmv2_lab import controller, etcd, spec
from bmv2_lab import lab as lab_mod
from bmv2_lab.state import DAEMON_MARKERS, LabState, daemons_of
from controlplane.config import load_config

SWITCHES = {"nve1": "unix:/lab/nve1.sock", "nve2": "unix:/lab/nve2.sock"}
ADDRS = {"nve1": "127.0.0.1:50051", "nve2": "127.0.0.1:50052"}
ENDPOINT = "127.0.0.1:23790"


def etcd_state(run_dir: Path, mode: str = "netns") -> LabState:
    return LabState(name="nvelabu", mode=mode, target="embedded", run_dir=str(run_dir),
                    store="etcd", switches=dict(SWITCHES), controllers=dict(ADDRS),
                    etcd_endpoint=ENDPOINT)


@pytest.mark.parametrize("policy", controller.POLICIES)
def test_one_config_per_nve_with_its_switch_hypervisors_and_store(tmp_path: Path,
                                                                  policy: str) -> None:
    state = etcd_state(tmp_path)
    instances = controller.instances(state)
    assert [(i.key, i.nves) for i in instances] == [("ctl1", ("nve1",)), ("ctl2", ("nve2",))]
    configs = {i.key: load_config(controller.write_config(state, i, policy)) for i in instances}
    for key, cfg in configs.items():
        nve = next(n for n, k in spec.ETCD_CONTROLLERS.items() if k == key)
        assert [s.name for s in cfg.switches] == [nve]
        assert cfg.switches[0].grpc_addr == SWITCHES[nve]
        assert sorted(h.name for h in cfg.hypervisors) == sorted(
            h.name for h in spec.HYPERVISORS if h.nve == nve)
        assert cfg.signalling_addr == ADDRS[nve]
        assert cfg.database == tmp_path.resolve() / f"{key}.db"
        store = cfg.store
        assert (store.kind, store.endpoints, store.controller_id, store.lease_ttl) == (
            "etcd", (ENDPOINT,), key, spec.ETCD_LEASE_TTL)
        # The kernel VTEP's host is static: both NVEs must know it (namespace lab).
        assert [h.vtep_ip for h in cfg.static_hosts] == [
            int(ipaddress.IPv4Address(spec.KERNEL_VTEP.vtep_ip))]
        assert bool(cfg.vn_by_name("blue").acl) == (policy == "acl")   # type: ignore[union-attr]
    # Each reaches the other's VTEP: the locations it learns from etcd get a route.
    ctl1, ctl2 = configs["ctl1"].switches[0], configs["ctl2"].switches[0]
    assert ctl1.route_for(ctl2.vtep_ip) is not None
    assert ctl2.route_for(ctl1.vtep_ip) is not None


def test_agents_signal_their_own_nves_controller(tmp_path: Path) -> None:
    state = etcd_state(tmp_path)
    assert {hv.name: state.controller_for(hv.nve) for hv in spec.HYPERVISORS} == {
        "hv1": ADDRS["nve1"], "hv3": ADDRS["nve1"], "hv2": ADDRS["nve2"], "hv4": ADDRS["nve2"]}
    local = LabState(name="nvelabu", mode="loopback", target="embedded", run_dir=str(tmp_path),
                     controller_addr="127.0.0.1:50051")
    assert {local.controller_for(n.name) for n in spec.NVES} == {"127.0.0.1:50051"}


def test_local_store_keeps_one_controller_for_both_nves(tmp_path: Path) -> None:
    state = LabState(name="nvelabu", mode="loopback", target="embedded", run_dir=str(tmp_path),
                     switches=dict(SWITCHES), controller_addr="127.0.0.1:50051")
    (instance,) = controller.instances(state)
    path = controller.write_config(state, instance, "base")
    assert path.name == "controller.toml"
    cfg = load_config(path)
    assert [s.name for s in cfg.switches] == ["nve1", "nve2"]
    assert len(cfg.hypervisors) == len(spec.HYPERVISORS)
    assert cfg.store.kind == "local" and cfg.static_hosts == ()
    assert cfg.database == tmp_path.resolve() / "nve.db"


def test_etcd_is_a_lab_daemon_down_finds(tmp_path: Path) -> None:
    argv = etcd.command("/usr/bin/etcd", "nvelabu-etcd", etcd.data_dir(tmp_path), 23790, 23800)
    text = " ".join(argv)
    assert any(marker in text for marker in DAEMON_MARKERS)
    assert str(tmp_path.resolve()) + "/" in text        # `down` matches it by the run dir
    assert "http://127.0.0.1:23790" in argv and "--data-dir" in argv


@pytest.mark.skipif(shutil.which("etcd") is None,
                    reason="etcd is not installed (Debian: apt-get install etcd-server)")
def test_etcd_demo_end_to_end_in_the_loopback_lab(tmp_path: Path) -> None:
    run_dir = tmp_path / "lab"
    name = f"nvelabe{os.getpid() % 100000}"
    command = [sys.executable, "-m", "bmv2_lab", "demo", "--store", "etcd", "--mode", "loopback",
               "--name", name, "--run-dir", str(run_dir), "--out-dir", str(tmp_path / "out")]
    try:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=False)
    finally:
        lab_mod.down(name=name, run_dir=run_dir, progress=lambda _m: None)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    assert re.search(r"\[lab\] etcd: .* on 127\.0\.0\.1:\d+", out), out[:3000]
    for ctl, nve in (("ctl1", "nve1"), ("ctl2", "nve2")):
        assert re.search(rf"\[lab\] {ctl}: nvectl serve on .* programs {nve} alone", out)
        assert f"# {ctl}, the controller of {nve}:" in out
    assert "ctl1 -> hv1: DISPLACED VM a, now active at nve2" in out
    assert re.search(r"checks: \d+ as expected, 0 unexpected", out), out[-3000:]
    assert re.fullmatch(r"migration loss window: \d+ ms", out.rstrip().splitlines()[-1])
    assert daemons_of(run_dir) == []
    assert not etcd.data_dir(run_dir).exists()
    assert not (run_dir / "state.json").exists()
