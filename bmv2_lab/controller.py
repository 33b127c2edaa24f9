"""The lab's controllers: `nvectl serve --config run/lab/controller.toml --insecure`, daemons of
the lab, started after the switches and restarted to apply another policy (on start a
controller reads its switches back and writes only the difference). With the local store one
controller programs both NVEs; with the etcd store ctl1 programs nve1 and ctl2 nve2
(run/lab/ctl1.toml, ctl2.toml), sharing VM locations through the lab's etcd."""

from __future__ import annotations

import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bmv2_lab import spec
from bmv2_lab.state import LabState, ProcessRecord, is_running, spawn, stop_process

DEFAULT_SIGNALLING_PORT = 50051       # nvectl's default --server
POLICIES = ("base", "acl")
LOCAL = "controller"                  # the one controller of the local store


class ControllerError(RuntimeError):
    """The controller did not come up."""


def nvectl() -> list[str]:
    """The nvectl command of this virtualenv."""
    beside = Path(sys.executable).parent / "nvectl"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("nvectl")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from controlplane.cli import main; sys.exit(main())"]


def pick_signalling_addr(prefer_default: bool = True) -> str:
    """127.0.0.1:50051 (nvectl's default) when free and preferred, else any free loopback
    port."""
    for port in ((DEFAULT_SIGNALLING_PORT, 0) if prefer_default else (0,)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return f"127.0.0.1:{sock.getsockname()[1]}"
    raise ControllerError("no free TCP port on 127.0.0.1")


@dataclass(frozen=True, slots=True)
class Instance:
    """One controller process of the lab."""

    key: str                   # process key and file stem: "controller" (local), "ctl1", "ctl2"
    nves: tuple[str, ...]      # the switches it programs

    @property
    def title(self) -> str:
        return "the controller" if self.key == LOCAL else f"controller {self.key}"


def instances(state: LabState) -> list[Instance]:
    """The lab's controllers: one for both NVEs (local store), or one per NVE (etcd store)."""
    if state.store == "etcd":
        return [Instance(spec.ETCD_CONTROLLERS[n.name], (n.name,)) for n in spec.NVES]
    return [Instance(LOCAL, tuple(n.name for n in spec.NVES))]


def address(state: LabState, instance: Instance) -> str:
    """The controller's signalling address."""
    return state.controller_for(instance.nves[0])


def set_address(state: LabState, instance: Instance, addr: str) -> None:
    """Record the controller's signalling address (the agents of its NVEs signal there)."""
    if instance.key == LOCAL:
        state.controller_addr = addr
    else:
        state.controllers.update({nve: addr for nve in instance.nves})


def database_name(key: str) -> str:
    """The controller's SQLite file in the run dir."""
    return "nve.db" if key == LOCAL else f"{key}.db"


def config_path(state: LabState, instance: Instance) -> Path:
    return Path(state.run_dir) / f"{instance.key}.toml"


def log_path(state: LabState, instance: Instance) -> Path:
    return Path(state.run_dir) / "logs" / f"{instance.key}.log"


def write_config(state: LabState, instance: Instance, policy: str) -> Path:
    """The controller's configuration for `policy` ("base" or "acl")."""
    if policy not in POLICIES:
        raise ControllerError(f"unknown policy {policy!r}; policies: {', '.join(POLICIES)}")
    etcd = (spec.EtcdStore(state.etcd_endpoint, instance.key) if state.store == "etcd"
            else None)
    path = config_path(state, instance)
    path.write_text(spec.controller_config(
        switches=state.switches, signalling_addr=address(state, instance),
        database=str(Path(state.run_dir).resolve() / database_name(instance.key)),
        kernel_vtep=state.mode == "netns", acl=policy == "acl", nves=instance.nves, etcd=etcd))
    return path


def start(state: LabState, instance: Instance, policy: str,
          timeout: float = 60.0) -> ProcessRecord:
    """Start the controller with `policy` and wait until it answers on its signalling port."""
    path = write_config(state, instance, policy)
    log = log_path(state, instance)
    record = spawn([*nvectl(), "serve", "--config", str(path), "--insecure"], log)
    state.processes[instance.key] = record
    state.policy = policy
    state.save()
    addr = address(state, instance)
    host, port = addr.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            raise ControllerError(f"{instance.title} exited while starting: see {log}\n"
                                  + _tail(log))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, int(port))) == 0:
                return record
        time.sleep(0.1)
    raise ControllerError(f"{instance.title} did not answer on {addr} within "
                          f"{timeout:.0f} s: see {log}")


def stop(state: LabState, instance: Instance) -> None:
    record = state.processes.pop(instance.key, None)
    if record is not None:
        stop_process(record)
        state.save()


def restart(state: LabState, policy: str) -> dict[str, int]:
    """Stop, then start with `policy`, one controller after the other; the number of updates
    each one's reconciliation wrote."""
    written = {}
    for instance in instances(state):
        log = log_path(state, instance)
        offset = log.stat().st_size if log.exists() else 0
        stop(state, instance)
        start(state, instance, policy)
        written[instance.key] = reconciled_updates(log, offset)
    return written


def reconciled_updates(log: Path, offset: int = 0) -> int:
    """Updates the controller wrote when it reconciled at start (from its log after `offset`)."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return sum(int(n) for n in re.findall(r"reconciled at start: (\d+) updates", text))


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
