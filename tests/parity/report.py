"""Per-frame comparison of the two targets' outputs and a readable diff of disagreements."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scapy.layers.l2 import Ether
from scapy.utils import hexdump

from controlplane.p4rt.entries import CounterValue
from parity import scenario as S
from parity.corpus import Frame
from parity.runners import UNATTRIBUTED, Output, observable

DUMP_BYTES = 256
DUMP_LINE = 120


@dataclass
class Mismatch:
    """A frame whose output multisets differ."""

    seq: int
    frame: Frame
    embedded: list[Output]
    bmv2: list[Output]

    @property
    def only_embedded(self) -> list[Output]:
        """Outputs the embedded switch produced and bmv2 did not."""
        return list((Counter(self.embedded) - Counter(self.bmv2)).elements())

    @property
    def only_bmv2(self) -> list[Output]:
        """Outputs bmv2 produced and the embedded switch did not."""
        return list((Counter(self.bmv2) - Counter(self.embedded)).elements())


@dataclass
class Comparison:
    """The outcome over the whole corpus."""

    frames: int = 0
    outputs_embedded: int = 0
    outputs_bmv2: int = 0
    outputs_matched: int = 0
    unobservable: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unattributed: list[Output] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No disagreement at all."""
        return not self.mismatches and not self.unattributed

    def summary(self) -> str:
        """One paragraph of figures."""
        return (f"parity embedded vs bmv2: {self.frames} frames compared, "
                f"{self.frames - len(self.mismatches)} with identical outputs, "
                f"{len(self.mismatches)} mismatching; outputs: embedded {self.outputs_embedded}, "
                f"bmv2 {self.outputs_bmv2}, matched {self.outputs_matched}; "
                f"{self.unobservable} embedded outputs left out (a veth cannot carry them); "
                f"{len(self.unattributed)} bmv2 outputs unattributed")


def compare(corpus: Sequence[Frame], embedded: Sequence[Sequence[Output]],
            bmv2: Mapping[int, Sequence[Output]]) -> Comparison:
    """Compare, frame by frame, the multisets of (port, bytes, metadata)."""
    result = Comparison(frames=len(corpus), unattributed=list(bmv2.get(UNATTRIBUTED, ())))
    for seq, frame in enumerate(corpus):
        expected, left_out = observable(embedded[seq])
        got = list(bmv2.get(seq, ()))
        result.unobservable += left_out
        result.outputs_embedded += len(expected)
        result.outputs_bmv2 += len(got)
        result.outputs_matched += sum((Counter(expected) & Counter(got)).values())
        if Counter(expected) != Counter(got):
            result.mismatches.append(Mismatch(seq, frame, expected, got))
    return result


def counter_differences(embedded: Mapping[str, CounterValue],
                        bmv2: Mapping[str, CounterValue]) -> list[str]:
    """One line per counter cell whose (packets, bytes) differ between the targets."""
    return [f"{name}: embedded {tuple(embedded.get(name, (0, 0)))}, "
            f"bmv2 {tuple(bmv2.get(name, (0, 0)))}"
            for name in sorted(embedded.keys() | bmv2.keys())
            if embedded.get(name) != bmv2.get(name)]


def _hexdump(data: bytes) -> str:
    """A hexdump of the first ``DUMP_BYTES`` bytes."""
    text = str(hexdump(data[:DUMP_BYTES], dump=True))
    if len(data) > DUMP_BYTES:
        text += f"\n... {len(data) - DUMP_BYTES} more bytes"
    return text


def dump(data: bytes) -> str:
    """scapy's dissection of a frame and a hexdump of its first ``DUMP_BYTES`` bytes, with
    long lines (large payloads) cut."""
    shown = str(Ether(data).show(dump=True))
    lines = [line if len(line) <= DUMP_LINE else line[:DUMP_LINE - 3] + "..."
             for line in shown.splitlines()]
    lines.append(_hexdump(data))
    return "\n".join(lines)


def describe_output(output: Output) -> str:
    """An output as text: the port (and packet-in metadata), scapy's dissection, a hexdump."""
    where = f"port {output.port}"
    if output.port == S.CPU_PORT:
        where = f"CPU port {output.port} packet-in {dict(output.metadata)}"
    return f"{where}, {len(output.data)} bytes\n{dump(output.data)}\n"


def describe_mismatch(mismatch: Mismatch) -> str:
    """The input frame, then what only one target sent, with a line diff of paired outputs."""
    frame = mismatch.frame
    source = f"in port {frame.port}"
    if frame.egress_port is not None:
        source = f"packet-out to port {frame.egress_port}"
    lines = [(f"frame #{mismatch.seq} ({frame.kind}) {source}, "
              f"{len(frame.data)} bytes: {Ether(frame.data).summary()}"),
             _hexdump(frame.data),
             f"embedded sent {len(mismatch.embedded)}, bmv2 sent {len(mismatch.bmv2)} frames"]
    only_embedded, only_bmv2 = mismatch.only_embedded, mismatch.only_bmv2
    for ours in only_embedded:
        twin = _closest(ours, only_bmv2)
        if twin is None:
            lines.append("only embedded: " + describe_output(ours))
            continue
        only_bmv2.remove(twin)
        lines.append(f"port {ours.port} differs (- embedded, + bmv2):")
        lines.extend(difflib.unified_diff(describe_output(ours).splitlines(),
                                          describe_output(twin).splitlines(), lineterm="", n=1))
    lines.extend("only bmv2: " + describe_output(theirs) for theirs in only_bmv2)
    return "\n".join(lines)


def _closest(output: Output, candidates: Sequence[Output]) -> Output | None:
    """The candidate on the same port with the most bytes in common, if any."""
    same_port = [other for other in candidates if other.port == output.port]
    if not same_port:
        return None
    return max(same_port, key=lambda other: sum(a == b for a, b in zip(output.data, other.data)))


def failure_report(result: Comparison, counter_diffs: Sequence[str], shown: int = 5) -> str:
    """The summary, the first ``shown`` mismatches in full, the differing counters."""
    parts = [result.summary()]
    kinds = Counter(m.frame.kind for m in result.mismatches)
    if kinds:
        parts.append("mismatching frames by kind: " + ", ".join(
            f"{kind} {count}" for kind, count in kinds.most_common()))
    parts.extend(describe_mismatch(m) for m in result.mismatches[:shown])
    if result.unattributed:
        parts.append("bmv2 outputs that no frame could be matched to:")
        parts.extend(describe_output(out) for out in result.unattributed[:shown])
    if counter_diffs:
        parts.append("counters that differ after the corpus:\n" + "\n".join(counter_diffs))
    return "\n\n".join(parts)
