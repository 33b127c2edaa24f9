"""Migration loss window in the lab at 1 kpps, repeated: min / median / max.

The bmv2_lab (namespaces when root allows, else its loopback variant; TARGET bmv2 needs
namespaces) with its controller (`nvectl serve`). VMs a and b are associated; then VM a migrates
between hv1 (nve1) and hv2 (nve2), back and forth, each time under a 1,000 packets/s probe from
VM b, signalled by the hypervisors as in `make demo` (Immigration(Pre-Asso), Immigration(Asso)
= the switch-over, Emigration, Termination). Loss window = the longest run of lost probe
packets x 1 ms. Goal: <= 50 ms, every time (judged on the max).

Baseline in the same run: the switch-over RPC (Immigration(Asso), from request to answer); the
ratio loss window / switch-over RPC tells how much of the switch-over the VM is dark.

    .venv/bin/python benchmarks/bench_migration.py [--target embedded|bmv2] [--repeat 10]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lib import cli, stats
from benchmarks.lib.results import Outcome
from bmv2_lab import lab as lab_mod
from bmv2_lab import netns, spec
from bmv2_lab.agent import Agent
from bmv2_lab.migration import migrate_with_probe

GOAL_MS = 50.0
RATE = 1000
HOMES = ("hv2", "hv1")          # VM a goes to hv2 (nve2), then back to hv1 (nve1), ...


async def migrations(lab: lab_mod.Lab, repeat: int, duration: float
                     ) -> list[tuple[float, float, int, str]]:
    """(loss window ms, switch-over RPC ms, packets lost, direction) of each migration."""
    for vm in ("a", "b"):
        async with Agent(lab, spec.vm(vm).hv) as agent:
            answer = await agent.associate(vm)
            if not answer.success:
                raise RuntimeError(f"associate {vm}: {answer}")
    if not lab.hosts.ping("b", spec.vm("a").ip).ok:
        raise RuntimeError("b cannot reach a before the first migration")
    results = []
    for i in range(repeat):
        target = HOMES[i % 2]
        source = str(lab.state.attachments["a"]["hv"])
        started = time.monotonic()
        migration = await migrate_with_probe(lab, target=target, rate=RATE, duration=duration,
                                             lead=0.5)
        if not migration.ok:
            raise RuntimeError(f"migration {i + 1} failed: {migration.steps}")
        switch_over = next(s for s in migration.steps if "switch-over" in s.label)
        window = migration.result.loss_window_ms
        rpc = (switch_over.answered - switch_over.sent) * 1000
        direction = f"{spec.hypervisor(source).nve}->{spec.hypervisor(target).nve}"
        lost = migration.result.lost
        stray = lost - migration.result.longest_gap()[1]
        results.append((window, rpc, lost, direction))
        print(f"migration {i + 1:2d} {direction}: loss window {window:5.1f} ms "
              f"({lost} lost of {migration.result.sent}"
              f"{f', {stray} of them outside the window' if stray else ''}); switch-over RPC "
              f"{rpc:5.1f} ms ({time.monotonic() - started:.1f} s)", flush=True)
    return results


def measure(args) -> Outcome:
    repeat = 1 if args.quick else args.repeat
    why_not = netns.available()
    mode = "netns" if why_not is None else "loopback"
    if args.target == "bmv2" and why_not:
        raise SystemExit(f"note: target bmv2 needs the namespace lab: {why_not}")
    notes = [] if why_not is None else [f"loopback lab ({why_not})"]
    with tempfile.TemporaryDirectory(prefix="nve-bench-lab-") as tmp:
        run_dir = Path(tmp) / "lab"
        name = f"nvebm{os.getpid() % 100000}"
        try:
            lab = lab_mod.up(name=name, run_dir=run_dir, mode=mode, target=args.target,
                             progress=lambda _m: None)
            results = asyncio.run(migrations(lab, repeat, 1.5 if args.quick else 2.0))
        finally:
            lab_mod.down(name=name, run_dir=run_dir, progress=lambda _m: None)
    windows = [r[0] for r in results]
    rpcs = [r[1] for r in results]
    median = stats.median(windows)
    print(f"loss window over {repeat} migrations at {RATE} pps ({mode} lab): min {min(windows):.0f}"
          f" ms, median {median:.0f} ms, max {max(windows):.0f} ms; switch-over RPC median "
          f"{stats.median(rpcs):.1f} ms")
    return Outcome(
        bench="migration", target=args.target, figure="max loss window", value=max(windows),
        unit="ms", baseline="switch-over RPC median (ms)", baseline_value=stats.median(rpcs),
        ratio=median / stats.median(rpcs), ratio_of="median loss window / switch-over RPC",
        goal_op="<=", goal=GOAL_MS, goal_on="value",
        raw={"mode": mode, "repeat": repeat, "rate": RATE, "min_ms": min(windows),
             "median_ms": median, "max_ms": max(windows), "windows_ms": windows,
             "switch_over_rpc_ms": rpcs, "lost": [r[2] for r in results],
             "directions": [r[3] for r in results]},
        notes=notes)


def main() -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="migrations (default 10)")
    args = parser.parse_args()
    cli.start(args, "migration loss window")
    return cli.finish(args, measure(args))


if __name__ == "__main__":
    sys.exit(main())
