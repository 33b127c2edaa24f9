"""The migration probe: numbered UDP datagrams at a fixed rate, and what their arrival says.

Sender and receiver share CLOCK_MONOTONIC (one clock for every namespace of the host), so the
receiver's timestamps, the sender's start and the demo's signalling marks lie on one time line.
The loss window is the longest run of consecutive sequence numbers that never arrived, times the
sending period: at 1,000 packets/s, each missing packet is one millisecond without traffic.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAGIC = b"NVEP"
PAYLOAD = struct.Struct("!4sIQ")          # magic, sequence number, send time (ns, monotonic)
DEFAULT_RATE = 1000
END_SEQ = 0xFFFFFFFF                       # "done": the receiver stops early when it arrives


def payload(seq: int, now: float) -> bytes:
    """The datagram for sequence number `seq` sent at `now` (monotonic seconds)."""
    return PAYLOAD.pack(MAGIC, seq, int(now * 1e9))


def parse(data: bytes) -> int | None:
    """The sequence number of a probe datagram, None for anything else."""
    if len(data) < PAYLOAD.size or not data.startswith(MAGIC):
        return None
    return PAYLOAD.unpack_from(data)[1]


def send_loop(send: Callable[[bytes], object], rate: int, duration: float,
              start: float | None = None) -> tuple[float, int]:
    """Send rate*duration datagrams on an absolute schedule (no drift); (start time, count).

    A late wake-up sends the overdue datagrams at once, so the average rate holds.
    """
    count = int(rate * duration)
    period = 1.0 / rate
    t0 = time.monotonic() if start is None else start
    for seq in range(count):
        due = t0 + seq * period
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send(payload(seq, time.monotonic()))
    return t0, count


@dataclass
class ProbeResult:
    """What one probe run sent and received."""

    rate: int
    start: float                                   # monotonic time of sequence number 0
    sent: int
    received: list[tuple[int, float]] = field(default_factory=list)   # (seq, arrival time)

    @property
    def period_ms(self) -> float:
        return 1000.0 / self.rate

    @property
    def lost(self) -> int:
        """Datagrams sent and never received."""
        return self.sent - len({seq for seq, _ in self.received if seq < self.sent})

    def longest_gap(self) -> tuple[int, int]:
        """(first missing seq, number missing) of the longest run of missing sequence numbers;
        a run at the start or the end counts too. (0, 0) when nothing was lost."""
        seqs = sorted({seq for seq, _ in self.received if seq < self.sent})
        best = (0, 0)
        previous = -1
        for seq in [*seqs, self.sent]:
            missing = seq - previous - 1
            if missing > best[1]:
                best = (previous + 1, missing)
            previous = seq
        return best

    @property
    def loss_window_ms(self) -> float:
        """The longest stretch without traffic: missing packets in the longest gap x period."""
        return self.longest_gap()[1] * self.period_ms

    def gap_times(self) -> tuple[float, float] | None:
        """Monotonic times of the last arrival before and the first after the longest gap."""
        first, missing = self.longest_gap()
        if missing == 0:
            return None
        arrivals = dict(sorted(self.received))
        before = arrivals.get(first - 1)
        after = arrivals.get(first + missing)
        if before is None or after is None:
            return None
        return before, after

    def per_ms(self) -> tuple[list[float], list[int]]:
        """Packets received in each millisecond since the start: (bin start in ms, count)."""
        span = int(self.sent * self.period_ms) + 200
        counts = [0] * span
        for _, arrival in self.received:
            index = int((arrival - self.start) * 1000)
            if 0 <= index < span:
                counts[index] += 1
        return [float(i) for i in range(span)], counts

    def to_json(self) -> dict[str, object]:
        return {"rate": self.rate, "start": self.start, "sent": self.sent,
                "received": [[s, t] for s, t in self.received]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ProbeResult:
        received = [(int(s), float(t)) for s, t in data["received"]]  # type: ignore[union-attr]
        return cls(int(data["rate"]), float(data["start"]),  # type: ignore[arg-type]
                   int(data["sent"]), received)  # type: ignore[arg-type]
