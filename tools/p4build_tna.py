"""Validate the TNA (Tofino) variant of the NVE program and keep its committed P4Info honest.

    python tools/p4build_tna.py compile   # p4test -> p4src/tna/build/{nve_tna.p4info.txtpb,
                                          #                           SOURCE_SHA256}
    python tools/p4build_tna.py check     # fail when the sources changed but the P4Info did not;
                                          # with p4test and the TNA includes, also recompile
    python tools/p4build_tna.py hash      # the source hash that check compares
    python tools/p4build_tna.py includes --p4c-repo PATH   # extract the TNA include files

p4test is looked up on PATH, then under $P4_TOOLCHAIN_PREFIX (default /opt/p4-toolchain). The TNA
include files (tna.p4, tofino1_arch.p4, ...) are p4c's, from backends/tofino/bf-p4c/p4include
(first in tag v1.2.4.17); they are not part of this repository. They are looked up in
$TNA_INCLUDE_DIR (default /var/tmp/tna-include); `includes` extracts them from any clone of p4c.

Compiling runs p4test twice on p4src/tna/nve_tna.p4 (see p4src/tna/arch.p4):
  1. the TNA program as is, against tna.p4 (Tofino 1): it must compile without errors;
  2. the P4Info build (-DNVE_P4INFO_VIEW), in which the same counters are declared with the externs
     p4c's open-source P4Runtime serializer understands (it has no TNA handler; bf-p4c does). Its
     P4Info is what bf-p4c --p4runtime-force-std-externs gives for the program; pkg_info.arch is
     set to "tna".
Before compiling, the preprocessed program is checked: v1model.p4 stayed out of it and it
declares exactly the TNA counters the P4Info lists.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from controlplane.toolchain import files_hash, find_tool, toolchain_prefix

ROOT = Path(__file__).resolve().parent.parent
TNA = Path("p4src") / "tna"
MAIN = TNA / "nve_tna.p4"
BUILD = TNA / "build"
P4INFO = "nve_tna.p4info.txtpb"
HASH_FILE = "SOURCE_SHA256"
DEFAULT_INCLUDE_DIR = "/var/tmp/tna-include"
INCLUDE_ENV = "TNA_INCLUDE_DIR"
REQUIRED_INCLUDES = ("tna.p4", "tofino1_specs.p4", "tofino1_arch.p4", "tofino1_base.p4")
INCLUDES_TAG = "v1.2.4.17"
INCLUDES_PATH = "backends/tofino/bf-p4c/p4include"
TARGET_DEFINE = "-D__TARGET_TOFINO__=1"
P4INFO_VIEW_DEFINE = "-DNVE_P4INFO_VIEW"

_QUOTE_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
_TNA_COUNTER = re.compile(r"\b(?:Counter|DirectCounter)\s*<[^;]*?>\s*\([^;]*?\)\s+(\w+)\s*;")


class BuildError(Exception):
    """Something the user must fix; the message says what."""


# -- sources and their hash ---------------------------------------------------------------------


def source_files() -> list[Path]:
    """The TNA sources and every shared file they include (quoted #include, followed recursively).

    Includes are followed whatever #ifdef surrounds them: a superset is harmless. <...> includes
    are the toolchain's and not hashed.
    """
    seen: set[Path] = set()
    pending = [MAIN, *sorted(p for p in TNA.rglob("*.p4") if BUILD not in p.parents)]
    while pending:
        path = Path(os.path.normpath(pending.pop()))
        if path in seen:
            continue
        if not path.is_file():
            raise BuildError(f"{path}: included but missing")
        seen.add(path)
        for name in _QUOTE_INCLUDE.findall(path.read_text()):
            pending.append(path.parent / name)
    return sorted(seen, key=lambda p: p.as_posix())


def source_hash() -> str:
    """sha256 over every source's relative path and content, in sorted order."""
    return files_hash(source_files())


# -- tools ---------------------------------------------------------------------------------------




def include_dir() -> Path:
    """Where the TNA include files are expected ($TNA_INCLUDE_DIR or the default)."""
    return Path(os.environ.get(INCLUDE_ENV) or DEFAULT_INCLUDE_DIR)


def missing_prerequisites() -> list[str]:
    """Why the TNA program cannot be compiled here; empty when it can."""
    reasons = []
    if find_tool("p4test") is None:
        prefix = toolchain_prefix()
        reasons.append(f"p4test not found on PATH or under {prefix}/bin (see README: Real bmv2)")
    where = include_dir()
    absent = [name for name in REQUIRED_INCLUDES if not (where / name).is_file()]
    if absent:
        reasons.append(
            f"TNA include files not found in {where} (missing {', '.join(absent)}); set "
            f"{INCLUDE_ENV}, or extract them from p4c's {INCLUDES_PATH} (tag {INCLUDES_TAG} or "
            "later) with: python tools/p4build_tna.py includes --p4c-repo PATH"
        )
    return reasons


def p4test_command(*extra: str) -> list[str]:
    """p4test on the TNA program for Tofino 1, plus `extra` options."""
    p4test = find_tool("p4test")
    assert p4test is not None
    return [p4test, "--std", "p4-16", "-I", str(include_dir()), TARGET_DEFINE, *extra, str(MAIN)]


def run_p4test(*extra: str, what: str) -> str:
    """Run p4test; return its stdout; raise BuildError with its diagnostics when it fails."""
    return run_p4test_parallel({what: extra})[what]


def run_p4test_parallel(runs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Run p4test once per entry (what -> extra options) at the same time; stdout by `what`.

    Raise BuildError with the diagnostics of every run that failed; print any warnings.
    """
    procs = {what: subprocess.Popen(p4test_command(*extra), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for what, extra in runs.items()}
    outputs, failures = {}, []
    for what, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            failures.append(f"p4test rejected {what} (exit {proc.returncode}):\n{stderr}")
        elif stderr.strip():
            print(f"p4test on {what}:\n{stderr}", file=sys.stderr)
        outputs[what] = stdout
    if failures:
        raise BuildError("\n".join(failures))
    return outputs


# -- compile -------------------------------------------------------------------------------------


def check_preprocessed() -> list[str]:
    """Preprocess the TNA program; check v1model.p4 stayed out; return its TNA counter names."""
    text = run_p4test("-E", what="the TNA program (preprocessing)")
    if re.search(r"\bpackage\s+V1Switch\b", text):
        raise BuildError("v1model.p4 got into the TNA program: a shared file includes it in a way "
                         "p4src/tna/arch.p4 does not neutralise")
    return sorted(_TNA_COUNTER.findall(text))


def set_arch(p4info_text: str) -> str:
    """The P4Info text with pkg_info.arch "tna" instead of the serializer's default."""
    text, count = re.subn(r'(pkg_info \{\n  arch: )"v1model"', r'\1"tna"', p4info_text)
    if count != 1:
        raise BuildError('P4Info: expected one pkg_info { arch: "v1model" } from p4test')
    return text


def p4info_counter_names(p4info_text: str) -> list[str]:
    """Last name component of every counter and direct counter in a P4Info text."""
    names = re.findall(r'^(?:counters|direct_counters) \{\n  preamble \{\n    id: \d+\n'
                       r'    name: "([^"]+)"', p4info_text, re.MULTILINE)
    return sorted(name.rsplit(".", 1)[-1] for name in names)


def build_into(out_dir: Path) -> None:
    """Validate the TNA program and write its P4Info into out_dir."""
    reasons = missing_prerequisites()
    if reasons:
        raise BuildError("cannot compile the TNA program:\n  " + "\n  ".join(reasons))
    counters = check_preprocessed()
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / ("raw." + P4INFO)   # p4test takes the format from the suffix
    run_p4test_parallel({
        "the TNA program": (),
        "the P4Info build": (P4INFO_VIEW_DEFINE, "--p4runtime-files", str(raw)),
    })
    text = set_arch(raw.read_text())
    raw.unlink()
    listed = p4info_counter_names(text)
    if listed != counters:
        raise BuildError(f"the P4Info lists counters {listed} but the TNA program declares "
                         f"{counters}: p4src/tna/arch.p4's two builds disagree")
    (out_dir / P4INFO).write_text(text)


def compile_artifacts() -> None:
    """Rebuild the committed P4Info and record the source hash."""
    with tempfile.TemporaryDirectory() as tmp:
        build_into(Path(tmp))
        BUILD.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / P4INFO, BUILD / P4INFO)
    digest = source_hash()
    (BUILD / HASH_FILE).write_text(digest + "\n")
    print(f"p4test accepts {MAIN} (TNA, Tofino 1); P4Info -> {BUILD / P4INFO} "
          f"(source sha256 {digest[:16]}...)")


def check_artifacts() -> int:
    """0 when the committed P4Info matches the sources; 1 with a reason otherwise."""
    missing = [a for a in (P4INFO, HASH_FILE) if not (BUILD / a).is_file()]
    if missing:
        print(f"TNA artifacts missing: {', '.join(missing)}; run "
              "'python tools/p4build_tna.py compile'", file=sys.stderr)
        return 1
    recorded = (BUILD / HASH_FILE).read_text().strip()
    actual = source_hash()
    if recorded != actual:
        print(f"the TNA program's sources changed (sha256 {actual[:16]}...) but "
              f"{BUILD / HASH_FILE} says {recorded[:16]}...: run "
              "'python tools/p4build_tna.py compile' and commit p4src/tna/build", file=sys.stderr)
        return 1
    print(f"TNA P4Info matches the sources (sha256 {actual[:16]}...)")
    reasons = missing_prerequisites()
    if reasons:
        print("TNA recompile-and-compare skipped: " + "; ".join(reasons))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build_into(Path(tmp))
        if (Path(tmp) / P4INFO).read_bytes() != (BUILD / P4INFO).read_bytes():
            print(f"recompiled {P4INFO} differs from the committed one: run "
                  "'python tools/p4build_tna.py compile'", file=sys.stderr)
            return 1
    print("p4test accepts the TNA program; the recompiled P4Info is identical to the committed one")
    return 0


# -- includes ------------------------------------------------------------------------------------


def extract_includes(repo: Path, ref: str, dest: Path) -> list[Path]:
    """Copy p4c's TNA include files at `ref` from git repository `repo` into `dest`."""
    def git(*args: str) -> bytes:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
        if proc.returncode != 0:
            raise BuildError(f"git {' '.join(args)} in {repo}: {proc.stderr.decode().strip()}")
        return proc.stdout

    names = git("ls-tree", "-r", "--name-only", ref, INCLUDES_PATH + "/").decode().split()
    if not names:
        raise BuildError(f"{repo} has no {INCLUDES_PATH} at {ref} (it first appears in "
                         f"{INCLUDES_TAG})")
    written = []
    for name in names:
        target = dest / Path(name).relative_to(INCLUDES_PATH)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(git("show", f"{ref}:{name}"))
        written.append(target)
    return written


# -- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("compile", help="validate with p4test and rewrite p4src/tna/build")
    sub.add_parser("check", help="fail when p4src/tna/build does not match the sources")
    sub.add_parser("hash", help="print the source hash")
    inc = sub.add_parser("includes", help="extract the TNA include files from a p4c repository")
    inc.add_argument("--p4c-repo", type=Path, required=True,
                     help="a clone of p4lang/p4c (bare is fine) with its tags")
    inc.add_argument("--ref", default=INCLUDES_TAG, help=f"tag or commit (default {INCLUDES_TAG})")
    inc.add_argument("--dest", type=Path, default=None,
                     help=f"target directory (default ${INCLUDE_ENV} or {DEFAULT_INCLUDE_DIR})")
    args = parser.parse_args()
    try:
        if args.command == "includes":
            dest = (args.dest or include_dir()).resolve()
            written = extract_includes(args.p4c_repo.resolve(), args.ref, dest)
            print(f"{len(written)} TNA include files from p4c {args.ref} -> {dest}")
            return 0
        os.chdir(ROOT)
        if args.command == "compile":
            compile_artifacts()
            return 0
        if args.command == "hash":
            print(source_hash())
            return 0
        return check_artifacts()
    except BuildError as ex:
        print(f"p4build_tna: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
