"""Bringing the whole lab up and down: topology (namespaces, or the loopback fabric), the two
switches, the VMs' services and the controller (with the etcd store: etcd and one controller per
NVE). Everything is recorded in run/lab/state.json before it exists, so `down` cleans up after
any crash, and `up` is a no-op on a healthy lab.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bmv2_lab import controller, etcd, fabric, netns, spec, targets, topology
from bmv2_lab.hosts import ControlClient, FabricHosts, Hosts, NetnsHosts
from bmv2_lab.state import LabState, ProcessRecord, daemons_of, is_running, spawn, stop_process

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "nvelab"
DEFAULT_RUN_DIR = ROOT / "run" / "lab"
MODES = ("auto", "netns", "loopback")
STORES = ("local", "etcd")

Progress = Callable[[str], None]


class LabError(RuntimeError):
    """The lab cannot be brought up (or found) as asked."""


def choose_mode(requested: str) -> tuple[str, str]:
    """(mode, why): namespaces when root allows, else the loopback lab."""
    why_not = netns.available()
    if requested == "netns":
        if why_not:
            raise LabError(f"--mode netns: {why_not}")
        return "netns", "root: network namespaces, veth pairs, a Linux router and kernel VTEP"
    if requested == "loopback" or why_not:
        reason = "asked for" if requested == "loopback" else why_not
        return "loopback", (f"{reason}: the embedded switches on UDP loopback ports, "
                            "hosts and router simulated with scapy")
    return "netns", "root: network namespaces, veth pairs, a Linux router and kernel VTEP"


class Lab:
    """A running lab, found through its state file."""

    def __init__(self, state: LabState) -> None:
        self.state = state
        self.hosts: Hosts = (NetnsHosts(state.name, state.control) if state.mode == "netns"
                             else FabricHosts(state.control))

    @classmethod
    def open(cls, run_dir: Path = DEFAULT_RUN_DIR) -> Lab:
        state = LabState.load(run_dir)
        if state is None or not state.complete:
            raise LabError(f"no lab is up in {run_dir} (make lab-up, or python -m bmv2_lab up)")
        return cls(state)

    @property
    def run_dir(self) -> Path:
        return Path(self.state.run_dir)

    def healthy(self) -> list[str]:
        """The lab's daemons that are not running (empty when all are)."""
        return [name for name, rec in self.state.processes.items() if not is_running(rec)]

    def attach_record(self, vm: str, hv: str | None, vid: int | None) -> None:
        """Remember where VM `vm` is attached (None: nowhere)."""
        if hv is None:
            self.state.attachments.pop(vm, None)
        else:
            self.state.attachments[vm] = {"hv": hv, "vid": vid}
        self.state.save()


