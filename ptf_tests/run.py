"""Run the PTF suite against one target, then tear everything down.

    python ptf_tests/run.py --target bmv2       # simple_switch_grpc on veth pairs in a private netns (root)
    python ptf_tests/run.py --target embedded   # our softswitch on loopback UDP ports (no root)

A target that cannot run here (no root, no simple_switch_grpc) is skipped with the reason and exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from controlplane.toolchain import find_tool, free_port, toolchain_prefix

ROOT = Path(__file__).resolve().parent.parent
PTF_DIR = ROOT / "ptf_tests"
BUILD = ROOT / "p4src" / "build"
P4INFO = BUILD / "nve.p4info.txtpb"
CONFIG = BUILD / "nve.json"
DEVICE_ID = 1
CPU_PORT = 255


def port_map() -> dict[str, int]:
    """Named switch ports shared by the tests and this launcher."""
    return json.loads((PTF_DIR / "port_map.json").read_text())




def test_params(grpc_addr: str, target: str) -> str:
    """PTF --test-params: what NveTest reads."""
    params = {"grpcaddr": grpc_addr, "p4info": str(P4INFO), "config": str(CONFIG),
              "target": target, "device_id": DEVICE_ID, "cpu_port": CPU_PORT}
    return ";".join(f"{key}={value!r}" for key, value in params.items())


def ptf_command(extra: list[str], grpc_addr: str, target: str, tests: list[str]) -> list[str]:
    """The ptf invocation shared by both targets."""
    ptf = str(Path(sys.executable).parent / "ptf")
    log_dir = ROOT / "run" / f"ptf-{target}"
    log_dir.mkdir(parents=True, exist_ok=True)
    return [ptf, "--test-dir", str(PTF_DIR), "--pypath", str(PTF_DIR),
            "--log-file", str(log_dir / "ptf.log"), "--test-params", test_params(grpc_addr, target),
            *extra, *tests]


def skip(target: str, reason: str) -> int:
    """Say why the target's suite does not run here."""
    print(f"PTF on {target} SKIPPED: {reason}")
    return 0


def sh(*cmd: str) -> None:
    """Run a setup command; fail loudly."""
    subprocess.run(cmd, check=True)


