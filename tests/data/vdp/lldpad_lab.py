"""A lab for the lldpad interop tests: real processes in private network namespaces.

    netns ST  : st0 ── lldpad (the VDP station, hypervisor hv1)
                 │ veth
    netns LAB : n1p1  [nve1]  n1p4 ══ veth (underlay) ══ n2p4  [nve2]  n2p1 ── veth ── vm2
                port 1        port 4                    port 4        port 1

Both switches (embedded softswitch, or bmv2 simple_switch_grpc) and the controller (`nvectl
serve`) run inside LAB, on its own loopback; nothing touches the host's namespace. Each lldpad
instance runs under `unshare -m` with a private /dev/shm. Frames are sent and captured with
`frames.py` under `ip netns exec`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
BIN = Path(sys.executable).parent
FRAMES = HERE / "frames.py"
CPU_PORT = 255
STATION_IF = "st0"
STATION_RKA = 17           # station keep-alive exponent; the NVE's RKA 18 (2.6 s) wins


def find_bmv2() -> str | None:
    """simple_switch_grpc on PATH or under $P4_TOOLCHAIN_PREFIX (default /opt/p4-toolchain)."""
    found = shutil.which("simple_switch_grpc")
    if found:
        return found
    prefix = Path(os.environ.get("P4_TOOLCHAIN_PREFIX", "/opt/p4-toolchain"))
    candidate = prefix / "bin" / "simple_switch_grpc"
    return str(candidate) if candidate.exists() else None


def missing_prerequisite() -> str | None:
    """Why the lldpad tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, lldpad)"
    for tool in ("ip", "unshare", "lldpad", "lldptool", "vdptool"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian: apt-get install lldpad iproute2 util-linux)"
    return None


@dataclass(frozen=True)
class VdpResult:
    """What vdptool printed for one request, parsed."""

    text: str
    mode: str | None
    filter: str | None
    error: str | None

    @property
    def vid(self) -> int | None:
        """The VID in the answered filter ('VID-MAC')."""
        if self.filter is None:
            return None
        return int(self.filter.split("-", 1)[0]) & 0xFFF