def up(*, name: str = DEFAULT_NAME, run_dir: Path = DEFAULT_RUN_DIR, mode: str = "auto",
       target: str = "embedded", policy: str = "base", store: str = "local",
       progress: Progress = print) -> Lab:
    """Bring the lab up (or find it up); on any failure, remove what was created and raise.
    `store`: "local", one controller for both NVEs, or "etcd", one per NVE and the lab's etcd."""
    run_dir = Path(run_dir).resolve()
    existing = LabState.load(run_dir)
    if existing is not None:
        lab = Lab(existing)
        if existing.complete and not lab.healthy():
            progress(f"lab {existing.name} is already up ({existing.mode}, {existing.target})")
            return lab
        progress("a previous lab did not finish or lost a daemon: removing it first")
        down(name=existing.name, run_dir=run_dir, progress=progress)
    if store not in STORES:
        raise LabError(f"unknown store {store!r}; stores: {', '.join(STORES)}")
    if store == "etcd" and etcd.binary() is None:
        raise LabError(f"--store etcd: etcd is not installed ({etcd.INSTALL_HINT})")
    chosen, why = choose_mode(mode)
    if target not in targets.TARGETS:
        raise LabError(f"unknown target {target!r}; targets: {', '.join(targets.TARGETS)}")
    if target == "bmv2" and targets.find_bmv2() is None:
        raise LabError("TARGET=bmv2: simple_switch_grpc not found on PATH or under "
                       f"{os.environ.get('P4_TOOLCHAIN_PREFIX', targets.DEFAULT_TOOLCHAIN)}/bin")
    if target == "bmv2" and chosen != "netns":
        raise LabError(f"TARGET=bmv2 needs the namespace lab ({netns.available()})")
    progress(f"mode: {chosen} ({why}); target: {target}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    for stale in _databases():
        with contextlib.suppress(FileNotFoundError):
            (run_dir / stale).unlink()
    state = LabState(name=name, mode=chosen, target=target, run_dir=str(run_dir), store=store)
    state.save()
    try:
        if chosen == "netns":
            topology.build(state, progress)
            _start_vswitch(state, progress)
            _start_switches(state, {n.name: topology.nve_interfaces() for n in spec.NVES},
                            progress, in_netns=True)
            _start_vm_services(state, progress)
        else:
            switch_ports = _start_fabric(state, progress)
            _start_switches(state, switch_ports, progress, in_netns=False)
        if store == "etcd":
            _start_etcd(state, progress)
        started = time.monotonic()
        for index, instance in enumerate(controller.instances(state)):
            # nvectl's default port for the default lab's (first) controller.
            _start_controller(state, instance, policy, progress,
                              prefer_default=name == DEFAULT_NAME and index == 0)
        progress(f"controller{'s' if store == 'etcd' else ''} up in "
                 f"{time.monotonic() - started:.1f} s")
        state.complete = True
        state.save()
    except BaseException:
        progress("lab-up failed: removing what was created")
        down(name=name, run_dir=run_dir, progress=lambda _msg: None)
        raise
    return Lab(state)


def _start_etcd(state: LabState, progress: Progress) -> None:
    started = time.monotonic()
    etcd.start(state)
    progress(f"etcd: {etcd.binary()} on {state.etcd_endpoint}, data in "
             f"{etcd.data_dir(Path(state.run_dir))}; ready in {time.monotonic() - started:.1f} s. "
             "The controllers share VM locations through it")


def _start_controller(state: LabState, instance: controller.Instance, policy: str,
                      progress: Progress, *, prefer_default: bool) -> None:
    for attempt in range(3):
        # Another process may take a port between our pick and the controller's bind: then
        # another port.
        addr = controller.pick_signalling_addr(prefer_default=prefer_default and attempt == 0)
        controller.set_address(state, instance, addr)
        if instance.key == controller.LOCAL:
            progress(f"controller: nvectl serve on {addr} (policy {policy}); "
                     "it pushes the P4 program and programs both NVEs")
        else:
            progress(f"{instance.key}: nvectl serve on {addr} (policy {policy}, etcd store); "
                     f"it pushes the P4 program and programs {' and '.join(instance.nves)} "
                     "alone")
        try:
            controller.start(state, instance, policy)
            return
        except controller.ControllerError as exc:
            if attempt == 2 or "exited while starting" not in str(exc):
                raise
            progress(f"{instance.title} did not start ({str(exc).splitlines()[0]}); retrying")


def _databases() -> list[str]:
    """The SQLite files any of the lab's controllers may leave in the run dir."""
    keys = (controller.LOCAL, *spec.ETCD_CONTROLLERS.values())
    return [controller.database_name(k) + end for k in keys for end in ("", "-wal", "-shm")]


def _start_switches(state: LabState, ports: dict[str, dict[int, str]], progress: Progress,
                    *, in_netns: bool) -> None:
    run_dir = Path(state.run_dir)
    started = time.monotonic()
    records = {}
    for n in spec.NVES:
        addr = targets.grpc_socket(run_dir, n.name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(addr.removeprefix("unix:"))
        ns = topology.ns_name(state.name, n.name) if in_netns else None
        command = targets.switch_command(state.target, addr, ports[n.name], ns)
        record = spawn(command, run_dir / "logs" / f"{n.name}.log", cwd=ROOT)
        state.processes[n.name] = record
        state.switches[n.name] = addr
        state.save()
        records[n.name] = (addr, record)
        where = f" in namespace {ns}" if ns else ""
        progress(f"{n.name}: {state.target} switch{where}, ports "
                 + ", ".join(f"{p}@{i}" for p, i in sorted(ports[n.name].items()))
                 + f", P4Runtime on {addr}")
    for addr, record in records.values():
        targets.wait_listening(addr, record)
    progress(f"switches listening after {time.monotonic() - started:.1f} s")


def _start_vm_services(state: LabState, progress: Progress) -> None:
    progress(f"VMs: TCP listeners on ports {', '.join(map(str, spec.OPEN_TCP_PORTS))} "
             "in each VM namespace")
    for vm in spec.VMS:
        ns = topology.ns_name(state.name, f"vm-{vm.name}")
        record = spawn(["ip", "netns", "exec", ns, sys.executable, "-m", "bmv2_lab.hostcmd",
                        "serve"], Path(state.run_dir) / "logs" / f"vm-{vm.name}.log", cwd=ROOT)
        state.processes[f"vm-{vm.name}"] = record
        state.save()


def _free_udp_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                 for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _start_fabric(state: LabState, progress: Progress) -> dict[str, dict[int, str]]:
    """The loopback lab's hosts; returns each switch's UDP port specs."""
    import json

    run_dir = Path(state.run_dir)
    links, switch_ports = fabric.wiring_links(_free_udp_ports(fabric.link_count()))
    control = targets.grpc_socket(run_dir, "fabric").removeprefix("unix:")
    wiring = run_dir / "fabric.json"
    wiring.write_text(json.dumps({"links": links, "control": control}, indent=2))
    state.control = control
    progress(f"fabric: router, {len(spec.HYPERVISORS)} hypervisors and {len(spec.VMS)} VMs "
             f"(scapy) on {len(links)} UDP loopback links")
    record = spawn([sys.executable, "-m", "bmv2_lab.fabric", "--wiring", str(wiring)],
                   run_dir / "logs" / "fabric.log", cwd=ROOT)
    state.processes["fabric"] = record
    state.save()
    _wait_control(control, record)
    return switch_ports


def _start_vswitch(state: LabState, progress: Progress) -> None:
    """The hypervisors' virtual switch (userspace VLAN tagging) for the namespace lab."""
    control = targets.grpc_socket(Path(state.run_dir), "vswitch").removeprefix("unix:")
    state.control = control
    progress(f"hypervisors: virtual switch daemon tagging VMs' frames in {len(spec.HYPERVISORS)} "
             "hypervisor namespaces")
    record = spawn([sys.executable, "-m", "bmv2_lab.vswitch", "--lab", state.name,
                    "--control", control], Path(state.run_dir) / "logs" / "vswitch.log", cwd=ROOT)
    state.processes["vswitch"] = record
    state.save()
    _wait_control(control, record)


def _wait_control(control: str, record: ProcessRecord) -> None:
    client = ControlClient(control)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.request("hello", timeout=1.0)
            return
        except OSError:
            if not is_running(record) or time.monotonic() > deadline:
                raise LabError(f"{record.command[2]} did not start: see {record.log}") from None
            time.sleep(0.1)


def down(*, name: str = DEFAULT_NAME, run_dir: Path = DEFAULT_RUN_DIR,
         progress: Progress = print) -> list[str]:
    """Remove the lab: its daemons, then its namespaces, then its run files. Safe to repeat,
    and after a crash: what the state file recorded, plus this lab's namespaces by name."""
    run_dir = Path(run_dir).resolve()
    state = LabState.load(run_dir)
    removed: list[str] = []
    if state is not None:
        name = state.name
        # etcd last: the controllers stop while it still answers them.
        for key, record in sorted(state.processes.items(), key=lambda item: item[0] == "etcd"):
            if is_running(record):
                stop_process(record)
                removed.append(f"process {key} ({record.pid})")
    for record in daemons_of(run_dir):          # a daemon whose record a crash lost
        stop_process(record)
        removed.append(f"process {record.pid} ({' '.join(record.command[:3])})")
    namespaces = set(state.namespaces if state else ())
    if netns.available() is None:
        namespaces |= set(netns.existing()) & set(topology.all_names(name))
    elif namespaces:
        raise LabError(f"the lab's namespaces need root to remove: {netns.available()}")
    for ns in sorted(namespaces):
        if not netns.exists(ns):
            continue
        _kill_namespace_processes(ns)
        netns.delete(ns)
        removed.append(f"namespace {ns}")
    if state is not None:
        paths = [a.removeprefix("unix:") for a in state.switches.values()]
        paths += [state.control] if state.control else []
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
    configs = [f"{k}.toml" for k in (controller.LOCAL, *spec.ETCD_CONTROLLERS.values())]
    for leftover in ("state.json", "state.tmp", *_databases(), *configs, "fabric.json"):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / leftover).unlink()
    etcd.remove_data(run_dir)
    progress(f"lab {name} down: removed {len(removed)} items"
             + (f" ({', '.join(removed)})" if removed else ""))
    return removed


def _kill_namespace_processes(ns: str) -> None:
    """End what still runs inside one of the lab's own namespaces (a daemon whose record was
    lost in a crash): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = netns.pids(ns)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and netns.pids(ns):
            time.sleep(0.05)
