"""Differential check against the real bmv2 simple_switch (skipped when it is not installed).

The same few hundred generated frames (well-formed and malformed) go through simple_switch
(pcap files, private network namespace) and through the engine; per-port outputs must be
byte-identical.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "engine"
sys.path.insert(0, str(DATA))
import diffrun  # noqa: E402

DIFF1 = DATA / "diff1.json"


def _skip_reason() -> str | None:
    if diffrun.simple_switch() is None:
        return "bmv2 simple_switch is not installed (expected in /opt/p4-toolchain/bin)"
    if not DIFF1.exists():
        return "tests/data/engine/diff1.json missing (compile diff1.p4 with p4c-bm2-ss)"
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "needs root and unshare(1) to run simple_switch in a private network namespace"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_engine_matches_simple_switch_on_generated_packets():
    problems = diffrun.compare(DIFF1, n=300, seed=1)
    assert not problems, "\n".join(problems)


def test_packet_generator_is_deterministic():
    assert diffrun.gen_packets(20, seed=3) == diffrun.gen_packets(20, seed=3)
    assert len(diffrun.gen_packets(50)) == 50


NVE = Path(__file__).parent.parent / "p4src" / "build" / "nve.json"


@pytest.mark.skipif(_skip_reason() is not None or not NVE.exists(),
                    reason=_skip_reason() or "p4src/build/nve.json not built")
def test_engine_matches_simple_switch_on_the_nve_program():
    """The team's program with a full configuration (value set, VAPs, ACL, FDB, underlay route,
    VTEP, flood group + replicas, punt): access, VXLAN, packet-out and junk frames."""
    import nve_scenario

    pkts = nve_scenario.gen_packets(300, seed=1)
    a = diffrun.run_bmv2(NVE, pkts, nve_scenario.CLI)
    b = diffrun.run_engine(NVE, pkts, nve_scenario.GROUPS, nve_scenario.setup)
    assert sum(len(v) for v in a.values()) > 100  # the configuration really forwards traffic
    problems = diffrun.diff_outputs(a, b)
    assert not problems, "\n".join(problems)
