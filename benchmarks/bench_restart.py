"""Restart reconciliation: a controller restart with >= 10,000 entries installed.

The controller's database holds N VMs x 2 MACs in 16 VNs on two NVEs (default 1,536 VMs:
about 12,000 table entries on the two switches). The pipeline is pushed beforehand, so both
kinds of start below differ only in what the switches hold:

* initial programming (the baseline): the controller starts against empty switches and writes
  everything (start -> serving, switches reconciled);
* restart: the controller starts again with everything installed: it reads both switches back,
  computes the desired state and must write nothing.

Ratio = restart / initial programming (medians); goal <= 0.5. Then one entry is deleted behind
the controller's back and a restart must write exactly that one.

    .venv/bin/python benchmarks/bench_restart.py [--target embedded|bmv2] [--vms 1536]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lib import cli, nve, stats
from benchmarks.lib.results import Outcome
from benchmarks.lib.targets import fabric
from controlplane.p4rt import p4names as P
from controlplane.p4rt.entries import Update, WriteOp

GOAL = 0.5
VNS = 16


async def timed_start(cfg) -> tuple[float, int, int]:
    """(seconds from start to reconciled and serving, updates written, entries installed)."""
    started = time.perf_counter()
    async with nve.running_controller(cfg) as ctl:
        seconds = time.perf_counter() - started
        assert ctl.service is not None
        installed = sum(len(a.installed) for a in ctl.service.agents.values())
        return seconds, nve.total_updates(ctl), installed


async def measure(args) -> Outcome:
    count = 96 if args.quick else args.vms
    rounds = 1 if args.quick else 3
    with tempfile.TemporaryDirectory(prefix="nve-bench-") as tmp, \
            fabric(args.target) as switches:
        db = Path(tmp) / "nve.db"
        cfg = nve.controller_config(switches, vns=VNS, database=db)
        nve.seed_store(db, nve.plan_vms(count, nves=2, vns=VNS, macs=2))
        initial: list[float] = []
        restarts: list[float] = []
        restart_writes: list[int] = []
        installed = 0
        with cli.Profiler(args.profile):
            for _ in range(rounds):
                for switch in switches.values():          # empty, pipeline in place
                    async with nve.raw_client(switch) as raw:
                        await nve.wipe(raw, switch)
                seconds, written, installed = await timed_start(cfg)
                initial.append(seconds)
                print(f"initial programming: {seconds:.2f} s, {written} updates "
                      f"({installed} entries and groups)", flush=True)
                for _ in range(2):
                    seconds, written, _ = await timed_start(cfg)
                    restarts.append(seconds)
                    restart_writes.append(written)
                    print(f"restart:             {seconds:.2f} s, {written} updates", flush=True)
        # One entry gone behind the controller's back: exactly one write.
        switch = switches["nve1"]
        async with nve.raw_client(switch) as raw:
            victim = next(e for e in await raw.read_table_entries(P.VAP_SRC_MAC))
            await raw.write([Update(WriteOp.DELETE, victim)])
        await asyncio.sleep(0.01)
        _, repaired, _ = await timed_start(cfg)
        print(f"restart after one entry was deleted behind its back: {repaired} updates")
    ratio = stats.median(restarts) / stats.median(initial)
    ok = all(w == 0 for w in restart_writes) and repaired == 1 and installed >= (
        500 if args.quick else 10_000)
    return Outcome(
        bench="restart", target=args.target, figure="restart reconcile",
        value=stats.median(restarts), unit="s", baseline="initial programming (s)",
        baseline_value=stats.median(initial), ratio=ratio, goal_op="<=", goal=GOAL, ok=ok,
        raw={"vms": count, "entries": installed, "initial_s": initial, "restart_s": restarts,
             "restart_writes": restart_writes, "repair_writes": repaired},
        notes=[(f"{installed} entries and groups installed; restarts wrote {restart_writes} "
                f"(must be 0); after one deletion: {repaired} (must be 1)")])


def main() -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--vms", type=int, default=1536,
                        help="VMs x 2 MACs (default 1536: about 12,000 entries)")
    args = parser.parse_args()
    cli.start(args, "restart reconciliation")
    return cli.finish(args, asyncio.run(measure(args)))


if __name__ == "__main__":
    sys.exit(main())
