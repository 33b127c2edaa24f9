"""Differential test: the embedded softswitch against bmv2 simple_switch_grpc, frame by frame.

Both targets run p4src/build/nve.json with the same entries written through P4Runtime
(``parity.scenario``). A seeded corpus of ``CORPUS_SIZE`` frames (``parity.corpus``) goes
through both; for every frame the multisets of (egress port, exact bytes, packet-in metadata)
must be equal, and so must every counter afterwards. bmv2 runs in a private network namespace
on veth pairs (root only; skipped otherwise). The figures are printed even without ``-s``.

    .venv/bin/pytest tests/test_parity_bmv2.py -s
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
from parity import scenario as S
from parity.corpus import Frame, build_corpus
from parity.lab import Lab, bmv2_lab, unavailable_reason
from parity.p4rt import counter_snapshot, programmed_client
from parity.report import Comparison, compare, counter_differences, failure_report
from parity.runners import Bmv2Runner, EmbeddedRunner, Output

from controlplane.p4rt.entries import CounterValue
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

SEED = 20240611
CORPUS_SIZE = 10_000
MAX_RERUNS = 50
"""Disagreements confirmed by re-sending the frame alone; further ones count as found."""

Counters = dict[str, CounterValue]

pytestmark = pytest.mark.skipif(unavailable_reason() is not None,
                                reason=unavailable_reason() or "")


@contextlib.asynccontextmanager
async def embedded_runner() -> AsyncIterator[EmbeddedRunner]:
    """The softswitch in-process with the scenario written through P4Runtime."""
    ports = MemoryPorts(list(S.DATA_PORTS))
    switch = SoftSwitch(ports=ports, device_id=S.DEVICE_ID, cpu_port=S.CPU_PORT,
                        grpc_addr="127.0.0.1:0")
    async with switch, programmed_client(f"127.0.0.1:{switch.grpc_port}") as client:
        yield EmbeddedRunner(switch, ports, client)


async def run_embedded(corpus: Sequence[Frame]) -> tuple[list[list[Output]], Counters]:
    """The embedded switch's outputs per frame and its counters afterwards."""
    async with embedded_runner() as embedded:
        reference = await embedded.run(corpus)
        return reference, await counter_snapshot(embedded.client)


async def run_bmv2(lab: Lab, corpus: Sequence[Frame],
                   reference: Sequence[Sequence[Output]]) -> tuple[Comparison, Counters]:
    """bmv2's outputs compared with ``reference`` (the first disagreeing frames re-sent alone
    to confirm) and its counters after the corpus (before any re-send)."""
    async with programmed_client(lab.bmv2.grpc_addr) as client, \
            Bmv2Runner(lab, client) as runner:
        await runner.run(corpus, reference)
        counters = await counter_snapshot(client)
        result = compare(corpus, reference, runner.outputs)
        for mismatch in result.mismatches[:MAX_RERUNS]:
            await runner.rerun(mismatch.seq, mismatch.frame)
        return compare(corpus, reference, runner.outputs), counters


async def test_embedded_matches_bmv2_frame_by_frame(capsys: pytest.CaptureFixture[str]) -> None:
    """Every frame of the corpus leaves both targets identically; counters agree afterwards."""
    corpus = build_corpus(SEED, CORPUS_SIZE)
    reference, embedded_counters = await run_embedded(corpus)
    with bmv2_lab(S.DATA_PORTS, S.CPU_PORT, S.DEVICE_ID) as lab:
        result, bmv2_counters = await run_bmv2(lab, corpus, reference)
    counter_diffs = counter_differences(embedded_counters, bmv2_counters)
    with capsys.disabled():
        print(f"\n{result.summary()}\ncounters: {len(embedded_counters)} non-zero cells on the "
              f"embedded switch, {len(bmv2_counters)} on bmv2, {len(counter_diffs)} differing")
    if not result.ok or counter_diffs:
        pytest.fail(failure_report(result, counter_diffs), pytrace=False)
