"""ECP (IEEE 802.1Qbg-2012 clause 43) for one bridge port: a receiver and a stop-and-wait sender.

Sans I/O: the methods take `now` and return the ECPDUs to transmit; the caller sends them.

* Receiver: every REQ is acknowledged at once with its own sequence number. A REQ that repeats
  the sequence number of the previous one is a retransmission (our ACK was lost or late): it is
  acknowledged again but not delivered a second time. A station that restarted begins again at
  sequence number 1, which may equal the last one we saw; so a repeat only counts as a
  duplicate within `duplicate_window` seconds (far longer than a station's retries last).
* Sender: our own REQs (the VDP answers) go one at a time. Each waits `ack_timeout` for the
  station's ACK and is sent again up to `max_retries` times; then it is given up (and logged)
  and the next one goes.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from controlplane.signalling.vdp.wire import ECP_SUBTYPE_VDP, Ecpdu, EcpOp, exponent_seconds

log = logging.getLogger(__name__)

DEFAULT_DUPLICATE_WINDOW = 2.0


@dataclass(frozen=True, slots=True)
class EcpTiming:
    """ACK timeout and retries of our transmitter, from the negotiated EVB TLV."""

    ack_timeout: float
    max_retries: int

    @classmethod
    def from_evb(cls, rte: int, retries: int) -> EcpTiming:
        """RTE is an exponent: the timeout is 10 us * 2**rte."""
        return cls(exponent_seconds(rte), retries)


@dataclass(frozen=True, slots=True)
class Received:
    """What one received ECPDU means: an ACK to send, a payload to deliver, frames freed."""

    ack: Ecpdu | None = None
    deliver: bytes | None = None
    duplicate: bool = False
    transmit: tuple[Ecpdu, ...] = ()


class EcpReceiver:
    """Duplicate detection for the station's REQs."""

    def __init__(self, duplicate_window: float = DEFAULT_DUPLICATE_WINDOW) -> None:
        self.duplicate_window = duplicate_window
        self._last: tuple[int, float] | None = None
        self.received = 0
        self.duplicates = 0

    def accept(self, seqno: int, now: float) -> bool:
        """True when the REQ with `seqno` is new; False for a retransmission."""
        last = self._last
        self._last = (seqno, now)
        if last is not None and last[0] == seqno and now - last[1] <= self.duplicate_window:
            self.duplicates += 1
            return False
        self.received += 1
        return True

    def reset(self) -> None:
        """Forget the last sequence number (the station went away or restarted)."""
        self._last = None


@dataclass
class _Outstanding:
    pdu: Ecpdu
    sent: float
    tries: int


class EcpSender:
    """Stop-and-wait transmission of our REQs with retransmission."""

    def __init__(self, timing: EcpTiming, first_seqno: int = 1) -> None:
        self.timing = timing
        self._next_seqno = first_seqno & 0xFFFF or 1
        self._queue: deque[bytes] = deque()
        self._outstanding: _Outstanding | None = None
        self.sent = 0
        self.retransmitted = 0
        self.given_up = 0

    @property
    def busy(self) -> bool:
        """A REQ waits for its ACK."""
        return self._outstanding is not None

    @property
    def pending(self) -> int:
        """REQs queued behind the outstanding one."""
        return len(self._queue)

    def submit(self, payload: bytes, now: float) -> list[Ecpdu]:
        """Queue a payload; return the REQ to send now if nothing is outstanding."""
        self._queue.append(payload)
        return self._start_next(now)

    def acknowledge(self, seqno: int, now: float) -> list[Ecpdu]:
        """An ACK arrived: if it matches the outstanding REQ, free it and start the next one."""
        if self._outstanding is None or self._outstanding.pdu.seqno != seqno:
            log.debug("ECP ACK for seqno %d matches no outstanding REQ", seqno)
            return []
        self._outstanding = None
        return self._start_next(now)

    def poll(self, now: float) -> list[Ecpdu]:
        """Retransmit an unacknowledged REQ whose timer ran out, or give it up."""
        out = self._outstanding
        if out is None or now < out.sent + self.timing.ack_timeout:
            return []
        if out.tries > self.timing.max_retries:
            log.warning("ECP REQ seqno %d not acknowledged after %d retransmissions: given up",
                        out.pdu.seqno, self.timing.max_retries)
            self.given_up += 1
            self._outstanding = None
            return self._start_next(now)
        out.sent, out.tries = now, out.tries + 1
        self.retransmitted += 1
        return [out.pdu]

    def deadline(self) -> float | None:
        """When `poll` has something to do next."""
        out = self._outstanding
        return None if out is None else out.sent + self.timing.ack_timeout

    def clear(self) -> None:
        """Drop what is queued or outstanding (the station went away)."""
        self._queue.clear()
        self._outstanding = None

    def _start_next(self, now: float) -> list[Ecpdu]:
        if self._outstanding is not None or not self._queue:
            return []
        pdu = Ecpdu(EcpOp.REQUEST, self._next_seqno, self._queue.popleft(), ECP_SUBTYPE_VDP)
        self._next_seqno = (self._next_seqno + 1) & 0xFFFF or 1   # 0 is never used
        self._outstanding = _Outstanding(pdu, now, 1)
        self.sent += 1
        return [pdu]


class EcpEndpoint:
    """Receiver and sender of one port."""

    def __init__(self, timing: EcpTiming, first_seqno: int = 1,
                 duplicate_window: float = DEFAULT_DUPLICATE_WINDOW) -> None:
        self.receiver = EcpReceiver(duplicate_window)
        self.sender = EcpSender(timing, first_seqno)

    def receive(self, pdu: Ecpdu, now: float) -> Received:
        """Handle an ECPDU from the station."""
        if pdu.op == EcpOp.ACK:
            return Received(transmit=tuple(self.sender.acknowledge(pdu.seqno, now)))
        if not self.receiver.accept(pdu.seqno, now):
            return Received(ack=pdu.ack(), duplicate=True)
        return Received(ack=pdu.ack(), deliver=pdu.payload)

    def reset(self) -> None:
        """The station went away: forget its sequence numbers and our queued REQs."""
        self.receiver.reset()
        self.sender.clear()