def run_bmv2(tests: list[str]) -> int:
    """simple_switch_grpc and PTF inside a network namespace of our own."""
    if os.geteuid() != 0:
        return skip("bmv2", "needs root to create a network namespace and veth pairs")
    switch_bin = find_tool("simple_switch_grpc")
    if switch_bin is None:
        return skip("bmv2", "simple_switch_grpc not found on PATH or under "
                    f"{toolchain_prefix()}/bin")
    if shutil.which("ip") is None:
        return skip("bmv2", "iproute2 'ip' not installed")
    netns = f"nve-ptf-{os.getpid()}"
    ports = port_map()
    grpc_addr = "127.0.0.1:9559"
    with ExitStack() as stack:
        sh("ip", "netns", "add", netns)
        stack.callback(subprocess.run, ["ip", "netns", "del", netns], check=False)
        in_ns = ["ip", "netns", "exec", netns]
        sh(*in_ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh(*in_ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        for number in ports.values():
            sh("ip", "-n", netns, "link", "add", f"sw{number}", "type", "veth",
               "peer", "name", f"h{number}")
            for end in (f"sw{number}", f"h{number}"):
                sh("ip", "-n", netns, "link", "set", end, "mtu", "9000", "up")
        log_dir = ROOT / "run" / "ptf-bmv2"
        log_dir.mkdir(parents=True, exist_ok=True)
        switch_log = open(log_dir / "simple_switch_grpc.log", "w")
        stack.callback(switch_log.close)
        # --cpu-port and --grpc-server-addr are simple_switch_grpc's own: after "--".
        switch_cmd = [*in_ns, switch_bin, "--no-p4", "--device-id", str(DEVICE_ID),
                      "--log-console",
                      *[arg for n in ports.values() for arg in ("-i", f"{n}@sw{n}")],
                      "--", "--grpc-server-addr", grpc_addr, "--cpu-port", str(CPU_PORT)]
        switch = subprocess.Popen(switch_cmd, stdout=switch_log, stderr=subprocess.STDOUT)
        stack.callback(stop, switch)
        wait_for_grpc(in_ns, grpc_addr, switch)
        interfaces = [arg for n in ports.values() for arg in ("-i", f"{n}@h{n}")]
        return subprocess.run([*in_ns, *ptf_command(interfaces, grpc_addr, "bmv2", tests)],
                              check=False).returncode
    return 1


def wait_for_grpc(in_ns: list[str], grpc_addr: str, switch: subprocess.Popen[bytes]) -> None:
    """Block until the switch accepts TCP connections on its gRPC address."""
    host, port = grpc_addr.rsplit(":", 1)
    probe = (f"import socket,sys\ns=socket.socket()\ns.settimeout(0.2)\n"
             f"sys.exit(s.connect_ex(({host!r},{port})))")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if switch.poll() is not None:
            raise RuntimeError(f"switch exited with {switch.returncode}; see run/ logs")
        if subprocess.run([*in_ns, sys.executable, "-c", probe], check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"switch did not listen on {grpc_addr} within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child process, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["bmv2", "embedded"], required=True)
    parser.add_argument("tests", nargs="*", help="PTF test names (default: all)")
    args = parser.parse_args()
    if args.target == "bmv2":
        return run_bmv2(args.tests)
    return run_embedded(args.tests)


SWITCH_START_ATTEMPTS = 3
"""Tries with freshly picked ports, should another process grab one between pick and bind."""


@dataclass(frozen=True)
class UdpLink:
    """Switch port ``number`` wired to PTF port ``number`` by two UDP sockets on loopback."""

    number: int
    switch_udp: int
    ptf_udp: int

    @property
    def switch_interface(self) -> str:
        """The softswitch ``-i`` value: bound to ``switch_udp``, sending to ``ptf_udp``."""
        return f"{self.number}@udp:{self.switch_udp}:{self.ptf_udp}"

    @property
    def ptf_interface(self) -> str:
        """The PTF ``-i`` value (udp platform): the mirror image of ``switch_interface``."""
        return f"{self.number}@udp:{self.ptf_udp}:{self.switch_udp}"


def free_udp_ports(count: int) -> list[int]:
    """``count`` distinct unused UDP ports on loopback (all held while picking)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                 for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def udp_links(numbers: list[int]) -> list[UdpLink]:
    """One link per switch port number, on freshly picked UDP ports."""
    udp = free_udp_ports(2 * len(numbers))
    return [UdpLink(number, udp[2 * i], udp[2 * i + 1]) for i, number in enumerate(numbers)]


def softswitch_command(grpc_addr: str, links: list[UdpLink]) -> list[str]:
    """``python -m softswitch`` without a program, like simple_switch_grpc --no-p4."""
    return [sys.executable, "-m", "softswitch", "--device-id", str(DEVICE_ID),
            "--cpu-port", str(CPU_PORT), "--no-p4", "--grpc-server-addr", grpc_addr,
            *[arg for link in links for arg in ("-i", link.switch_interface)]]


def start_softswitch(stack: ExitStack, log: IO[bytes]) -> tuple[str, list[UdpLink]]:
    """Start the softswitch on free loopback ports; its gRPC address and links once it listens.

    The switch is stopped when ``stack`` closes. A switch that exits while starting (a port
    taken in the meantime) is retried on new ports.
    """
    attempt = 1
    while True:
        grpc_addr = f"127.0.0.1:{free_port()}"
        links = udp_links(list(port_map().values()))
        command = softswitch_command(grpc_addr, links)
        print("+", shlex.join(command), flush=True)
        switch = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        stack.callback(stop, switch)
        try:
            wait_for_grpc([], grpc_addr, switch)
        except RuntimeError as exc:
            if switch.poll() is None or attempt == SWITCH_START_ATTEMPTS:
                raise
            print(f"softswitch did not start ({exc}); retrying on other ports", flush=True)
            attempt += 1
            continue
        return grpc_addr, links


def raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that teardown runs as it does on Ctrl-C."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def run_embedded(tests: list[str]) -> int:
    """The softswitch on loopback UDP ports and PTF through the udp platform; no root needed."""
    missing = [str(path.relative_to(ROOT)) for path in (P4INFO, CONFIG) if not path.is_file()]
    if missing:
        print(f"PTF on embedded FAILED: {', '.join(missing)} missing (make p4)")
        return 2
    raise_on_sigterm()
    log_dir = ROOT / "run" / "ptf-embedded"
    log_dir.mkdir(parents=True, exist_ok=True)
    switch_log = log_dir / "softswitch.log"
    with ExitStack() as stack:
        try:
            grpc_addr, links = start_softswitch(stack, stack.enter_context(open(switch_log, "wb")))
            platform = ["--platform-dir", str(PTF_DIR / "platforms"), "--platform", "udp",
                        "--allow-user",
                        *[arg for link in links for arg in ("-i", link.ptf_interface)]]
            command = ptf_command(platform, grpc_addr, "embedded", tests)
            print("+", shlex.join(command), flush=True)
            return subprocess.run(command, cwd=ROOT, check=False).returncode
        except KeyboardInterrupt:
            print("PTF on embedded: interrupted, tearing down", flush=True)
            return 130
        except RuntimeError as exc:
            print(f"PTF on embedded FAILED: {exc} (switch log: {switch_log})", flush=True)
            return 1
        finally:
            print(f"softswitch log: {switch_log}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
