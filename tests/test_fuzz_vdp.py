"""Bounded fuzzing of the VDP/ECP/LLDP codec and the EVB bridge port (tools/fuzz.py, "vdp").

Valid LLDP (with the EVB TLV) and ECP/VDP frames, the same mutated (bytes changed, inserted,
removed, truncated), random frames and random bytes go into the bridge port of
controlplane.signalling.vdp as a station would send them. Only VdpCodecError (or a VdpRefusal
when a VSI TLV becomes a request) may come out; what the port sends back must decode; what
decodes must encode back to the same value. `make fuzz` runs 100,000 inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
import fuzzing


def test_fuzz_vdp_codec_and_port() -> None:
    stats = fuzzing.run("vdp", 12000)
    assert stats.outcomes["frame refused"] > 0 and stats.outcomes["lldp"] > 0
