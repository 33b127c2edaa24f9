"""Scale: 4,096 VMs x 2 MACs in 64 VNs on two NVEs.

1. Fit: each NVE must hold its local VMs (VAP, source MACs, local FDB, flood replicas) and the
   remote FDB entries of every VN it serves; the per-table counts of the desired state are
   checked against the table sizes in the P4Info (what the controller refuses by), and on
   bmv2 the flood replicas against its replication engine's 4,096 nodes (which the P4Info
   does not tell).
2. Programming: the VMs' records are written to the controller's database (as a controller that
   had signalled them would have), then the controller starts against two empty switches and
   programs everything; total time = database + programming. A few VMs are also signalled at
   full scale, one by one, and the total for signalling every VM that way is projected from
   their latency (an upper bound: a request's cost hardly grows with the number of VMs).
3. Forwarding: a sample of VMs (every 16th) sends a frame to a VM of its VN on the other NVE:
   it must leave as VXLAN with the VN's VNI toward the peer's VTEP, and, carried across, reach
   the peer's access port with the peer's VID.
4. Memory: the controller is started once more (nothing to write) under tracemalloc; memory per
   VM = (its traced memory - an empty controller's) / VMs. Goal <= 4 KiB.

Baseline in the same run: the same entries written raw (emptied switch, base entries back, then
1,000 updates per WriteRequest); ratio = controller programming time / raw write time.

    .venv/bin/python benchmarks/bench_scale.py [--target embedded|bmv2] [--vms 4096]
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.lib import cli, nve, stats
from benchmarks.lib.results import Outcome
from benchmarks.lib.targets import NETWORK_PORT, Switch, fabric
from controlplane.app import table_capacities
from controlplane.artifacts import P4INFO
from controlplane.intent import desired_state
from controlplane.lifecycle import Event
from controlplane.store.mapping import InProcessMapping

GOAL_KIB = 4.0
SAMPLE_EVERY = 16
SIGNALLED = 20
FRAME_TIMEOUT = 2.0


def fit(cfg, vms: list[nve.Vm], target: str) -> tuple[bool, dict[str, dict[str, int]]]:
    """Per-table entries each NVE needs for `vms`, and whether every table fits."""
    now = time.time()
    vap: dict[str, int] = {}
    records = []
    for vm in vms:
        vap[vm.switch] = vap.get(vm.switch, 0) + 1
        records.append(vm.record(vap[vm.switch], now))
    mapping = InProcessMapping({sw.name: sw.vtep_ip for sw in cfg.switches})
    locations = mapping.locations(records)
    counts = {sw.name: nve.table_counts(desired_state(cfg, sw, records, locations))
              for sw in cfg.switches}
    capacities = table_capacities(P4INFO)
    if target == "bmv2":
        capacities["multicast_replicas"] = nve.BMV2_PRE_NODES
    tables = sorted({t for c in counts.values() for t in c})
    ok = True
    print(f"{'table':<20}" + "".join(f"{name:>10}" for name in counts) + f"{'capacity':>10}")
    for table in tables:
        cap = capacities.get(table)
        row = [counts[name].get(table, 0) for name in counts]
        ok &= cap is None or max(row) <= cap
        print(f"{table:<20}" + "".join(f"{n:>10}" for n in row) + f"{cap if cap else '-':>10}"
              + ("" if cap is None or max(row) <= cap else "  DOES NOT FIT"))
    return ok, counts


class Probe:
    """Frames through the fabric, one at a time, with a watch on every port that matters."""

    def __init__(self, switches: dict[str, Switch]) -> None:
        self.switches = switches
        self.watches = {(name, port): nve.FrameWatch(sw, port)
                        for name, sw in switches.items() for port in sw.sockets}

    async def send(self, switch: str, port: int, frame: bytes, out: tuple[str, int],
                   match) -> bytes | None:
        """Put `frame` into (switch, port); the first frame out of `out` that `match`es."""
        watch = self.watches[out]
        watch.take()
        self.switches[switch].send(port, frame)
        deadline = time.perf_counter() + FRAME_TIMEOUT
        while time.perf_counter() < deadline:
            await watch.wait(deadline - time.perf_counter())
            for _, got in watch.take():
                if match(got):
                    return got
        return None

    def close(self) -> None:
        for watch in self.watches.values():
            watch.close()


async def forwarding(switches: dict[str, Switch], vms: list[nve.Vm]) -> tuple[int, int, list[str]]:
    """(VMs sampled, VMs that forward end to end, what failed)."""
    peers: dict[tuple[int, int], nve.Vm] = {}
    for vm in vms:
        peers.setdefault((vm.nve, vm.vn), vm)
    sample = vms[::SAMPLE_EVERY]
    probe = Probe(switches)
    failures: list[str] = []
    vteps = {1: "10.0.1.1", 2: "10.0.2.1"}
    try:
        for vm in sample:
            peer = peers.get((3 - vm.nve, vm.vn))
            if peer is None:
                failures.append(f"VM {vm.index}: no peer in VN {vm.vn} on the other NVE")
                continue
            mac = vm.macs[vm.index % len(vm.macs)]
            frame = nve.vm_frame(mac, peer.macs[0], vm.vid, vm.index)

            def is_ours(out: bytes, mac: int = mac) -> bool:
                vx = nve.parse_vxlan(out)
                return vx is not None and vx.inner_src == mac

            vxlan = await probe.send(vm.switch, vm.port, frame, (vm.switch, NETWORK_PORT), is_ours)
            if vxlan is None:
                failures.append(f"VM {vm.index} ({vm.switch}): no VXLAN frame")
                continue
            vx = nve.parse_vxlan(vxlan)
            assert vx is not None
            if vx.vni != vm.vni or vx.dst_ip != vteps[peer.nve]:
                failures.append(f"VM {vm.index}: VXLAN VNI {vx.vni} to {vx.dst_ip}, expected "
                                f"{vm.vni} to {vteps[peer.nve]}")
                continue

            def delivered(out: bytes, mac: int = mac) -> bool:
                return out[6:12] == mac.to_bytes(6, "big")

            out = await probe.send(peer.switch, NETWORK_PORT, vxlan, (peer.switch, peer.port),
                                   delivered)
            if out is None or nve.inner_vid(out) != peer.vid:
                failures.append(f"VM {vm.index} -> VM {peer.index}: not delivered on "
                                f"{peer.switch} port {peer.port} with VID {peer.vid}")
    finally:
        probe.close()
    return len(sample), len(sample) - len(failures), failures


async def traced_controller(cfg) -> tuple[int, float, int, list]:
    """(traced bytes the controller holds once up, seconds to start, updates written, top
    allocation sites) of a controller started under tracemalloc."""
    gc.collect()
    tracemalloc.start(1)
    try:
        before = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        async with nve.running_controller(cfg) as ctl:
            seconds = time.perf_counter() - started
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
            top = tracemalloc.take_snapshot().statistics("lineno")[:10]
            updates = nve.total_updates(ctl)
    finally:
        tracemalloc.stop()
    return held, seconds, updates, top


async def measure(args) -> Outcome:
    count = 128 if args.quick else args.vms
    vns = 8 if args.quick else args.vns
    with tempfile.TemporaryDirectory(prefix="nve-bench-") as tmp, \
            fabric(args.target) as switches:
        db = Path(tmp) / "nve.db"
        cfg = nve.controller_config(switches, vns=vns, database=db)
        vms = nve.plan_vms(count, nves=2, vns=vns, macs=2)
        print(f"{count} VMs x 2 MACs in {vns} VNs on 2 NVEs; entries each NVE needs:")
        fits, counts = fit(cfg, vms, args.target)
        if not fits:
            raise SystemExit("the desired state does not fit the tables")

        empty_cfg = nve.controller_config(switches, vns=vns, database=Path(tmp) / "empty.db")
        empty_bytes, _, _, _ = await traced_controller(empty_cfg)

        seed_s = nve.seed_store(db, vms)
        rss_before = nve.rss_bytes()
        with cli.Profiler(args.profile):
            started = time.perf_counter()
            async with nve.running_controller(cfg) as ctl:
                program_s = time.perf_counter() - started
                assert ctl.service is not None
                written = nve.total_updates(ctl)
                rss_after = nve.rss_bytes()
                wanted = {name: ctl.service.desired(name) for name in ctl.service.agents}
                base = {name: ctl.service.desired(name, {}) for name in ctl.service.agents}
                read_back = {name: len(await agent.client.read_table_entries())
                             for name, agent in ctl.service.agents.items()}
                sampled, forwarded, failures = await forwarding(switches, vms)
                # A few VMs signalled at full scale (VID chosen by the controller).
                extra = [dataclasses.replace(vm, vid=0) for vm in
                         nve.plan_vms(SIGNALLED, nves=2, vns=vns, macs=2, first=1 << 20)]
                signalled = []
                clients = {vm.hv: nve.client(ctl, vm.hv) for vm in extra}
                try:
                    for vm in extra:
                        t = time.perf_counter()
                        answer = await clients[vm.hv].signal(vm.request())
                        signalled.append(time.perf_counter() - t)
                        assert answer.success, answer
                        assert (await clients[vm.hv].signal(vm.ref(Event.TERMINATE))).success
                finally:
                    for c in clients.values():
                        await c.__aexit__(None, None, None)
        full_bytes, restart_s, restart_writes, top = await traced_controller(cfg)
        raw_s = 0.0
        raw_updates = 0
        for name, switch in switches.items():
            seconds, updates, _ = await nve.raw_batched_write(
                switch, nve.split_desired(wanted[name], base[name]),
                preload=base[name].entries | base[name].groups)
            raw_s += seconds
            raw_updates += updates
    desired_total = sum(sum(v for k, v in c.items() if k not in nve.NOT_TABLES)
                        for c in counts.values())
    per_vm = (full_bytes - empty_bytes) / count
    total_s = seed_s + program_s
    per_request = stats.median(signalled)
    projected = count * per_request
    print(f"database: {count} records in {seed_s:.2f} s; controller start and programming: "
          f"{program_s:.2f} s ({written} updates; {desired_total} table entries desired, "
          f"{sum(read_back.values())} read back); total {total_s:.2f} s")
    print(f"raw batched writes of the same {raw_updates} updates: {raw_s:.2f} s "
          f"({raw_updates / raw_s:.0f} updates/s); controller programming / raw = "
          f"{program_s / raw_s:.2f}")
    print(f"forwarding: {forwarded} of {sampled} sampled VMs (every {SAMPLE_EVERY}th) reach their "
          f"peer across VXLAN" + (f"; failures: {failures[:5]}" if failures else ""))
    print(f"signalled at {count} VMs: Associate p50 {stats.ms(per_request)} (n={len(signalled)});"
          f" projected one-by-one signalled total for {count} VMs <= {projected:.0f} s")
    print(f"memory: controller with {count} VMs holds {full_bytes / 1024:.0f} KiB traced, an "
          f"empty one {empty_bytes / 1024:.0f} KiB -> {per_vm / 1024:.2f} KiB per VM "
          f"(RSS grew {(rss_after - rss_before) / 1024 / count:.2f} KiB per VM during "
          f"programming); restart under tracemalloc: {restart_s:.1f} s, {restart_writes} writes")
    print("largest allocation sites held by the controller with every VM (tracemalloc):")
    for stat in top[:8]:
        frame = stat.traceback[0]
        print(f"  {stat.size / 1024:9.0f} KiB {stat.count:8d} blocks  "
              f"{Path(frame.filename).name}:{frame.lineno}")
    read_ok = all(read_back[name] >= sum(v for k, v in counts[name].items()
                                         if k not in nve.NOT_TABLES) for name in counts)
    return Outcome(
        bench="scale", target=args.target, figure="controller memory per VM",
        value=per_vm / 1024, unit="KiB", baseline="raw batched programming (s)",
        baseline_value=raw_s, ratio=program_s / raw_s,
        ratio_of="controller programming / raw batched writes", goal_op="<=", goal=GOAL_KIB,
        goal_on="value", ok=forwarded == sampled and read_ok and restart_writes == 0,
        raw={"vms": count, "macs": 2, "vns": vns, "seed_s": seed_s, "program_s": program_s,
             "total_s": total_s, "updates": written, "raw_s": raw_s, "raw_updates": raw_updates,
             "sampled": sampled, "forwarded": forwarded, "read_back": read_back,
             "per_vm_bytes": per_vm, "empty_bytes": empty_bytes, "full_bytes": full_bytes,
             "rss_per_vm_bytes": (rss_after - rss_before) / count,
             "signalled_p50_ms": per_request * 1000, "projected_signalled_s": projected,
             "restart_traced_s": restart_s, "counts": counts},
        notes=[(f"total time {total_s:.1f} s (database {seed_s:.2f} s + programming "
                f"{program_s:.1f} s); every sampled VM forwards: {forwarded == sampled}")])


def main() -> int:
    parser = cli.parser(__doc__)
    parser.add_argument("--vms", type=int, default=4096, help="VMs (default 4096)")
    parser.add_argument("--vns", type=int, default=64, help="VNs (default 64)")
    args = parser.parse_args()
    cli.start(args, "scale")
    return cli.finish(args, asyncio.run(measure(args)))


if __name__ == "__main__":
    sys.exit(main())
