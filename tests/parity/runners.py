"""Per-frame outputs of each target.

The embedded switch runs first, one frame at a time: inject, wait until the datapath is idle,
take what the memory ports sent, then re-arbitrate as a barrier on the P4Runtime stream, after
which every packet-in of the frame has arrived. That attribution is exact; it is the reference.

bmv2 then gets the same frames in lockstep: after sending frame i the runner waits until as
many outputs as the reference predicts are attributed to i (or a timeout). Outputs are
attributed by the id trailer in their tail (``corpus.frame_id``). A frame whose reference
outputs do not all carry its id (a truncated frame, say) is "anonymous": outputs without an id
go to the latest anonymous frame, which is followed by a quiet period. A disagreement found
this way is confirmed by ``rerun``: the frame alone, with long quiet periods around it.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple, Self

from controlplane.p4rt import p4names as P
from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.stream import PacketIn
from parity import scenario as S
from parity.corpus import Frame, frame_id, wire_deliverable
from parity.lab import Lab
from parity.p4rt import ELECTION_ID, PacketInCollector
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

UNATTRIBUTED = -1
"""Bucket of outputs without an id that arrived before any anonymous frame was sent."""


class Output(NamedTuple):
    """One frame out of the switch: the port, the bytes, and (CPU port) the packet-in metadata."""

    port: int
    data: bytes
    metadata: tuple[tuple[str, int], ...] = ()


def packet_in_output(packet: PacketIn) -> Output:
    """A packet-in as an output of the CPU port."""
    return Output(S.CPU_PORT, packet.payload, tuple(sorted(packet.metadata.items())))


def observable(outputs: Sequence[Output]) -> tuple[list[Output], int]:
    """The outputs a veth can show (all packet-ins, data-port frames the kernel carries) and how
    many were left out."""
    kept = [out for out in outputs if out.port == S.CPU_PORT or wire_deliverable(out.data)]
    return kept, len(outputs) - len(kept)


def self_identifying(seq: int, frame: Frame, outputs: Sequence[Output]) -> bool:
    """Whether frame ``seq`` and each of its ``outputs`` carry id ``seq``."""
    return frame_id(frame.data) == seq and all(frame_id(out.data) == seq for out in outputs)


async def send_packet_out(client: P4RuntimeClient, frame: Frame) -> None:
    """Send ``frame`` (a packet-out) through the controller's stream."""
    assert frame.egress_port is not None
    await client.packet_out(frame.data, **{P.PACKET_OUT_EGRESS_PORT: frame.egress_port})


class EmbeddedRunner:
    """The softswitch in-process on memory ports, programmed through P4Runtime."""

    def __init__(self, switch: SoftSwitch, ports: MemoryPorts, client: P4RuntimeClient) -> None:
        self.switch = switch
        self.ports = ports
        self.client = client
        self._packet_ins: list[Output] = []

    async def run(self, corpus: Sequence[Frame]) -> list[list[Output]]:
        """The outputs of every frame, in corpus order."""
        collector = PacketInCollector(self.client, self._on_packet_in)
        try:
            return [await self._one(frame) for frame in corpus]
        finally:
            await collector.stop()

    def _on_packet_in(self, packet: PacketIn) -> None:
        self._packet_ins.append(packet_in_output(packet))

    async def _one(self, frame: Frame) -> list[Output]:
        if frame.egress_port is None:
            self.ports.inject(frame.port, frame.data)
        else:
            await send_packet_out(self.client, frame)
            await self.client.arbitrate(ELECTION_ID)  # barrier: the switch has the packet-out
        await self.switch.settle()
        outputs = [Output(port, data) for port, frames in self.ports.take_all().items()
                   for data in frames]
        await self.client.arbitrate(ELECTION_ID)  # barrier: the frame's packet-ins are in
        await asyncio.sleep(0)                     # ... and handed to the collector
        outputs += self._packet_ins
        self._packet_ins = []
        return outputs


class Bmv2Runner:
    """simple_switch_grpc behind veth pairs; outputs attributed as the module explains."""

    TIMEOUT = 0.1
    """Longest wait for the outputs the reference predicts (late ones still count by their id)."""
    SHORT_TIMEOUT = 0.005
    """The wait once ``MAX_TIMEOUTS`` waits timed out: bmv2 disagrees a lot, finish quickly."""
    MAX_TIMEOUTS = 100
    QUIET = 0.02
    """Silence that ends the outputs of an anonymous frame."""
    RERUN_QUIET = 0.3
    """Silence around a frame re-sent alone."""

    def __init__(self, lab: Lab, client: P4RuntimeClient) -> None:
        self.lab = lab
        self.client = client
        self.outputs: defaultdict[int, list[Output]] = defaultdict(list)
        self._owner = UNATTRIBUTED
        self._last_arrival = 0.0
        self._arrived = asyncio.Event()
        self._collector: PacketInCollector | None = None
        self._timeouts = 0

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        for port, sock in self.lab.wire.sockets.items():
            loop.add_reader(sock.fileno(), self._on_readable, port)
        self._collector = PacketInCollector(self.client, self._on_packet_in)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.lab.wire.sockets.values():
            loop.remove_reader(sock.fileno())
        if self._collector is not None:
            await self._collector.stop()

    # -- arrivals -----------------------------------------------------------------------------
    def _on_readable(self, port: int) -> None:
        for data in self.lab.wire.receive(port):
            self._arrive(Output(port, data))

    def _on_packet_in(self, packet: PacketIn) -> None:
        self._arrive(packet_in_output(packet))

    def _arrive(self, output: Output) -> None:
        seq = frame_id(output.data)
        self.outputs[self._owner if seq is None else seq].append(output)
        self._last_arrival = time.monotonic()
        self._arrived.set()

    # -- sending ------------------------------------------------------------------------------
    async def run(self, corpus: Sequence[Frame], reference: Sequence[Sequence[Output]]) -> None:
        """Send every frame in lockstep with the outputs ``reference`` predicts."""
        for seq, (frame, expected) in enumerate(zip(corpus, reference, strict=True)):
            anonymous = not self_identifying(seq, frame, expected)
            if anonymous:
                self._owner = seq
            await self._send(frame)
            await self._wait_for(seq, len(observable(expected)[0]))
            if anonymous:
                await self._quiet(self.QUIET)
        await self._quiet(self.RERUN_QUIET)

    async def rerun(self, seq: int, frame: Frame) -> list[Output]:
        """Frame ``seq`` alone, with silence before and after: its exact outputs."""
        await self._quiet(self.RERUN_QUIET)
        self._owner = seq
        self.outputs[seq] = []
        await self._send(frame)
        await self._quiet(self.RERUN_QUIET)
        return self.outputs[seq]

    async def _send(self, frame: Frame) -> None:
        if frame.egress_port is None:
            self.lab.wire.send(frame.port, frame.data)
        else:
            await send_packet_out(self.client, frame)

    async def _wait_for(self, seq: int, count: int) -> None:
        """Until ``count`` outputs are attributed to ``seq``, or a timeout."""
        timeout = self.TIMEOUT if self._timeouts < self.MAX_TIMEOUTS else self.SHORT_TIMEOUT
        deadline = time.monotonic() + timeout
        while len(self.outputs[seq]) < count:
            remaining = deadline - time.monotonic()
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(remaining, 0))
            except TimeoutError:
                self._timeouts += 1
                return

    async def _quiet(self, period: float) -> None:
        """Until nothing arrived for ``period`` seconds (counting from now)."""
        start = time.monotonic()
        while (remaining := max(start, self._last_arrival) + period - time.monotonic()) > 0:
            await asyncio.sleep(remaining)
