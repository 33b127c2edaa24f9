"""The machine a figure was measured on, and the results file every script appends a row to.

Every benchmark ends with one `Outcome`: its headline figure, the baseline measured in the same
run on the same target, their ratio, and the goal. `emit` prints it, appends it as one row to
benchmarks/bench_results.csv (with the machine description: date, uname -m, CPU model, nproc,
target) and, for run_all.py, writes it as JSON to --json-out.

(benchmarks/target_pps.py keeps its own wide rows in benchmarks/results.csv; run_all.py copies
its ratios into this file too, so one file holds every ratio.)
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
RESULTS = BENCH_DIR / "bench_results.csv"
FIELDS = ("date", "machine", "cpu", "nproc", "target", "bench", "figure", "value", "unit",
          "baseline", "baseline_value", "ratio_of", "ratio", "goal", "meets", "quick", "raw")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """date (UTC), uname -m, CPU model, nproc."""
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": platform.machine(), "cpu": cpu_model(), "nproc": str(os.cpu_count())}


def describe_machine() -> str:
    """'x86_64, AMD EPYC, 2 cores'."""
    m = machine()
    return f"{m['machine']}, {m['cpu']}, {m['nproc']} cores"


@dataclass
class Outcome:
    """One benchmark's result on one target.

    `ratio` = `value` / `baseline_value` unless the script sets it otherwise; `goal` is checked
    against the ratio with `goal_op` ('<=' or '>='), or against `value` when `goal_on` is
    'value' (a goal stated in absolute units, such as the migration's 50 ms).
    """

    bench: str
    target: str
    figure: str                    # what `value` is, e.g. "associate p99"
    value: float
    unit: str
    baseline: str                  # what `baseline_value` is, e.g. "raw Write RTT p50"
    baseline_value: float
    goal_op: str                   # "<=" or ">="
    goal: float
    ratio: float | None = None
    goal_on: str = "ratio"         # "ratio" or "value"
    ratio_of: str = ""             # what the ratio is, when not value / baseline_value
    ok: bool = True                # a functional check the figure depends on passed
    quick: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.ratio is None:
            self.ratio = (self.value / self.baseline_value
                          if self.baseline_value and not math.isnan(self.baseline_value) else
                          math.nan)

    @property
    def checked(self) -> float:
        """The number the goal applies to."""
        return self.value if self.goal_on == "value" else float(self.ratio or math.nan)

    @property
    def meets(self) -> bool | None:
        """Whether the goal is met (None when the figure could not be measured)."""
        if not self.ok:
            return False
        if math.isnan(self.checked):
            return None
        return self.checked <= self.goal if self.goal_op == "<=" else self.checked >= self.goal

    def goal_text(self) -> str:
        """'ratio <= 3' or 'value <= 50 ms'."""
        if self.goal_on == "value":
            return f"{self.figure} {self.goal_op} {self.goal:g} {self.unit}"
        return f"ratio {self.goal_op} {self.goal:g}"

    def verdict(self) -> str:
        """'meets' / 'MISSES' / 'n/a'."""
        return {True: "meets", False: "MISSES", None: "n/a"}[self.meets]

    def ratio_text(self) -> str:
        """'ratio = 12.345' or 'loss window / switch-over RPC = 0.5'."""
        return f"{self.ratio_of or 'ratio'} = {self.ratio:.3f}"

    def line(self) -> str:
        """The closing line a script prints."""
        return (f"[{self.bench} on {self.target}] {self.figure} = {self.value:.4g} {self.unit}; "
                f"{self.baseline} = {self.baseline_value:.4g}; {self.ratio_text()}; "
                f"goal {self.goal_text()}: {self.verdict()}"
                + ("" if self.ok else " (functional check FAILED)"))

    def to_json(self) -> dict[str, Any]:
        """Everything, for run_all.py."""
        data = asdict(self)
        data["meets"] = self.meets
        data["goal_text"] = self.goal_text()
        return data


def append_row(outcome: Outcome, path: Path = RESULTS) -> Path:
    """Append `outcome` with the machine description to `path` (header when new). A file with
    another header is left alone and the row goes to a file beside it."""
    header = ",".join(FIELDS)
    if path.exists() and path.stat().st_size:
        with path.open() as existing:
            if existing.readline().strip() != header:
                path = path.with_name(path.stem + "_v2" + path.suffix)
                return append_row(outcome, path)
    new = not path.exists() or path.stat().st_size == 0
    row = {**machine(), "target": outcome.target, "bench": outcome.bench,
           "figure": outcome.figure, "value": f"{outcome.value:.6g}", "unit": outcome.unit,
           "baseline": outcome.baseline, "baseline_value": f"{outcome.baseline_value:.6g}",
           "ratio_of": outcome.ratio_of or f"{outcome.figure} / {outcome.baseline}",
           "ratio": f"{outcome.ratio:.4f}", "goal": outcome.goal_text(),
           "meets": {True: "yes", False: "no", None: ""}[outcome.meets],
           "quick": "yes" if outcome.quick else "",
           "raw": json.dumps(outcome.raw, sort_keys=True, default=str)}
    with path.open("a", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    return path


def emit(outcome: Outcome, *, csv_path: Path | None, json_out: Path | None) -> None:
    """Print the outcome, append it to the results file (unless `csv_path` is None) and write
    it as JSON for run_all.py (when `json_out` is given)."""
    for note in outcome.notes:
        print(f"note: {note}")
    print(outcome.line(), flush=True)
    if csv_path is not None:
        written = append_row(outcome, csv_path)
        print(f"appended to {written}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(outcome.to_json(), indent=1, default=str))
