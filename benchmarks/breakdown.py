"""Where the controller's time goes: run one benchmark script in this process with wall-clock
timers around the controller's phases (no profiler, so no profiler overhead), then print the
time per phase per mutation. What bounds a figure: gRPC round trips (client._send_batch,
client._read), Python per-entry work (desired, diff, encode, decode), SQLite (store.commit).

    .venv/bin/python benchmarks/breakdown.py bench_associate_latency.py --vms 300
    .venv/bin/python benchmarks/breakdown.py bench_restart.py --target bmv2

Timers wrap methods by name; one the controller no longer has is left out (and said so).
Phases nest (a mutation's apply contains its diff and Writes), so the rows do not add up.
"""

from __future__ import annotations

import collections
import functools
import inspect
import runpy
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from controlplane import switch_agent
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.schema import PipelineSchema
from controlplane.service import NveService
from controlplane.store.sqlite import VmStore
from controlplane.switch_agent import SwitchAgent

TOTALS: dict[str, float] = collections.defaultdict(float)
COUNTS: collections.Counter[str] = collections.Counter()
PHASES = [
    (NveService, "_commit", "service._commit (one mutation)"),
    (NveService, "desired", "service.desired (desired_state)"),
    (NveService, "_check_capacity", "service._check_capacity"),
    (SwitchAgent, "apply", "agent.apply (diff + encode + Writes)"),
    (SwitchAgent, "read_back", "agent.read_back (Reads + decode)"),
    (P4RuntimeClient, "_send_batch", "client._send_batch (one Write RTT)"),
    (P4RuntimeClient, "_encode_batch", "client._encode_batch"),
    (P4RuntimeClient, "_read", "client._read (one Read RPC)"),
    (P4RuntimeClient, "set_pipeline", "client.set_pipeline"),
    (PipelineSchema, "decode_table_entry", "schema.decode_table_entry"),
    (VmStore, "commit", "store.commit (SQLite)"),
]


def _timed(function, label: str):
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                TOTALS[label] += time.perf_counter() - started
                COUNTS[label] += 1
        return async_wrapper

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TOTALS[label] += time.perf_counter() - started
            COUNTS[label] += 1
    return wrapper


def install() -> None:
    """Wrap every phase the controller still has."""
    for owner, name, label in PHASES:
        if not hasattr(owner, name):
            print(f"note: {owner.__name__}.{name} not found: not timed")
            continue
        setattr(owner, name, _timed(getattr(owner, name), label))
    if hasattr(switch_agent, "diff"):
        switch_agent.diff = _timed(switch_agent.diff, "diff (desired vs installed)")


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    script = sys.argv[1]
    sys.argv = [script, *sys.argv[2:], "--no-csv"]
    install()
    try:
        runpy.run_path(str(HERE / script), run_name="__main__")
    except SystemExit:
        pass
    mutations = COUNTS["service._commit (one mutation)"]
    per = f"per mutation (n={mutations})" if mutations else "in all (no mutation)"
    print(f"\nwall time {per}:")
    for label, total in sorted(TOTALS.items(), key=lambda item: -item[1]):
        each = total / mutations * 1000 if mutations else total * 1000
        print(f"  {label:<40} {each:9.2f} ms   ({COUNTS[label]} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
