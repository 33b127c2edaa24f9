"""Lifecycle throughput: VMs associated per second through the controller by 8 concurrent agents.

Two switches on the target, the controller in this process, 8 hypervisor agents (4 per NVE, each
with its own gRPC channel, all in a second process: hypervisors are other hosts) associating N VMs
in 8 VNs as fast as answers come back: each agent sends its next Associate when the previous one
is answered. Figure: N / wall time.

Baseline, on the same switches in the same run: the very entries the controller ended up with
for those VMs (everything but the switch-base entries it holds with no VM), written raw after
the controller stopped: each switch emptied, its base entries put back, then the VM entries
written in dependency order, 1,000 updates per WriteRequest, through the controller's own
P4Runtime client; N / (seconds for nve1 + seconds for nve2). Ratio = controller / raw; goal >= 0.7.

Also printed, to show what bounds the figure: the rate at which the same agents get keep-alives
for those VMs answered - the same path (gRPC, service, group commit, SQLite) with no table write.

    .venv/bin/python benchmarks/bench_lifecycle_throughput.py [--target embedded|bmv2] [--vms 400]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lib import cli, nve
from benchmarks.lib.results import Outcome
from benchmarks.lib.targets import fabric
from controlplane.signalling.grpc_client import NveClient

GOAL = 0.7
AGENTS = 8
VNS = 8


async def agent(hv_client, vms: list[nve.Vm], outcomes: Counter, latencies: list[float],
                event: nve.Event) -> None:
    """One hypervisor: a request per VM (Associate, or `event`) one after the other."""
    for vm in vms:
        started = time.perf_counter()
        request = vm.request() if event is nve.Event.ASSOCIATE else vm.ref(event)
        answer = await hv_client.signal(request)
        latencies.append(time.perf_counter() - started)
        outcomes[f"{event.value}: " + ("success" if answer.success else str(answer.reason))] += 1


async def hypervisors(address: str, by_hv: dict[str, list[nve.Vm]]
                      ) -> tuple[dict[str, float], dict[str, int], list[float]]:
    """The agents, each with its own channel: associations, then keep-alives for the same VMs
    (the same path - gRPC, service, group commit, SQLite - with no table write: what bounds
    the figure). Seconds per run, outcomes, association latencies."""
    clients = {hv: NveClient(address, None, identity=hv) for hv in by_hv}
    outcomes: Counter = Counter()
    latencies: list[float] = []
    seconds = {}
    try:
        # Connection set-up is not lifecycle work: one refused request per channel first.
        stranger = nve.plan_vms(1, first=1 << 20)[0]
        await asyncio.gather(*(c.signal(stranger.ref(nve.Event.KEEPALIVE))
                               for c in clients.values()))
        for event, into in ((nve.Event.ASSOCIATE, latencies), (nve.Event.KEEPALIVE, [])):
            started = time.perf_counter()
            await asyncio.gather(*(agent(clients[hv], vms, outcomes, into, event)
                                   for hv, vms in by_hv.items()))
            seconds[event.value] = time.perf_counter() - started
    finally:
        for c in clients.values():
            await c.__aexit__(None, None, None)
    return seconds, dict(outcomes), latencies


def hypervisor_process(address: str, by_hv: dict[str, list[nve.Vm]]
                       ) -> tuple[dict[str, float], dict[str, int], list[float]]:
    """`hypervisors` in a process of its own, as hypervisors are hosts of their own: their
    gRPC work does not share the controller's interpreter."""
    return asyncio.run(hypervisors(address, by_hv))


async def measure(args) -> Outcome:
    count = 32 if args.quick else args.vms
    with tempfile.TemporaryDirectory(prefix="nve-bench-") as tmp, \
            fabric(args.target) as switches, \
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        # The agents' process starts before the controller's port is known: warm it up.
        await asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0)
        cfg = nve.controller_config(switches, vns=VNS, database=Path(tmp) / "nve.db")
        vms = nve.plan_vms(count, nves=2, vns=VNS)
        by_hv: dict[str, list[nve.Vm]] = {}
        for vm in vms:
            by_hv.setdefault(vm.hv, []).append(vm)
        assert len(by_hv) == AGENTS, sorted(by_hv)
        async with nve.running_controller(cfg) as ctl:
            assert ctl.service is not None
            updates_before = nve.total_updates(ctl)
            with cli.Profiler(args.profile):
                runs, outcomes, latencies = await asyncio.get_running_loop().run_in_executor(
                    pool, hypervisor_process, f"127.0.0.1:{ctl.port}", by_hv)
            ctl_updates = nve.total_updates(ctl) - updates_before
            wanted = {name: ctl.service.desired(name) for name in ctl.service.agents}
            base = {name: ctl.service.desired(name, {}) for name in ctl.service.agents}
        raw_seconds = 0.0
        raw_updates = raw_requests = 0
        for name, switch in switches.items():
            seconds, updates, requests = await nve.raw_batched_write(
                switch, nve.split_desired(wanted[name], base[name]),
                preload=base[name].entries | base[name].groups)
            print(f"raw batched writes to {name}: {updates} updates in {requests} WriteRequests, "
                  f"{seconds:.3f} s ({updates / seconds:.0f} updates/s)")
            raw_seconds += seconds
            raw_updates += updates
            raw_requests += requests
    for event in (nve.Event.ASSOCIATE, nve.Event.KEEPALIVE):
        if outcomes.get(f"{event.value}: success") != count:
            raise RuntimeError(f"not every {event.value} succeeded: {outcomes}")
    elapsed = runs[nve.Event.ASSOCIATE.value]
    keepalive_rate = count / runs[nve.Event.KEEPALIVE.value]
    ctl_rate = count / elapsed
    raw_rate = count / raw_seconds
    latencies.sort()
    print(f"controller: {count} VMs by {AGENTS} agents in {elapsed:.2f} s = {ctl_rate:.1f} VMs/s "
          f"({ctl_updates} updates written, {ctl_updates / elapsed:.0f} updates/s; "
          f"per-request p50 {latencies[len(latencies) // 2] * 1000:.1f} ms)")
    print(f"raw: the same {raw_updates} entries in {raw_seconds:.3f} s = {raw_rate:.1f} VMs/s")
    print(f"bound: the same agents' keep-alives (same path, no table write): "
          f"{keepalive_rate:.0f} requests/s; associations reach {ctl_rate / keepalive_rate:.2f} "
          f"of that")
    return Outcome(
        bench="lifecycle_throughput", target=args.target, figure="controller VMs/s",
        value=ctl_rate, unit="VMs/s", baseline="raw batched VMs/s", baseline_value=raw_rate,
        goal_op=">=", goal=GOAL,
        raw={"vms": count, "agents": AGENTS, "controller_s": elapsed,
             "controller_updates": ctl_updates, "raw_s": raw_seconds, "raw_updates": raw_updates,
             "raw_requests": raw_requests, "request_p50_ms": latencies[len(latencies) // 2] * 1000,
             "request_max_ms": latencies[-1] * 1000, "keepalive_per_s": keepalive_rate})


def main() -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--vms", type=int, default=400, help="VMs associated (default 400)")
    args = parser.parse_args()
    cli.start(args, "lifecycle throughput")
    return cli.finish(args, asyncio.run(measure(args)))


if __name__ == "__main__":
    sys.exit(main())
