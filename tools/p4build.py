"""Compile the NVE program and keep its committed artifacts honest.

    python tools/p4build.py compile   # p4c -> p4src/build/{nve.json,nve.p4info.txtpb,SOURCE_SHA256}
    python tools/p4build.py check     # fail when the sources changed but the artifacts did not;
                                      # when p4c is installed, also recompile and compare

p4c is looked up on PATH, then under $P4_TOOLCHAIN_PREFIX (default /opt/p4-toolchain).
It runs from the repository root on relative paths so that its output does not depend on
where the checkout lives.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from controlplane.toolchain import files_hash, find_tool, toolchain_prefix

ROOT = Path(__file__).resolve().parent.parent
P4SRC = Path("p4src")
MAIN = P4SRC / "nve.p4"
BUILD = P4SRC / "build"
ARTIFACTS = ("nve.json", "nve.p4info.txtpb")
HASH_FILE = "SOURCE_SHA256"


def source_files() -> list[Path]:
    """All P4 sources of the v1model program (the TNA variant has its own artifacts)."""
    return sorted(p for p in P4SRC.rglob("*.p4") if "tna" not in p.relative_to(P4SRC).parts)


def source_hash() -> str:
    """sha256 over every source's relative path and content, in sorted order."""
    return files_hash(source_files())




def run_p4c(out_dir: Path) -> None:
    """Compile nve.p4 into out_dir (bmv2 JSON + P4Info text)."""
    p4c = find_tool("p4c-bm2-ss")
    if p4c is None:
        sys.exit("p4c-bm2-ss not found on PATH or under "
                 f"{toolchain_prefix()}/bin "
                 "(see README: Building the P4 toolchain)")
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [p4c, "--arch", "v1model", "--std", "p4-16",
           "--p4runtime-files", str(out_dir / ARTIFACTS[1]),
           "-o", str(out_dir / ARTIFACTS[0]), str(MAIN)]
    subprocess.run(cmd, check=True)


def compile_artifacts() -> None:
    """Rebuild the committed artifacts and record the source hash."""
    run_p4c(BUILD)
    (BUILD / HASH_FILE).write_text(source_hash() + "\n")
    print(f"compiled {MAIN} -> {BUILD}/ (source sha256 {source_hash()[:16]}...)")


def check_artifacts() -> int:
    """0 when the artifacts match the sources; 1 with a reason otherwise."""
    recorded_file = BUILD / HASH_FILE
    missing = [a for a in (*ARTIFACTS, HASH_FILE) if not (BUILD / a).is_file()]
    if missing:
        print(f"p4 artifacts missing: {', '.join(missing)}; run 'make p4'", file=sys.stderr)
        return 1
    recorded = recorded_file.read_text().strip()
    actual = source_hash()
    if recorded != actual:
        print(f"p4src changed (sha256 {actual[:16]}...) but {recorded_file} says "
              f"{recorded[:16]}...: run 'make p4' and commit p4src/build", file=sys.stderr)
        return 1
    print(f"p4 artifacts match the sources (sha256 {actual[:16]}...)")
    if find_tool("p4c-bm2-ss") is None:
        print("p4c-bm2-ss not installed: recompile-and-compare skipped")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run_p4c(Path(tmp))
        for name in ARTIFACTS:
            if (Path(tmp) / name).read_bytes() != (BUILD / name).read_bytes():
                print(f"recompiled {name} differs from the committed one: run 'make p4'",
                      file=sys.stderr)
                return 1
    print("recompiled artifacts are identical to the committed ones")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["compile", "check", "hash"])
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.command == "compile":
        compile_artifacts()
        return 0
    if args.command == "hash":
        print(source_hash())
        return 0
    return check_artifacts()


if __name__ == "__main__":
    sys.exit(main())
