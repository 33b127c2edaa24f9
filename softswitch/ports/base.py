"""The one interface every port backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

Deliver = Callable[[int, bytes], None]
"""Callback a backend calls with ``(port_number, frame)`` for each received frame.

It may be called from a backend thread; it must be thread-safe and must not block long.
"""


class Ports(ABC):
    """A set of numbered switch ports that receive and transmit Ethernet frames."""

    @property
    @abstractmethod
    def numbers(self) -> tuple[int, ...]:
        """The switch port numbers of this set, in ascending order."""

    @abstractmethod
    def start(self, deliver: Deliver) -> None:
        """Start receiving; every received frame is passed to ``deliver``."""

    @abstractmethod
    def send(self, port: int, frame: bytes) -> None:
        """Transmit ``frame`` on ``port``; frames for unknown ports are dropped."""

    @abstractmethod
    def close(self) -> None:
        """Stop receiving and release all resources. Idempotent."""
