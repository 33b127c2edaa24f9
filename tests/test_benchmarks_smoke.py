"""The benchmark scripts run to the end (`--quick`, embedded target, nothing appended to the
results files). No timing is asserted: the figures of a smoke run mean nothing; what is checked
is that each script produces its outcome and that its functional checks (everything forwards,
a restart writes nothing) hold."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCRIPTS = {
    "associate_latency": "bench_associate_latency.py",
    "lifecycle_throughput": "bench_lifecycle_throughput.py",
    "scale": "bench_scale.py",
    "restart": "bench_restart.py",
    "migration": "bench_migration.py",
}
TIMEOUT = 120


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.parametrize("bench", list(SCRIPTS))
def test_quick_run_produces_its_outcome(bench: str, tmp_path: Path) -> None:
    out = tmp_path / "outcome.json"
    done = run(SCRIPTS[bench], "--quick", "--target", "embedded", "--no-csv",
               "--json-out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(out.read_text())
    assert outcome["bench"] == bench and outcome["target"] == "embedded"
    assert outcome["quick"] is True
    assert math.isfinite(outcome["value"]) and math.isfinite(outcome["baseline_value"])
    assert math.isfinite(outcome["ratio"]), outcome
    assert outcome["ok"], done.stdout                    # functional checks, not timing
    assert f"[{bench} on embedded]" in done.stdout and "goal" in done.stdout


def test_target_pps_runs_embedded_only() -> None:
    done = run("target_pps.py", "--count", "200", "--warmup", "20", "--no-bmv2", "--no-csv")
    assert done.returncode == 0, done.stdout + done.stderr
    from benchmarks.run_all import PPS_LINE

    paths = {PPS_LINE.match(line.strip())[1] for line in done.stdout.splitlines()
             if PPS_LINE.match(line.strip())}
    assert paths == {"encap", "decap"}


def test_results_row_carries_the_machine(tmp_path: Path) -> None:
    from benchmarks.lib.results import FIELDS, Outcome, append_row

    path = tmp_path / "results.csv"
    outcome = Outcome(bench="x", target="embedded", figure="f", value=6.0, unit="ms",
                      baseline="b", baseline_value=2.0, goal_op="<=", goal=3.0)
    assert outcome.ratio == 3.0 and outcome.meets is True
    append_row(outcome, path)
    append_row(outcome, path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and tuple(rows[0]) == FIELDS
    assert rows[0]["machine"] and rows[0]["cpu"] and rows[0]["nproc"] and rows[0]["date"]
    assert rows[0]["target"] == "embedded" and rows[0]["meets"] == "yes"


def test_run_all_reads_target_pps_and_prints_the_table() -> None:
    from benchmarks.lib.results import Outcome
    from benchmarks.run_all import PPS_LINE, PPS_RATIO, Run, summary

    assert PPS_LINE.match("encap  softswitch       13150 pps (300 frames in 0.02 s)")[3] == "13150"
    ratio = PPS_RATIO.match("decap: softswitch / bmv2 = 2.764 (meets the goal of 0.2)")
    assert ratio[1] == "decap" and ratio[2] == "2.764" and ratio[3] == "0.2"
    good = Outcome(bench="scale", target="embedded", figure="memory per VM", value=5.0,
                   unit="KiB", baseline="raw (s)", baseline_value=1.0, ratio=2.0,
                   goal_op="<=", goal=4.0, goal_on="value")
    table = summary([Run("scale", "embedded", 1.0, [good]),
                     Run("restart", "bmv2", 1.0, [], "exit 1: boom")], 2.0)
    assert "MISSES" in table and "FAILED: exit 1: boom" in table
