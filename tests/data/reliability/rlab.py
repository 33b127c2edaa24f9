"""Helpers of the reliability tests: child processes (controller, softswitch), their configs, and
the comparison of what a switch holds with what the controller's store says it must hold.

Imported by tests/test_reliability_*.py (tests/data/reliability is put on sys.path).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from controlplane.config import ControllerConfig
from controlplane.intent import desired_state
from controlplane.model import VmRecord
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import Entry, MulticastGroup
from controlplane.p4rt.schema import PipelineSchema
from controlplane.store.mapping import InProcessMapping
from controlplane.store.sqlite import VmStore
from controlplane.switch_agent import MANAGED_TABLES

DATA = Path(__file__).resolve().parent
ROOT = DATA.parents[2]
BUILD = ROOT / "p4src" / "build"
P4INFO, BMV2_JSON = BUILD / "nve.p4info.txtpb", BUILD / "nve.json"
PYTHON = sys.executable
READER_IDS = itertools.count(11)
"""Election ids of the tests' read-only P4Runtime clients: low, so never above a controller's."""

Installed = Counter[Entry | MulticastGroup]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on right now (TCP by default)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(directory: Path, nve1: str, nve2: str, signalling: int, database: Path,
                  controller_extra: str = "", name: str = "nve.toml") -> Path:
    """burst.toml with its addresses filled in, written to directory/name."""
    text = (DATA / "burst.toml").read_text()
    for key, value in (("@NVE1@", nve1), ("@NVE2@", nve2),
                       ("@SIGNALLING@", f"127.0.0.1:{signalling}"), ("@DATABASE@", str(database))):
        text = text.replace(key, value)
    if controller_extra:
        text = text.replace("[controller]\n", f"[controller]\n{controller_extra}\n", 1)
    path = directory / name
    path.write_text(text)
    return path


class Child:
    """A child process whose output goes to a log file; killed with SIGKILL at the end."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=ROOT, env=self.env, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, no warning: the process gets no chance to clean up."""
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill9()

    def tail(self, lines: int = 40) -> str:
        """The end of the log, for assertion messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def controller_child(config: Path, log: Path) -> Child:
    """`nvectl serve --config CONFIG --insecure` as a child process."""
    return Child([PYTHON, "-m", "controlplane.cli", "serve", "--config", str(config), "--insecure"],
                 log)


def softswitch_child(grpc_port: int, ports: dict[int, tuple[int, int]], log: Path) -> Child:
    """The embedded target as a child process; ports: number -> (local UDP, peer UDP)."""
    argv = [PYTHON, "-m", "softswitch", "--device-id", "1", "--cpu-port", "255",
            "--grpc-server-addr", f"127.0.0.1:{grpc_port}", "--log-level", "warning"]
    for number, (local, peer) in sorted(ports.items()):
        argv += ["-i", f"{number}@udp:{local}:{peer}"]
    return Child([*argv, "--no-p4"], log)


async def wait_listening(port: int, child: Child | None = None, timeout: float = 30.0) -> float:
    """Wait until something accepts TCP connections on 127.0.0.1:port; the seconds it took."""
    started = time.monotonic()
    while True:
        if child is not None and not child.alive:
            raise RuntimeError(f"{child.argv[2]} exited:\n{child.tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > timeout:
                tail = child.tail() if child is not None else ""
                raise TimeoutError(f"nothing listens on port {port} after {timeout} s\n{tail}")
            await asyncio.sleep(0.05)


async def read_switch(address: str, device_id: int = 1) -> Installed:
    """Every managed table entry and multicast group of the switch, read as a backup client.

    Never writes: refuses (ValueError) when the switch does not run the NVE pipeline."""
    schema = PipelineSchema.load(P4INFO, BMV2_JSON)
    async with P4RuntimeClient() as client:
        await client.connect(address, device_id=device_id, election_id=next(READER_IDS))
        cookie = await client.get_pipeline_cookie()
        if cookie != schema.cookie:
            raise ValueError(f"{address} runs pipeline cookie {cookie}, not the NVE's")
        await client.set_pipeline(P4INFO, BMV2_JSON)   # cookie matches: loads the schema only
        found: Installed = Counter()
        for table in MANAGED_TABLES:
            found.update(await client.read_table_entries(table))
        found.update(await client.read_multicast_groups())
        return found


def expected(cfg: ControllerConfig, switch: str, records: Iterable[VmRecord]) -> Installed:
    """What `switch` must hold for `records` (the controller's own computation)."""
    records = list(records)
    mapping = InProcessMapping({sw.name: sw.vtep_ip for sw in cfg.switches})
    state = desired_state(cfg, cfg.switch(switch), records, mapping.locations(records))
    return Counter([*state.entries, *state.groups])


def stored(database: Path) -> list[VmRecord]:
    """The records in the controller's SQLite file (read beside a running controller)."""
    store = VmStore(database)
    try:
        return store.load()
    finally:
        store.close()


def difference(found: Installed, wanted: Installed) -> str:
    """A readable account of what differs ('' when nothing does)."""
    stale = found - wanted
    missing = wanted - found
    duplicates = [e for e, n in found.items() if n > 1]
    if not stale and not missing and not duplicates:
        return ""
    lines = [f"{len(stale)} stale, {len(missing)} missing, {len(duplicates)} duplicate entries"]
    lines += [f"  stale   {e}" for e in list(stale)[:5]]
    lines += [f"  missing {e}" for e in list(missing)[:5]]
    lines += [f"  twice   {e}" for e in duplicates[:5]]
    return "\n".join(lines)


async def compare_with_store(cfg: ControllerConfig, database: Path,
                             addresses: dict[str, str]) -> tuple[list[VmRecord], dict[str, str]]:
    """Read every switch back and compare with the store; (records, {switch: difference})."""
    records = stored(database)
    problems = {}
    for name, address in addresses.items():
        problem = difference(await read_switch(address), expected(cfg, name, records))
        if problem:
            problems[name] = problem
    return records, problems
