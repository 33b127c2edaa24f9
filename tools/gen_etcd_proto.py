"""Regenerate the committed Python code of our etcd v3 API subset, or check that it is current.

    python tools/gen_etcd_proto.py          # rewrite controlplane/store/etcd_proto/*_pb2*
    python tools/gen_etcd_proto.py --check  # exit 1 when the committed files are stale

The .proto files are hand-written subsets of etcd v3.4's `etcdserverpb/rpc.proto` and
`mvccpb/kv.proto` (same packages, service and message names, field numbers). protoc runs from the
repository root with `-I .`, like tools/gen_proto.py, whose pinned grpcio-tools version this
script shares: only that version reproduces the committed files byte for byte (any other exits 2).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_proto import GRPCIO_TOOLS_VERSION, check_tools_version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("controlplane/store/etcd_proto")
PROTOS = (PROTO_DIR / "kv.proto", PROTO_DIR / "rpc.proto")
OUTPUTS = (
    PROTO_DIR / "kv_pb2.py",
    PROTO_DIR / "kv_pb2.pyi",
    PROTO_DIR / "rpc_pb2.py",
    PROTO_DIR / "rpc_pb2.pyi",
    PROTO_DIR / "rpc_pb2_grpc.py",
)
__all__ = ["GRPCIO_TOOLS_VERSION", "OUTPUTS", "main"]


def generate(out_dir: Path) -> None:
    """Run protoc on PROTOS, writing the modules under out_dir (same relative layout)."""
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--python_out={out_dir}",
               f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *map(str, PROTOS)]
    if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:
        sys.exit(f"protoc failed on {', '.join(map(str, PROTOS))}")


def stale_outputs(fresh_dir: Path) -> list[Path]:
    """The committed outputs that are missing or differ from those in fresh_dir."""
    return [path for path in OUTPUTS
            if not (ROOT / path).is_file()
            or (ROOT / path).read_bytes() != (fresh_dir / path).read_bytes()]


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
                print(f"{path} is stale: run python tools/gen_etcd_proto.py", file=sys.stderr)
            return 1 if stale else 0
        for path in OUTPUTS:
            (ROOT / path).write_bytes((fresh / path).read_bytes())
            print(f"{'wrote' if path in stale else 'unchanged'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