class LldpadLab:
    """Start with `start()`, stop with `stop()`; the methods drive the station and the NVE."""

    def __init__(self, workdir: Path, target: str) -> None:
        self.workdir = workdir
        self.target = target
        tag = f"{os.getpid() % 100000}"
        self.st = f"vdp-st-{tag}"
        self.lab = f"vdp-lab-{tag}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    # -- helpers ----------------------------------------------------------------------------------
    def in_ns(self, ns: str) -> list[str]:
        """Command prefix to run inside namespace `ns`."""
        return ["ip", "netns", "exec", ns]

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command; output captured as text."""
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} -> {done.returncode}: {done.stdout}{done.stderr}")
        return done

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """A background process whose output goes to workdir/NAME.log."""
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def tail(self, name: str, lines: int = 40) -> str:
        """The end of a process log, for failure messages."""
        try:
            return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
        except (KeyError, OSError):
            return ""

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Namespaces, links, switches, controller, lldpad with EVB on st0."""
        for ns in (self.st, self.lab):
            self.run("ip", "netns", "add", ns)
            for key in ("all", "default"):
                self.run(*self.in_ns(ns), "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")
            self.run("ip", "-n", ns, "link", "set", "lo", "up")
        for a, a_ns, b, b_ns in ((STATION_IF, self.st, "n1p1", self.lab),
                                 ("n1p4", self.lab, "n2p4", self.lab),
                                 ("n2p1", self.lab, "vm2", self.lab)):
            self.run("ip", "link", "add", a, "netns", a_ns, "type", "veth", "peer", "name", b,
                     "netns", b_ns)
            self.run("ip", "-n", a_ns, "link", "set", a, "up")
            self.run("ip", "-n", b_ns, "link", "set", b, "up")
        for name, grpc, ports in (("nve1", 9559, "n1p1 n1p4"), ("nve2", 9560, "n2p1 n2p4")):
            self.start_switch(name, grpc, dict(zip((1, 4), ports.split(), strict=True)))
        config = (HERE / "lab.toml").read_text()
        (self.workdir / "lab.toml").write_text(config)
        self.spawn("controller", [*self.in_ns(self.lab), str(BIN / "nvectl"), "serve", "--config",
                                  str(self.workdir / "lab.toml"), "--insecure"])
        self.wait(lambda: self.nvectl("show", "vms", check=False).returncode == 0, 90,
                  "controller did not answer", "controller")
        self.start_lldpad()

    def start_switch(self, name: str, grpc_port: int, ports: dict[int, str]) -> None:
        """One switch of the chosen target with raw ports on the given interfaces."""
        interfaces = [arg for number, ifname in ports.items() for arg in ("-i", f"{number}@{ifname}")]
        if self.target == "bmv2":
            binary = find_bmv2()
            assert binary is not None
            cmd = [binary, "--no-p4", "--device-id", "1", "--thrift-port", str(grpc_port + 100),
                   *interfaces, "--", "--grpc-server-addr", f"127.0.0.1:{grpc_port}",
                   "--cpu-port", str(CPU_PORT)]
        else:
            cmd = [str(BIN / "softswitch"), "--device-id", "1", "--cpu-port", str(CPU_PORT),
                   "--grpc-server-addr", f"127.0.0.1:{grpc_port}", *interfaces, "--no-p4"]
        self.spawn(name, [*self.in_ns(self.lab), *cmd])

    def start_lldpad(self) -> None:
        """lldpad in the station namespace, LLDP (nearest customer bridge) and EVB on st0."""
        conf = self.workdir / "lldpad.conf"
        conf.unlink(missing_ok=True)
        script = f"mount -t tmpfs tmpfs /dev/shm && exec lldpad -p -f {conf} -V 7"
        self.spawn("lldpad", [*self.in_ns(self.st), "unshare", "-m", "--propagation", "private",
                              "sh", "-c", script])
        self.wait(lambda: self.lldptool("-p", check=False).returncode == 0, 20,
                  "lldpad did not start", "lldpad")
        self.lldptool("-L", "-i", STATION_IF, "-g", "ncb", "adminStatus=rxtx")
        for setting in ("enabletx=yes", "evbmode=station", f"vdprka={STATION_RKA}"):
            self.lldptool("-T", "-i", STATION_IF, "-g", "ncb", "-V", "evb", "-c", setting)

    def kill_lldpad(self) -> None:
        """SIGKILL the station: it falls silent without saying goodbye."""
        proc = self.procs.pop("lldpad", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        """Stop every process we started (by pid) and delete the namespaces."""
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs.clear()
        for ns in (self.st, self.lab):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def wait(self, ready: object, seconds: float, what: str, log: str) -> None:
        """Poll `ready()` until true; fail with the log's tail."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():  # type: ignore[operator]
                return
            proc = self.procs.get(log)
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"{what} within {seconds} s:\n{self.tail(log)}")

    # -- the station --------------------------------------------------------------------------------
    def lldptool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """lldptool in the station's namespace."""
        return self.run(*self.in_ns(self.st), "lldptool", *args, check=check)

    def evb_negotiated(self) -> bool:
        """lldpad has received the bridge's EVB TLV on st0."""
        shown = self.lldptool("-n", "-t", "-i", STATION_IF, "-g", "ncb", "-V", "evb", check=False)
        return shown.returncode == 0 and "bridge" in shown.stdout.lower() \
            and "mode:bridge" in shown.stdout.replace(" ", "").lower()

    def vdptool(self, mode: str, vm_id: str, mac: str, vid: int = 0, typeid: int = 5001,
                hints: str = "none", mgrid: str = "nve1") -> VdpResult:
        """One VSI request with `vdptool -T -W`; its answer parsed."""
        cmd = [*self.in_ns(self.st), "vdptool", "-i", STATION_IF, "-T", "-W", "-V", "assoc",
               "-c", f"mode={mode}", "-c", f"mgrid2={mgrid}", "-c", f"typeid={typeid}",
               "-c", "typeidver=1", "-c", f"uuid={vm_id}", "-c", f"hints={hints}",
               "-c", f"filter={vid}-{mac}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        text = done.stdout + done.stderr
        return parse_vdptool(text)

    def station_vsis(self) -> set[str]:
        """The VSI UUIDs lldpad holds on st0 (`vdptool -t`)."""
        shown = self.run(*self.in_ns(self.st), "vdptool", "-i", STATION_IF, "-t", "-V", "assoc",
                         check=False)
        return set(re.findall(r"uuid = (\S+)", shown.stdout))

    # -- the NVE -----------------------------------------------------------------------------------
    def nvectl(self, *args: str, identity: str = "admin",
               check: bool = True) -> subprocess.CompletedProcess[str]:
        """nvectl against the lab's controller (insecure, as `identity`)."""
        return self.run(*self.in_ns(self.lab), str(BIN / "nvectl"), *args, "--insecure",
                        "--as", identity, timeout=30, check=check)

    def vms(self) -> dict[str, dict[str, Any]]:
        """`nvectl show vms --json`, by VM id."""
        shown = json.loads(self.nvectl("show", "vms", "--json").stdout)
        rows = shown if isinstance(shown, list) else shown.get("vms", [])
        return {row["vm_id"]: row for row in rows}

    def frames(self, station_frames: list[bytes], seconds: float = 1.5) -> dict[str, list[bytes]]:
        """Send frames from the station's port; what the underlay (n2p4) and the remote VM's
        port (vm2) received meanwhile."""
        captures = {}
        for ifname in ("n2p4", "vm2"):
            proc = subprocess.Popen([*self.in_ns(self.lab), sys.executable, str(FRAMES),
                                     "capture", ifname, str(seconds)],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"capture on {ifname} did not start")
            captures[ifname] = proc
        self.run(*self.in_ns(self.st), sys.executable, str(FRAMES), "send", STATION_IF,
                 *(f.hex() for f in station_frames))
        out = {}
        for ifname, proc in captures.items():
            stdout, _ = proc.communicate(timeout=seconds + 10)
            out[ifname] = [bytes.fromhex(line) for line in stdout.split() if line]
        return out


_MODE = re.compile(r"^\s*mode = (\S+)", re.MULTILINE)
_FILTER = re.compile(r"^\s*filter = (\S+)", re.MULTILINE)
_ERROR = re.compile(r"Error returned by Bridge: (.+)")


def parse_vdptool(text: str) -> VdpResult:
    """The last 'Response from VDP' block of vdptool's output."""
    block = text.rsplit("Response from VDP", 1)[-1] if "Response from VDP" in text else ""
    mode, filt, error = (_MODE.search(block), _FILTER.search(block), _ERROR.search(block))
    return VdpResult(text, mode.group(1) if mode else None, filt.group(1) if filt else None,
                     error.group(1).strip() if error else None)
