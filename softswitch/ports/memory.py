"""In-memory port backend for tests: inject frames and collect what the switch sends."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from softswitch.ports.base import Deliver, Ports

LOGGER = logging.getLogger(__name__)


class MemoryPorts(Ports):
    """Ports that live in the process: ``inject`` plays the wire, ``take`` reads what was sent."""

    def __init__(self, numbers: tuple[int, ...] | list[int]) -> None:
        """Create in-memory ports with the given switch port numbers."""
        self._numbers = tuple(sorted(set(numbers)))
        self._deliver: Deliver | None = None
        self._sent: defaultdict[int, list[bytes]] = defaultdict(list)
        self._mutex = threading.Lock()

    @property
    def numbers(self) -> tuple[int, ...]:
        """The switch port numbers of this set."""
        return self._numbers

    def start(self, deliver: Deliver) -> None:
        """Start accepting injected frames."""
        self._deliver = deliver

    def inject(self, port: int, frame: bytes) -> None:
        """Deliver ``frame`` to the switch as if it was received on ``port``."""
        if port not in self._numbers:
            raise ValueError(f"unknown port {port}")
        if self._deliver is None:
            raise RuntimeError("ports are not started")
        self._deliver(port, frame)

    def send(self, port: int, frame: bytes) -> None:
        """Record a frame the switch transmits on ``port``."""
        if port not in self._numbers:
            LOGGER.debug("drop frame for unknown port %d", port)
            return
        with self._mutex:
            self._sent[port].append(frame)

    def take(self, port: int) -> list[bytes]:
        """Remove and return the frames sent on ``port`` so far, oldest first."""
        with self._mutex:
            return self._sent.pop(port, [])

    def take_all(self) -> dict[int, list[bytes]]:
        """Remove and return the frames sent so far on every port that sent any."""
        with self._mutex:
            sent = {number: frames for number, frames in sorted(self._sent.items()) if frames}
            self._sent.clear()
            return sent

    def close(self) -> None:
        """Stop accepting injected frames."""
        self._deliver = None
