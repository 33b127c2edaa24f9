"""``SoftSwitch``: ports + datapath + P4Runtime gRPC server, usable in-process and by the CLI."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

import grpc
from finsy.proto import p4r_grpc

from softswitch.ports import MemoryPorts, Ports
from softswitch.server.datapath import Datapath
from softswitch.server.device import Device
from softswitch.server.engine_api import EngineModule, load_engine_module
from softswitch.server.pipeline import load_program
from softswitch.server.service import P4RuntimeService

LOGGER = logging.getLogger(__name__)

DEFAULT_GRPC_ADDR = "127.0.0.1:9559"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest gRPC message accepted (a P4Info + bmv2 JSON can be large)."""


class SoftSwitch:
    """A software switch serving P4Runtime.

    Example::

        async with SoftSwitch(ports=MemoryPorts([1, 2]), grpc_addr="127.0.0.1:0") as sw:
            ...  # connect a P4Runtime client to f"127.0.0.1:{sw.grpc_port}"
            sw.ports.inject(1, frame)
            await sw.settle()
            sw.ports.take(2)
    """

    def __init__(
        self,
        *,
        ports: Ports | None = None,
        device_id: int = 0,
        cpu_port: int | None = None,
        grpc_addr: str = DEFAULT_GRPC_ADDR,
        program: bytes | None = None,
        engine: EngineModule | None = None,
    ) -> None:
        """Configure the switch; nothing runs before ``start``.

        ``program`` is a bmv2 JSON to forward with before any P4Runtime pipeline is pushed
        (like ``simple_switch_grpc prog.json``); Write still needs SetForwardingPipelineConfig.
        ``engine`` defaults to ``softswitch.engine``.
        """
        if cpu_port is not None and ports is not None and cpu_port in ports.numbers:
            raise ValueError(f"CPU port {cpu_port} is also a data port")
        self.engine = engine if engine is not None else load_engine_module()
        self.ports: Ports = ports if ports is not None else MemoryPorts([])
        self.grpc_addr = grpc_addr
        self.grpc_port = 0
        self.datapath = Datapath(self.ports, cpu_port, self._frame_to_cpu)
        self.device = Device(device_id, self.engine, self.datapath)
        self._program = program
        self._server: grpc.aio.Server | None = None

    def _frame_to_cpu(self, frame: bytes) -> None:
        self.device.frame_to_cpu(frame)

    async def start(self) -> None:
        """Load the initial program (if any), start forwarding and serving gRPC."""
        if self._program is not None:
            program = load_program(self.engine, self._program)
            self.datapath.switch = self.engine.Switch(program, cpu_port=self.datapath.cpu_port)
        self.device.bind_loop(asyncio.get_running_loop())
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        p4r_grpc.add_P4RuntimeServicer_to_server(P4RuntimeService(self.device), server)
        try:
            self.grpc_port = server.add_insecure_port(self.grpc_addr)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self.grpc_addr}") from exc
        await server.start()
        self._server = server
        self.datapath.start()
        LOGGER.info(
            "P4Runtime server on %s (port %d), device id %d, ports %s, CPU port %s",
            self.grpc_addr,
            self.grpc_port,
            self.device.device_id,
            list(self.ports.numbers),
            self.datapath.cpu_port,
        )

    async def stop(self, grace: float = 1.0) -> None:
        """Stop serving gRPC (after ``grace`` seconds for running calls) and forwarding."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await asyncio.to_thread(self.datapath.stop)
        LOGGER.info("switch stopped")

    async def settle(self) -> None:
        """Wait until every frame received so far is processed and packet-ins are queued."""
        await asyncio.to_thread(self.datapath.join)
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
