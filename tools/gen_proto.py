"""Regenerate the committed Python code of the signalling protocol, or check that it is current.

    python tools/gen_proto.py          # rewrite controlplane/signalling/proto/nve_signalling_pb2*
    python tools/gen_proto.py --check  # exit 1 when the committed files differ from a fresh build

protoc runs from the repository root with `-I .`, so the generated gRPC module imports
`from controlplane.signalling.proto import nve_signalling_pb2` and the output does not depend on
where the checkout lives. The generated code records the grpcio-tools and protobuf versions that
made it, so only the pinned grpcio-tools (GRPCIO_TOOLS_VERSION) reproduces it byte for byte: any
other version exits 2 with a hint instead of reporting a false difference.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = Path("controlplane/signalling/proto/nve_signalling.proto")
OUTPUTS = tuple(
    PROTO.with_name(PROTO.stem + suffix) for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
)
GRPCIO_TOOLS_VERSION = "1.81.1"
"""Bundles protoc 33.5: protobuf gencode 6.33.5 (runtime >=6.33.5,<7) and grpcio >=1.81.1."""


def check_tools_version() -> None:
    """Exit 2 unless the pinned grpcio-tools is installed."""
    try:
        installed = importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"grpcio-tools is not installed: pip install grpcio-tools=={GRPCIO_TOOLS_VERSION}")
    if installed != GRPCIO_TOOLS_VERSION:
        print(
            f"grpcio-tools {installed} is installed; the committed code is made with "
            f"{GRPCIO_TOOLS_VERSION}: pip install grpcio-tools=={GRPCIO_TOOLS_VERSION}",
            file=sys.stderr,
        )
        sys.exit(2)


def generate(out_dir: Path) -> None:
    """Run protoc on PROTO, writing the three modules under out_dir (same relative layout)."""
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(PROTO),
    ]
    if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
        sys.exit(f"protoc failed on {PROTO}")


def stale_outputs(fresh_dir: Path) -> list[Path]:
    """The committed outputs that are missing or differ from those in fresh_dir."""
    return [
        path
        for path in OUTPUTS
        if not (ROOT / path).is_file()
        or (ROOT / path).read_bytes() != (fresh_dir / path).read_bytes()
    ]


def main(argv: list[str] | None = None) -> int:
    """Regenerate, or with --check compare; the exit status is 0 when everything is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    args = parser.parse_args(argv)
    check_tools_version()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        stale = stale_outputs(fresh)
        if args.check:
            for path in stale:
                print(f"{path} is stale: run python tools/gen_proto.py", file=sys.stderr)
            return 1 if stale else 0
        for path in OUTPUTS:
            (ROOT / path).write_bytes((fresh / path).read_bytes())
            print(f"{'wrote' if path in stale else 'unchanged'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
