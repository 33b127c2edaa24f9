"""The lab's controller: `nvectl serve --config run/lab/controller.toml --insecure`, a daemon of
the lab, started after the switches and restarted to apply another policy (on start the
controller reads the switches back and writes only the difference)."""

from __future__ import annotations

import re
import shutil
import socket
import sys
import time
from pathlib import Path

from bmv2_lab import spec
from bmv2_lab.state import LabState, ProcessRecord, is_running, spawn, stop_process

DEFAULT_SIGNALLING_PORT = 50051       # nvectl's default --server
POLICIES = ("base", "acl")


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


def config_path(state: LabState) -> Path:
    return Path(state.run_dir) / "controller.toml"


def write_config(state: LabState, policy: str) -> Path:
    """The controller's configuration for `policy` ("base" or "acl")."""
    if policy not in POLICIES:
        raise ControllerError(f"unknown policy {policy!r}; policies: {', '.join(POLICIES)}")
    path = config_path(state)
    path.write_text(spec.controller_config(
        switches=state.switches, signalling_addr=state.controller_addr,
        database=str(Path(state.run_dir).resolve() / "nve.db"),
        kernel_vtep=state.mode == "netns", acl=policy == "acl"))
    return path


def start(state: LabState, policy: str, timeout: float = 60.0) -> ProcessRecord:
    """Start the controller with `policy` and wait until it answers on its signalling port."""
    path = write_config(state, policy)
    log = Path(state.run_dir) / "logs" / "controller.log"
    record = spawn([*nvectl(), "serve", "--config", str(path), "--insecure"], log)
    state.processes["controller"] = record
    state.policy = policy
    state.save()
    host, port = state.controller_addr.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            raise ControllerError(f"the controller exited while starting: see {log}\n"
                                  + _tail(log))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, int(port))) == 0:
                return record
        time.sleep(0.1)
    raise ControllerError(f"the controller did not answer on {state.controller_addr} within "
                          f"{timeout:.0f} s: see {log}")


def stop(state: LabState) -> None:
    record = state.processes.pop("controller", None)
    if record is not None:
        stop_process(record)
        state.save()


def restart(state: LabState, policy: str) -> int:
    """Stop, then start with `policy`; the number of updates its reconciliation wrote."""
    log = Path(state.run_dir) / "logs" / "controller.log"
    offset = log.stat().st_size if log.exists() else 0
    stop(state)
    start(state, policy)
    return reconciled_updates(log, offset)


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
