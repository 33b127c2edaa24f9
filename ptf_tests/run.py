"""Run the PTF suite against one target, then tear everything down.

    python ptf_tests/run.py --target bmv2       # simple_switch_grpc on veth pairs in a private netns (root)
    python ptf_tests/run.py --target embedded   # our softswitch on loopback UDP ports (no root)

A target that cannot run here (no root, no simple_switch_grpc) is skipped with the reason and exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PTF_DIR = ROOT / "ptf_tests"
BUILD = ROOT / "p4src" / "build"
P4INFO = BUILD / "nve.p4info.txtpb"
CONFIG = BUILD / "nve.json"
DEVICE_ID = 1
CPU_PORT = 255
DEFAULT_PREFIX = "/opt/p4-toolchain"


def port_map() -> dict[str, int]:
    """Named switch ports shared by the tests and this launcher."""
    return json.loads((PTF_DIR / "port_map.json").read_text())


def find_tool(name: str) -> str | None:
    """A binary from PATH or the toolchain prefix."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(os.environ.get("P4_TOOLCHAIN_PREFIX", DEFAULT_PREFIX)) / "bin" / name
    return str(candidate) if candidate.is_file() else None


def free_tcp_port() -> int:
    """An unused TCP port on loopback."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
                    f"{os.environ.get('P4_TOOLCHAIN_PREFIX', DEFAULT_PREFIX)}/bin")
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
        switch_cmd = [*in_ns, switch_bin, "--no-p4", "--device-id", str(DEVICE_ID),
                      "--cpu-port", str(CPU_PORT), "--log-console",
                      *[arg for n in ports.values() for arg in ("-i", f"{n}@sw{n}")],
                      "--", "--grpc-server-addr", grpc_addr]
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


def run_embedded(tests: list[str]) -> int:
    """Placeholder until the embedded target lands (issue #3)."""
    return skip("embedded", "the embedded software target is not built yet")


if __name__ == "__main__":
    sys.exit(main())
