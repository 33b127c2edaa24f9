"""Bounded fuzzing of the signalling gRPC API (tools/fuzz.py, surface "signalling").

A real controller with two embedded switches gets hypothesis-generated requests over gRPC:
random and extreme field values, huge address lists, invalid MACs/VIDs/VNIs/UUIDs, unknown
identities, undecodable bytes, operator RPCs, and the client's decoder gets answers with unknown
enum values. Every answer must be a clear FAIL or a correct SUCCESS (checked against an
independent reading of the request and the controller's records), nothing may crash or hang,
and every 200 inputs the switch tables must equal the controller's state. `make fuzz` runs
100,000 inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
import fuzzing


def test_fuzz_signalling_grpc_api() -> None:
    stats = fuzzing.run("signalling", 6000)
    assert stats.outcomes["SUCCESS"] > 0 and stats.outcomes["INVALID_REQUEST"] > 0
