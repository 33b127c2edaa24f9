"""Open p4runtime-shell, the interactive P4Runtime shell, against a running switch.

    python3 tools/p4shell.py                              # 127.0.0.1:9559, device 1
    python3 tools/p4shell.py --grpc-addr 127.0.0.1:50001 --election-id 0,20 -v

p4runtime-shell pins protobuf 3.x and an old p4runtime, so it gets a virtualenv of its own,
.venv-p4shell, created on first use (needs only a python3 with venv and pip, not .venv).

The pipeline (--config P4INFO,JSON, default p4src/build/nve.*) is pushed only when the device
has none (--push auto): pushing it again would reset every table of a running switch.
--push always / never override that. Options this script does not know are handed to
p4runtime-shell (see `.venv-p4shell/bin/python -m p4runtime_sh --help`).

Election id: p4runtime-shell writes only as the primary controller. The softswitch keeps as
primary the highest election id it has ever seen (P4Runtime spec), so a shell with an id above
the controller's stays the highest after it leaves, and the controller must arbitrate again
with a higher id. The default 0,1 makes the shell a backup next to any controller: reads only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = ROOT / ".venv-p4shell"
REQUIREMENT = "p4runtime-shell==0.0.6"
"""What .venv-p4shell holds; it pulls protobuf<3.21, p4runtime==1.4.1 and IPython 7."""
MARKER = ".p4shell-installed"
DEFAULT_CONFIG = (ROOT / "p4src/build/nve.p4info.txtpb", ROOT / "p4src/build/nve.json")

PIPELINE_PROBE = """\
import sys, grpc
from p4.v1 import p4runtime_pb2 as p4r, p4runtime_pb2_grpc as p4r_grpc
request = p4r.GetForwardingPipelineConfigRequest(
    device_id=int(sys.argv[2]), response_type=p4r.GetForwardingPipelineConfigRequest.COOKIE_ONLY)
with grpc.insecure_channel(sys.argv[1]) as channel:
    try:
        p4r_grpc.P4RuntimeStub(channel).GetForwardingPipelineConfig(request, timeout=10)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
            sys.exit(3)
        sys.exit(f"{sys.argv[1]}: {exc.code().name}: {exc.details()}")
"""
"""Run in .venv-p4shell: exit 0 when the device has a pipeline, 3 when it has none."""
NO_PIPELINE_EXIT = 3


class P4ShellError(RuntimeError):
    """The shell cannot be set up or started."""


def venv_python(venv: Path) -> Path:
    """The interpreter of ``venv``."""
    return venv / "bin" / "python"


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create ``venv`` with p4runtime-shell unless it already has it; its interpreter.

    Raises P4ShellError with pip's last words when the install fails.
    """
    python = venv_python(venv)
    marker = venv / MARKER
    if python.exists() and marker.is_file() and marker.read_text().strip() == REQUIREMENT:
        return python
    print(f"p4shell: installing {REQUIREMENT} into {venv}", file=sys.stderr, flush=True)
    _run([sys.executable, "-m", "venv", "--clear", str(venv)], "creating the virtualenv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          REQUIREMENT], f"pip install {REQUIREMENT}")
    marker.write_text(REQUIREMENT + "\n")
    return python


def _run(command: Sequence[str], what: str) -> None:
    """Run a setup step quietly; P4ShellError with the tail of its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise P4ShellError(f"{what} failed (exit {result.returncode}):\n{tail}")


def device_has_pipeline(python: Path, grpc_addr: str, device_id: int) -> bool:
    """Whether the device at ``grpc_addr`` runs a pipeline; P4ShellError when unreachable."""
    result = subprocess.run(
        [str(python), "-c", PIPELINE_PROBE, grpc_addr, str(device_id)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, NO_PIPELINE_EXIT):
        raise P4ShellError(f"cannot ask the switch for its pipeline: {result.stderr.strip()}")
    return result.returncode == 0


def shell_command(
    python: Path, args: argparse.Namespace, push: bool, extra: Sequence[str]
) -> list[str]:
    """The p4runtime_sh invocation."""
    command = [str(python), "-m", "p4runtime_sh", "--grpc-addr", args.grpc_addr,
               "--device-id", str(args.device_id), "--election-id", args.election_id]
    if push:
        command += ["--config", ",".join(str(path) for path in args.config)]
    return [*command, *extra]


def should_push(python: Path, args: argparse.Namespace) -> bool:
    """Apply --push: auto pushes only to a device without a pipeline."""
    if args.push == "auto":
        if device_has_pipeline(python, args.grpc_addr, args.device_id):
            print("p4shell: the device already runs a pipeline; not pushing it again",
                  file=sys.stderr)
            return False
    elif args.push == "never":
        return False
    missing = [str(path) for path in args.config if not path.is_file()]
    if missing:
        raise P4ShellError(f"cannot push the pipeline: {', '.join(missing)} missing (make p4)")
    return True


def _config(text: str) -> tuple[Path, Path]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError("expected P4INFO,JSON")
    return Path(parts[0]), Path(parts[1])


def _election_id(text: str) -> str:
    parts = text.split(",")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError("expected HIGH,LOW (two integers)")
    return text


def build_parser() -> argparse.ArgumentParser:
    """Command line of this script."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Unknown options are passed on to p4runtime-shell.",
    )
    parser.add_argument("--grpc-addr", default="127.0.0.1:9559", help="default %(default)s")
    parser.add_argument("--device-id", type=int, default=1, help="default %(default)s")
    parser.add_argument("--election-id", type=_election_id, default="0,1",
                        metavar="HIGH,LOW", help="default %(default)s (a backup next to "
                        "any controller with a higher id)")
    parser.add_argument("--config", type=_config, default=DEFAULT_CONFIG, metavar="P4INFO,JSON",
                        help="pipeline to push (default p4src/build/nve.p4info.txtpb,"
                        "p4src/build/nve.json)")
    parser.add_argument("--push", choices=["auto", "always", "never"], default="auto",
                        help="auto (default): push --config only to a device without pipeline")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                        help="virtualenv of p4runtime-shell (default .venv-p4shell)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Set up the shell's virtualenv, then replace this process by the shell."""
    args, extra = build_parser().parse_known_args(argv)
    try:
        python = ensure_venv(args.venv)
        command = shell_command(python, args, should_push(python, args), extra)
    except P4ShellError as exc:
        print(f"p4shell: {exc}", file=sys.stderr)
        return 1
    print("+", " ".join(command), file=sys.stderr, flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
