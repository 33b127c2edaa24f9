"""The two switch targets and how the lab starts them.

Both take the same ports and P4Runtime options, as the README says: the embedded `softswitch`
and bmv2's `simple_switch_grpc` (whose own options go after `--`). The P4Runtime server listens
on a Unix socket: the controller, in the host's namespace, reaches a switch that runs inside its
own namespace without any interface or route between the two.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from bmv2_lab.spec import CPU_PORT, DEVICE_ID
from bmv2_lab.state import ProcessRecord, is_running

TARGETS = ("embedded", "bmv2")
DEFAULT_TOOLCHAIN = "/opt/p4-toolchain"
UNIX_PATH_MAX = 100


class TargetError(RuntimeError):
    """A target cannot run here, or a switch did not come up."""


def find_bmv2() -> str | None:
    """simple_switch_grpc from PATH or the toolchain prefix."""
    found = shutil.which("simple_switch_grpc")
    if found:
        return found
    prefix = Path(os.environ.get("P4_TOOLCHAIN_PREFIX", DEFAULT_TOOLCHAIN))
    candidate = prefix / "bin" / "simple_switch_grpc"
    return str(candidate) if candidate.is_file() else None


def grpc_socket(run_dir: Path, switch: str) -> str:
    """A Unix socket address for switch `switch` (short enough for sockaddr_un)."""
    path = Path(run_dir).resolve() / f"{switch}.sock"
    if len(str(path)) > UNIX_PATH_MAX:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
        short = Path("/tmp") / f"nvelab-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        path = short / f"{switch}.sock"
    return f"unix:{path}"


def switch_command(target: str, grpc_addr: str, ports: dict[int, str],
                   netns: str | None) -> list[str]:
    """The command line of one switch; `ports` maps port numbers to interfaces or udp:L:P."""
    interfaces = [arg for number, iface in sorted(ports.items())
                  for arg in ("-i", f"{number}@{iface}")]
    if target == "embedded":
        command = [sys.executable, "-m", "softswitch", "--device-id", str(DEVICE_ID),
                   "--cpu-port", str(CPU_PORT), "--no-p4", "--grpc-server-addr", grpc_addr,
                   "--log-level", "warning", *interfaces]
    elif target == "bmv2":
        binary = find_bmv2()
        if binary is None:
            raise TargetError("TARGET=bmv2: simple_switch_grpc is not on PATH nor under "
                              f"{os.environ.get('P4_TOOLCHAIN_PREFIX', DEFAULT_TOOLCHAIN)}/bin")
        if any(iface.startswith("udp:") for iface in ports.values()):
            raise TargetError("TARGET=bmv2 needs root: simple_switch_grpc has no UDP ports, "
                              "only interfaces (the lab's veth pairs)")
        command = [binary, "--device-id", str(DEVICE_ID), "--no-p4", *interfaces, "--",
                   "--grpc-server-addr", grpc_addr, "--cpu-port", str(CPU_PORT)]
    else:
        raise TargetError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    return command


def wait_listening(grpc_addr: str, process: ProcessRecord, timeout: float = 30.0) -> None:
    """Block until the switch accepts connections on its P4Runtime socket."""
    path = grpc_addr.removeprefix("unix:")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(process):
            raise TargetError(f"switch exited while starting; see {process.log}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            try:
                sock.connect(path)
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise TargetError(f"switch did not listen on {grpc_addr} within {timeout:.0f} s; "
                      f"see {process.log}")
