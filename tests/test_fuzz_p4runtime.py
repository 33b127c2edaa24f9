"""Bounded fuzzing of the embedded target's P4Runtime server (tools/fuzz.py, "p4runtime").

WriteRequests are built from the NVE P4Info and mutated the way a P4Runtime fuzzer does:
unknown table/field/action/param ids, missing or duplicate match fields, wrong value widths and
match kinds, ternary/LPM encodings that must be omitted, wrong priorities, duplicate inserts,
deletes and modifies of missing entries, batches rolled back, wrong role, device or election id;
plus random reads, pipeline requests with junk configs and unknown enum values, and second
controllers on the stream. A shadow copy of the tables predicts every update's status; the
tables read back must equal it; at the end a controller takes the switch over and must converge
it exactly to its own state. `make fuzz` runs 100,000 inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
import fuzzing


def test_fuzz_p4runtime_server() -> None:
    stats = fuzzing.run("p4runtime", 9000)
    assert stats.outcomes["ok"] > 0 and stats.outcomes["batch rolled back"] > 0
    assert "controller take-over" in stats.note
