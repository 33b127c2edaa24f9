"""The lab's etcd (`--store etcd`): one etcd member on free loopback ports, its data in the lab's
run dir, through which the two controllers share VM locations. A daemon of the lab like the
switches: recorded in the state file before it runs, so `down` ends it, also after a crash."""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from bmv2_lab.state import LabState, ProcessRecord, is_running, spawn

DATA_DIR = "etcd"                 # in the run dir; `down` deletes it
ATTEMPTS = 3
INSTALL_HINT = "Debian: apt-get install etcd-server"


class EtcdError(RuntimeError):
    """The lab's etcd did not come up."""


def binary() -> str | None:
    """The etcd executable on PATH, if any."""
    return shutil.which("etcd")


def data_dir(run_dir: Path) -> Path:
    """Where the lab's etcd keeps its data."""
    return Path(run_dir) / DATA_DIR


def command(executable: str, name: str, data: Path, client_port: int,
            peer_port: int) -> list[str]:
    """etcd as a new one-member cluster on 127.0.0.1."""
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [executable, "--name", name, "--data-dir", str(data),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{name}={peer}", "--initial-cluster-state", "new",
            "--initial-cluster-token", name,
            # Alone on loopback: elect itself within a second instead of etcd's default ten.
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--logger", "zap", "--log-level", "warn"]


def start(state: LabState, timeout: float = 30.0) -> ProcessRecord:
    """Start the lab's etcd and wait until it serves; its endpoint goes in the state."""
    executable = binary()
    if executable is None:
        raise EtcdError(f"--store etcd: etcd is not installed ({INSTALL_HINT})")
    run_dir = Path(state.run_dir)
    log = run_dir / "logs" / "etcd.log"
    for _attempt in range(ATTEMPTS):
        # Always a fresh cluster: data left by a crashed lab would hold its VMs and members.
        remove_data(run_dir)
        client_port, peer_port = _free_tcp_ports(2)
        record = spawn(command(executable, f"{state.name}-etcd", data_dir(run_dir), client_port,
                               peer_port), log)
        state.processes["etcd"] = record
        state.etcd_endpoint = f"127.0.0.1:{client_port}"
        state.save()
        if _wait_healthy(state.etcd_endpoint, record, timeout):
            return record
        # It exited: most likely another process bound one of its ports first; new ports.
    raise EtcdError(f"etcd exited while starting ({ATTEMPTS} tries): see {log}\n" + _tail(log))


def remove_data(run_dir: Path) -> None:
    """Delete the etcd data dir (safe when there is none)."""
    shutil.rmtree(data_dir(run_dir), ignore_errors=True)


def _wait_healthy(endpoint: str, record: ProcessRecord, timeout: float) -> bool:
    """True once etcd has a leader and serves reads (its /health), False when it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            return False
        try:
            with urllib.request.urlopen(f"http://{endpoint}/health", timeout=1.0) as answer:
                if json.loads(answer.read()).get("health") == "true":
                    return True
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise EtcdError(f"etcd did not become healthy on {endpoint} within {timeout:.0f} s: see "
                    f"{record.log}")


def _free_tcp_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
