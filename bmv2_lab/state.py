"""The lab's state file: what `up` created, written ahead of creating it, so that `down` can
remove everything even after a crash. Also the processes the lab starts and how they end.

A process is recorded with its start time (field 22 of /proc/PID/stat): `down` ends a recorded
pid only while that pid still is the process the lab started, never a later reuse of the number.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
VERSION = 1


@dataclass
class ProcessRecord:
    """A daemon of the lab."""

    pid: int
    start_time: int
    command: list[str]
    log: str = ""


@dataclass
class LabState:
    """Everything `down` and the lab's commands need to find the lab again."""

    name: str                                  # prefix of every namespace
    mode: str                                  # "netns" | "loopback"
    target: str                                # "embedded" | "bmv2"
    run_dir: str
    namespaces: list[str] = field(default_factory=list)
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    switches: dict[str, str] = field(default_factory=dict)        # NVE -> P4Runtime address
    store: str = "local"                       # "local": one controller; "etcd": one per NVE
    controller_addr: str = ""                  # the controller's signalling address (local)
    controllers: dict[str, str] = field(default_factory=dict)     # etcd: NVE -> its controller
    etcd_endpoint: str = ""                    # etcd: the lab's etcd, "127.0.0.1:PORT"
    policy: str = "base"
    control: str = ""                          # the hosts daemon's socket (vswitch or fabric)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)  # VM -> {hv, vid}
    complete: bool = False                     # `up` finished

    def controller_for(self, nve: str) -> str:
        """The signalling address of the controller that programs `nve`."""
        return self.controllers.get(nve, self.controller_addr)

    # -- persistence ------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.run_dir) / STATE_FILE

    def save(self) -> None:
        """Write atomically: a crash leaves the previous or the new state, never half of one."""
        data = asdict(self)
        data["version"] = VERSION
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, run_dir: Path) -> LabState | None:
        """The saved state, or None when there is none (or it cannot be read)."""
        path = Path(run_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if data.pop("version", None) != VERSION:
            return None
        try:
            data["processes"] = {k: ProcessRecord(**v)
                                 for k, v in data.get("processes", {}).items()}
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, AttributeError):
            return None


# -- processes ---------------------------------------------------------------------------------
def process_start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    """True while the recorded process is alive (and not a zombie)."""
    if process_start_time(record.pid) != record.start_time:
        return False
    try:
        status = Path(f"/proc/{record.pid}/stat").read_text()
        return status[status.rindex(")") + 2] != "Z"
    except OSError:
        return False


def spawn(command: list[str], log_path: Path, *, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> ProcessRecord:
    """Start a daemon in its own session (it outlives the command that started it)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True)
    start = process_start_time(proc.pid)
    # Popen keeps a handle; the daemon is reaped by init once we exit. Forget it here so that
    # Python does not warn about a child still running.
    proc.returncode = 0
    return ProcessRecord(proc.pid, start or 0, command, str(log_path))


def stop_process(record: ProcessRecord, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; only while the pid is still the recorded process."""
    if process_start_time(record.pid) != record.start_time:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    _reap(record.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            _reap(record.pid)
            return
        time.sleep(0.05)
        _reap(record.pid)
    if process_start_time(record.pid) == record.start_time:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        time.sleep(0.05)
        _reap(record.pid)


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours (a daemon we started in this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


DAEMON_MARKERS = ("softswitch", "simple_switch_grpc", "bmv2_lab.vswitch", "bmv2_lab.fabric",
                  "bmv2_lab.hostcmd", " serve --config ", "etcd --name ")


def daemons_of(run_dir: Path) -> list[ProcessRecord]:
    """Lab daemons still running whose command line names `run_dir` (their config, sockets or
    wiring live there): what `down` ends when a crash lost the state file. Never this process
    nor its ancestors."""
    ancestors = set()
    pid = os.getpid()
    while pid > 1:
        ancestors.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            break
    found = []
    needle = str(Path(run_dir).resolve()) + "/"     # a path inside it: not run/lab2 for run/lab
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ancestors:
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        text = " ".join(command)
        if needle in text and any(marker in text for marker in DAEMON_MARKERS):
            start = process_start_time(int(entry.name))
            if start is not None:
                found.append(ProcessRecord(int(entry.name), start, command))
    return found
