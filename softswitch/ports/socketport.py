"""A port backed by one socket, and the set of such ports served by one receive thread."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from abc import ABC, abstractmethod

from softswitch.ports.base import Deliver, Ports

LOGGER = logging.getLogger(__name__)


class SocketPort(ABC):
    """One switch port that owns one socket."""

    def __init__(self, number: int, sock: socket.socket) -> None:
        """Wrap ``sock`` (already bound) as switch port ``number``."""
        self.number = number
        self.sock = sock

    @abstractmethod
    def receive(self) -> bytes | None:
        """Read one frame from the (readable) socket; None when there is nothing to deliver."""

    @abstractmethod
    def send(self, frame: bytes) -> None:
        """Transmit one frame."""

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class SocketPorts(Ports):
    """A set of socket ports; one thread waits on all sockets and delivers received frames."""

    def __init__(self, ports: list[SocketPort]) -> None:
        """Serve ``ports``; port numbers must be unique."""
        self._ports = {port.number: port for port in ports}
        if len(self._ports) != len(ports):
            raise ValueError("duplicate port number")
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def numbers(self) -> tuple[int, ...]:
        """The switch port numbers of this set."""
        return tuple(sorted(self._ports))

    def port(self, number: int) -> SocketPort:
        """The port object for ``number`` (e.g. to learn its bound address)."""
        return self._ports[number]

    def start(self, deliver: Deliver) -> None:
        """Start the receive thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(
            target=self._receive_loop, args=(deliver,), name="softswitch-ports", daemon=True
        )
        self._thread.start()

    def send(self, port: int, frame: bytes) -> None:
        """Transmit ``frame`` on ``port``; errors are logged, never raised."""
        target = self._ports.get(port)
        if target is None:
            LOGGER.debug("drop frame for unknown port %d", port)
            return
        try:
            target.send(frame)
        except OSError as exc:
            LOGGER.debug("port %d: send failed: %s", port, exc)

    def close(self) -> None:
        """Stop the receive thread and close all sockets."""
        if self._closed:
            return
        self._closed = True
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join()
        for port in self._ports.values():
            port.close()
        self._wake_r.close()
        self._wake_w.close()

    def _receive_loop(self, deliver: Deliver) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            for port in self._ports.values():
                selector.register(port.sock, selectors.EVENT_READ, port)
            while True:
                for key, _ in selector.select():
                    port = key.data
                    if port is None:
                        return
                    try:
                        frame = port.receive()
                    except OSError as exc:
                        LOGGER.debug("port %d: receive failed: %s", port.number, exc)
                        continue
                    if frame is not None:
                        deliver(port.number, frame)
