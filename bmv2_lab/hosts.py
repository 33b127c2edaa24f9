"""What the demo and the tests do with the lab's hosts, the same in both modes:

- NetnsHosts: VMs are namespaces behind hypervisor namespaces, whose virtual switch
  (bmv2_lab.vswitch) tags each VM's frames; pings and probes run inside the VM namespaces.
- FabricHosts: the loopback lab's hosts live in the fabric daemon (bmv2_lab.fabric); these are
  requests over its control socket.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bmv2_lab import spec, topology
from bmv2_lab.probe import ProbeResult

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int
    rtts: tuple[float, ...]

    @property
    def ok(self) -> bool:
        return self.received == self.sent

    def text(self) -> str:
        if not self.received:
            return f"{self.received}/{self.sent} replies"
        rtts = sorted(self.rtts)
        return (f"{self.received}/{self.sent} replies, rtt min/avg/max "
                f"{rtts[0]:.1f}/{sum(rtts) / len(rtts):.1f}/{rtts[-1]:.1f} ms")


class Hosts(Protocol):
    """Host-side operations of the lab."""

    def prepare(self, vm: str, hv: str, vid: int) -> None: ...
    def attach(self, vm: str, hv: str, vid: int, move_from: str | None = None) -> float: ...
    def detach(self, vm: str, hv: str, vid: int) -> None: ...
    def ping(self, vm: str, dst: str, count: int = 3) -> PingResult: ...
    def tcp(self, vm: str, dst: str, port: int) -> str: ...
    def probe(self, src: str, dst: str, rate: int, duration: float) -> ProbeResult: ...


class ControlClient:
    """Requests to a hosts daemon (the vswitch or the fabric): JSON lines on a Unix socket."""

    def __init__(self, control: str) -> None:
        self.control = control

    def request(self, op: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.control)
            sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        answer = json.loads(data)
        if "error" in answer:
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer

    def prepare(self, vm: str, hv: str, vid: int) -> None:
        """Nothing to prepare: the virtual switch tags as soon as the VM is attached."""

    def attach(self, vm: str, hv: str, vid: int, move_from: str | None = None) -> float:
        return float(self.request("attach", vm=vm, hv=hv, vid=vid, move_from=move_from,
                                  active=True)["t"])

    def detach(self, vm: str, hv: str, vid: int) -> None:
        self.request("detach", vm=vm, hv=hv)


class NetnsHosts(ControlClient):
    """Hosts in network namespaces (root)."""

    def __init__(self, lab: str, control: str) -> None:
        super().__init__(control)
        self.lab = lab

    def _exec(self, ns_role: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", topology.ns_name(self.lab, ns_role), sys.executable,
                "-m", "bmv2_lab.hostcmd", *args]

    def _run(self, ns_role: str, *args: str, timeout: float = 30.0) -> dict[str, Any]:
        proc = subprocess.run(self._exec(ns_role, *args), capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} in {ns_role}: {proc.stderr.strip()}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def prepare(self, vm: str, hv: str, vid: int) -> None:
        """Plug the VM's vNIC into `hv` before it arrives (its port stays idle)."""
        topology.plug_vnic(self.lab, vm, hv)
        self.request("attach", vm=vm, hv=hv, vid=vid, move_from=None, active=False)

    def attach(self, vm: str, hv: str, vid: int, move_from: str | None = None) -> float:
        try:
            return super().attach(vm, hv, vid, move_from)    # plugged: one request
        except RuntimeError:
            topology.plug_vnic(self.lab, vm, hv)
            return super().attach(vm, hv, vid, move_from)

    def detach(self, vm: str, hv: str, vid: int) -> None:
        super().detach(vm, hv, vid)
        topology.unplug_vnic(self.lab, vm, hv)

    def host_role(self, vm: str) -> str:
        return "khost" if vm == "khost" else f"vm-{vm}"

    def ping(self, vm: str, dst: str, count: int = 3) -> PingResult:
        r = self._run(self.host_role(vm), "ping", dst, "--count", str(count))
        return PingResult(r["sent"], r["received"], tuple(r["rtts"]))

    def tcp(self, vm: str, dst: str, port: int) -> str:
        return str(self._run(self.host_role(vm), "tcp", dst, str(port))["result"])

    def probe(self, src: str, dst: str, rate: int, duration: float) -> ProbeResult:
        dst_ip = spec.vm(dst).ip
        receiver = subprocess.Popen(
            self._exec(f"vm-{dst}", "probe-recv", "--duration", str(duration + 2.0)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert receiver.stdout is not None
            if receiver.stdout.readline().strip() != "ready":
                raise RuntimeError(f"probe receiver did not start: {receiver.stderr.read()}")
            sent = self._run(f"vm-{src}", "probe-send", dst_ip, "--rate", str(rate),
                             "--duration", str(duration), timeout=duration + 30)
            out, err = receiver.communicate(timeout=duration + 30)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        if receiver.returncode != 0:
            raise RuntimeError(f"probe receiver failed: {err.strip()}")
        received = json.loads(out.strip().splitlines()[-1])["received"]
        return ProbeResult(int(sent["rate"]), float(sent["start"]), int(sent["sent"]),
                           [(int(s), float(t)) for s, t in received])


class FabricHosts(ControlClient):
    """Hosts in the loopback lab's fabric daemon (no root)."""

    def ping(self, vm: str, dst: str, count: int = 3) -> PingResult:
        r = self.request("ping", vm=vm, dst=dst, count=count, interval=0.2, wait=1.0)
        return PingResult(r["sent"], r["received"], tuple(r["rtts"]))

    def tcp(self, vm: str, dst: str, port: int) -> str:
        return str(self.request("tcp", vm=vm, dst=dst, port=port, wait=1.0)["result"])

    def probe(self, src: str, dst: str, rate: int, duration: float) -> ProbeResult:
        r = self.request("probe", timeout=duration + 30, src=src, dst=dst, rate=rate,
                         duration=duration)
        return ProbeResult.from_json(r)
