"""The packet loop: one worker thread runs every frame through the engine.

Frames from the ports and packet-outs from the controller are queued; the worker calls the
engine's synchronous ``process()`` and hands the results to the ports, or to ``to_cpu`` for
frames sent to the CPU port.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from softswitch.ports import Ports
from softswitch.server.engine_api import SwitchLike

LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 4096
_STOP = (-1, b"")


class Datapath:
    """Moves frames between the ports and the engine in one worker thread."""

    def __init__(self, ports: Ports, cpu_port: int | None, to_cpu: Callable[[bytes], None]) -> None:
        """Forward between ``ports`` and the engine; frames for ``cpu_port`` go to ``to_cpu``."""
        self.ports = ports
        self.cpu_port = cpu_port
        self.switch: SwitchLike | None = None
        self._to_cpu = to_cpu
        self._queue: queue.Queue[tuple[int, bytes]] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread and the ports."""
        self._thread = threading.Thread(target=self._run, name="softswitch-datapath", daemon=True)
        self._thread.start()
        self.ports.start(self.submit)

    def stop(self) -> None:
        """Close the ports and stop the worker thread after the frames already queued."""
        self.ports.close()
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def submit(self, port: int, frame: bytes) -> None:
        """Queue a frame received on ``port`` (thread-safe); dropped when the queue is full."""
        try:
            self._queue.put_nowait((port, frame))
        except queue.Full:
            LOGGER.debug("datapath queue full, frame from port %d dropped", port)

    def join(self) -> None:
        """Block until every frame queued so far has been processed."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            port, frame = self._queue.get()
            try:
                if (port, frame) == _STOP:
                    return
                self._process(port, frame)
            finally:
                self._queue.task_done()

    def _process(self, port: int, frame: bytes) -> None:
        switch = self.switch
        if switch is None:
            LOGGER.debug("no pipeline, frame from port %d dropped", port)
            return
        try:
            outputs = switch.process(port, frame)
        except Exception:  # the engine must never raise on packets; keep forwarding if it does
            LOGGER.exception("engine failed on a frame from port %d", port)
            return
        for out_port, data in outputs:
            if out_port == self.cpu_port:
                self._to_cpu(data)
            else:
                self.ports.send(out_port, data)
