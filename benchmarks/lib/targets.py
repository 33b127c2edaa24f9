"""The switches under test, one process each, with a wire to every data port.

* ``embedded``: ``python -m softswitch`` (the project's own target) in its own process, each data
  port a UDP socket on loopback, our end a UDP socket too. No root needed.
* ``bmv2``: ``simple_switch_grpc`` in a private network namespace of ours, each data port a veth
  pair whose other end we read and write with AF_PACKET (root only; the parity test's lab).

Both run outside the benchmark's process, as a real deployment would, so the controller (in the
benchmark's process) and the switch each have a core of a 2-core machine. Every switch serves
P4Runtime without a program: the controller (or the raw baseline) pushes the pipeline.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))    # the parity test's bmv2 lab

from parity import lab as parity_lab

TARGETS = ("embedded", "bmv2")
ACCESS_PORTS = (1, 2, 3)
NETWORK_PORT = 4
DATA_PORTS = (*ACCESS_PORTS, NETWORK_PORT)
CPU_PORT = 255
DEVICE_ID = 1
START_TIMEOUT = 30.0


def bmv2_unavailable() -> str | None:
    """Why simple_switch_grpc cannot be benchmarked here (None when it can)."""
    return parity_lab.unavailable_reason()


def available_targets() -> list[str]:
    """embedded always; bmv2 when installed and we are root."""
    return ["embedded"] + ([] if bmv2_unavailable() else ["bmv2"])


def check_target(target: str) -> None:
    """Exit with a note when `target` cannot run here."""
    if target == "bmv2":
        reason = bmv2_unavailable()
        if reason is not None:
            print(f"note: target bmv2 skipped: {reason}; run with --target embedded")
            raise SystemExit(0)


@dataclass
class Switch:
    """One switch under test: its P4Runtime address and the far ends of its data ports."""

    name: str
    grpc_addr: str
    sockets: dict[int, socket.socket]
    kind: str
    _wire: parity_lab.Wire | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def send(self, port: int, frame: bytes) -> None:
        """Put `frame` into switch port `port`."""
        if self._wire is not None:
            self._wire.send(port, frame)
        else:
            self.sockets[port].send(frame)

    def receive(self, port: int) -> list[bytes]:
        """Every frame the switch sent out of `port` that is waiting (non-blocking)."""
        if self._wire is not None:
            return self._wire.receive(port)
        frames = []
        sock = self.sockets[port]
        while True:
            try:
                frames.append(sock.recv(65535))
            except BlockingIOError:
                return frames

    def fileno(self, port: int) -> int:
        """The socket to wait on for frames out of `port`."""
        return self.sockets[port].fileno()

    def drain(self) -> None:
        """Forget every frame waiting on every port."""
        for port in self.sockets:
            self.receive(port)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_tcp(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"softswitch exited with {process.returncode}; see {log_path}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"softswitch did not listen on port {port} within {START_TIMEOUT} s")


def _start_embedded(name: str, workdir: Path) -> Switch:
    """`python -m softswitch` on UDP loopback ports; returns before it listens."""
    switch_udp = {port: _free_port(socket.SOCK_DGRAM) for port in DATA_PORTS}
    sockets = {}
    for port, udp in switch_udp.items():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind(("127.0.0.1", 0))
        sock.connect(("127.0.0.1", udp))
        sock.setblocking(False)
        sockets[port] = sock
    grpc_port = _free_port(socket.SOCK_STREAM)
    command = [sys.executable, "-m", "softswitch", "--no-p4", "--log-level", "warn",
               "--device-id", str(DEVICE_ID), "--cpu-port", str(CPU_PORT),
               "--grpc-server-addr", f"127.0.0.1:{grpc_port}",
               *[arg for port, udp in switch_udp.items()
                 for arg in ("-i", f"{port}@udp:{udp}:{sockets[port].getsockname()[1]}")]]
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return Switch(name, f"127.0.0.1:{grpc_port}", sockets, "embedded", process=process,
                  log_path=log_path)


def _close(switch: Switch) -> None:
    _stop(switch.process)
    for sock in switch.sockets.values():
        sock.close()


def _embedded(names: Sequence[str], workdir: Path, attempts: int = 3) -> dict[str, Switch]:
    """Start the embedded switches and wait until each listens. A switch that exits at once
    (another process took a port we picked between choosing and binding it: this machine is
    shared) is started again on other ports."""
    pending = list(names)
    switches: dict[str, Switch] = {}
    for attempt in range(attempts):
        started = {name: _start_embedded(name, workdir) for name in pending}
        pending = []
        for name, sw in started.items():
            assert sw.process is not None and sw.log_path is not None
            try:
                _wait_tcp(int(sw.grpc_addr.rsplit(":", 1)[1]), sw.process, sw.log_path)
                switches[name] = sw
            except RuntimeError as exc:
                log = sw.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                _close(sw)
                if attempt == attempts - 1:
                    for other in switches.values():
                        _close(other)
                    raise RuntimeError(f"{name}: {exc}: {' | '.join(log)}") from None
                print(f"note: {name} did not start ({' | '.join(log)[-200:]}); trying other "
                      "ports", flush=True)
                pending.append(name)
        if not pending:
            break
    # In the order asked for, also when one was started again: configs number switches by it.
    return {name: switches[name] for name in names}


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def fabric(target: str, names: Sequence[str] = ("nve1", "nve2")) -> Iterator[dict[str, Switch]]:
    """Start one switch per name on `target`; stop and remove everything on exit."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; targets: {TARGETS}")
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nve-bench-")))
        switches: dict[str, Switch] = {}
        if target == "embedded":
            switches = _embedded(names, workdir)
            for sw in switches.values():
                stack.callback(_close, sw)
        else:
            for index, name in enumerate(names):
                netns = parity_lab.Netns(f"nvebench-{os.getpid()}-{index}")
                stack.callback(netns.delete)
                netns.create(DATA_PORTS)
                sockets = netns.packet_sockets([f"h{port}" for port in DATA_PORTS])
                wire = parity_lab.Wire({port: sockets[f"h{port}"] for port in DATA_PORTS})
                stack.callback(wire.close)
                swdir = workdir / name
                swdir.mkdir()
                bmv2 = parity_lab.start_bmv2(netns, DATA_PORTS, CPU_PORT, DEVICE_ID, swdir)
                stack.callback(bmv2.stop)
                switches[name] = Switch(name, bmv2.grpc_addr, wire.sockets, "bmv2", _wire=wire,
                                        process=bmv2.process, log_path=bmv2.log_path)
        yield switches
