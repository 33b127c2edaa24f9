"""`make bench`: every benchmark on every target that runs here, then a table of ratios vs goals.

Runs, one after the other (each in its own process, so one's switches and memory never weigh on
the next; never two at once, on a 2-core machine they would measure each other):

1. bench_associate_latency.py   Associate RPC -> first VXLAN frame, p99 / raw Write RTT (<= 3)
2. bench_lifecycle_throughput.py  VMs/s by 8 agents / raw batched writes of the same entries (>= 0.7)
3. bench_scale.py               4,096 VMs x 2 MACs in 64 VNs: memory per VM (<= 4 KiB), total
                                time, sampled forwarding
4. bench_restart.py             restart reconcile / initial programming (<= 0.5), zero writes
5. bench_migration.py           lab migration loss window at 1 kpps x 10 (<= 50 ms)
6. target_pps.py                packets/s embedded / bmv2 on encap and decap (>= 0.2)

1-5 run on the embedded target and, when simple_switch_grpc is installed and we are root, on
bmv2 as well; 6 compares the two itself. Every script appends its row to
benchmarks/bench_results.csv (target_pps.py also to benchmarks/results.csv).

    .venv/bin/python benchmarks/run_all.py [--quick] [--targets embedded,bmv2] [--only scale,...]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lib.results import RESULTS, Outcome, append_row, describe_machine
from benchmarks.lib.targets import available_targets, bmv2_unavailable

HERE = Path(__file__).resolve().parent
BENCHES = {
    "associate": ("bench_associate_latency.py", "1. associate latency"),
    "lifecycle": ("bench_lifecycle_throughput.py", "2. lifecycle throughput"),
    "scale": ("bench_scale.py", "3. scale"),
    "restart": ("bench_restart.py", "4. restart reconciliation"),
    "migration": ("bench_migration.py", "5. migration loss window"),
    "pps": ("target_pps.py", "6. target throughput"),
}
TIMEOUT = 900.0
PPS_LINE = re.compile(r"^(encap|decap)\s+(engine|softswitch|bmv2)\s+(\d+) pps")
PPS_RATIO = re.compile(r"^(encap|decap): softswitch / bmv2 = ([\d.]+) \(\w+ the goal of ([\d.]+)\)")


@dataclass
class Run:
    """One script on one target: its outcome(s) or why there is none."""

    name: str
    target: str
    seconds: float
    outcomes: list[Outcome]
    error: str = ""


def run_script(script: str, argv: list[str]) -> tuple[int, str, float]:
    """Run a script, echoing its output; (exit status, output, seconds)."""
    started = time.monotonic()
    command = [sys.executable, str(HERE / script), *argv]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                print(f"  {line}", end="", flush=True)
                lines.append(line)
                if time.monotonic() - started > TIMEOUT:
                    proc.kill()
                    lines.append(f"killed after {TIMEOUT:.0f} s\n")
                    break
        finally:
            status = proc.wait()
    return status, "".join(lines), time.monotonic() - started


def outcome_from_json(path: Path) -> Outcome:
    data = json.loads(path.read_text())
    fields = {k: data[k] for k in Outcome.__dataclass_fields__ if k in data}
    return Outcome(**fields)


def run_bench(name: str, target: str, args: argparse.Namespace, tmp: Path) -> Run:
    script, _ = BENCHES[name]
    out = tmp / f"{name}-{target}.json"
    argv = ["--target", target, "--json-out", str(out), "--results", str(args.results)]
    argv += ["--quick"] if args.quick else []
    argv += ["--no-csv"] if args.no_csv else []
    status, output, seconds = run_script(script, argv)
    if status != 0 or not out.exists():
        last = output.strip().splitlines()[-1:] or ["no output"]
        return Run(name, target, seconds, [], f"exit {status}: {last[0]}")
    return Run(name, target, seconds, [outcome_from_json(out)])


def run_pps(args: argparse.Namespace, targets: list[str]) -> Run:
    """target_pps.py (it measures embedded and bmv2 itself); its ratios as outcomes."""
    argv = ["--count", "300", "--warmup", "50"] if args.quick else ["--count", str(args.pps_count)]
    argv += ["--no-csv"] if args.no_csv else []
    if "bmv2" not in targets:
        argv.append("--no-bmv2")
    status, output, seconds = run_script(BENCHES["pps"][0], argv)
    pps: dict[tuple[str, str], float] = {}
    ratios: dict[str, tuple[float, float]] = {}
    for line in output.splitlines():
        if m := PPS_LINE.match(line.strip()):
            pps[(m[1], m[2])] = float(m[3])
        if m := PPS_RATIO.match(line.strip()):
            ratios[m[1]] = (float(m[2]), float(m[3]))
    if status != 0:
        return Run("pps", "embedded/bmv2", seconds, [], f"exit {status}")
    outcomes = []
    for path in ("encap", "decap"):
        ratio, goal = ratios.get(path, (math.nan, 0.2))
        outcome = Outcome(
            bench=f"target_pps_{path}", target="embedded/bmv2",
            figure=f"softswitch {path} pps", value=pps.get((path, "softswitch"), math.nan),
            unit="pps", baseline=f"bmv2 {path} pps", baseline_value=pps.get((path, "bmv2"),
                                                                              math.nan),
            ratio=ratio, goal_op=">=", goal=goal, quick=args.quick,
            raw={"engine_pps": pps.get((path, "engine"), math.nan)},
            notes=[] if (path, "bmv2") in pps else [f"bmv2 not measured: {bmv2_unavailable()}"])
        outcomes.append(outcome)
        if not args.no_csv:
            append_row(outcome, args.results)
    return Run("pps", "embedded/bmv2", seconds, outcomes)


def summary(runs: list[Run], total: float) -> str:
    """The closing table: each ratio next to its goal."""
    head = (f"{'benchmark':<26}{'target':<14}{'figure':<44}{'baseline':<34}{'ratio':>9}  "
            f"{'goal':<34}verdict")
    lines = ["", f"Summary ({describe_machine()}; {total:.0f} s in all)", head, "-" * len(head)]
    for run in runs:
        title = BENCHES[run.name][1]
        if not run.outcomes:
            lines.append(f"{title:<26}{run.target:<14}FAILED: {run.error}")
        for o in run.outcomes:
            figure = f"{o.figure} = {o.value:.4g} {o.unit}"
            base = f"{o.baseline} = {o.baseline_value:.4g}"
            ratio = "n/a" if o.ratio is None or math.isnan(o.ratio) else f"{o.ratio:.3f}"
            lines.append(f"{title:<26}{o.target:<14}{figure:<44}{base:<34}{ratio:>9}  "
                         f"{o.goal_text():<34}{o.verdict()}"
                         + ("" if o.ok else " (check failed)"))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts")
    parser.add_argument("--targets", default=",".join(available_targets()),
                        help="comma-separated (default: every target that runs here)")
    parser.add_argument("--only", default=",".join(BENCHES),
                        help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--no-csv", action="store_true", help="append nothing to results files")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--pps-count", type=int, default=10_000,
                        help="frames per target_pps measurement")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    if "bmv2" not in available_targets() and "bmv2" in targets:
        print(f"note: bmv2 skipped: {bmv2_unavailable()}")
        targets.remove("bmv2")
    elif "bmv2" not in targets:
        print(f"note: bmv2 not measured ({bmv2_unavailable() or 'not asked for'}); "
              "embedded only")
    only = [b for b in args.only.split(",") if b]
    unknown = sorted(set(only) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {list(BENCHES)}")
    print(f"benchmarks {only} on {targets} ({describe_machine()})"
          f"{' [quick]' if args.quick else ''}")
    started = time.monotonic()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="nve-bench-all-") as tmp:
        for name in only:
            if name == "pps":
                runs.append(run_pps(args, targets))
                continue
            for target in targets:
                runs.append(run_bench(name, target, args, Path(tmp)))
    print(summary(runs, time.monotonic() - started))
    failed = [f"{r.name} on {r.target}" for r in runs if not r.outcomes]
    if failed:
        print(f"\nbenchmarks that did not run to the end: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
