"""The P4Runtime view of the switch: pipeline config, arbitration, write, read, packet I/O."""

from __future__ import annotations

import asyncio
import logging

from finsy.proto import U128, p4r

from softswitch.server.arbitration import Arbitrator
from softswitch.server.datapath import Datapath
from softswitch.server.engine_api import EngineModule
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.pipeline import Pipeline, PipelineConfig, realize
from softswitch.server.reader import read_entities
from softswitch.server.reconcile import replay, snapshot
from softswitch.server.writer import write_batch

LOGGER = logging.getLogger(__name__)

ConfigAction = p4r.SetForwardingPipelineConfigRequest.Action
NO_PIPELINE = "No forwarding pipeline config set for this device"


class Device:
    """One P4Runtime device backed by the engine and the datapath."""

    def __init__(self, device_id: int, engine: EngineModule, datapath: Datapath) -> None:
        """Serve ``device_id``; ``datapath`` forwards with the committed pipeline."""
        self.device_id = device_id
        self.engine = engine
        self.datapath = datapath
        self.arbitrator = Arbitrator(device_id)
        self.pipeline: Pipeline | None = None
        self._uncommitted = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use ``loop`` to deliver packet-ins coming from the datapath thread."""
        self._loop = loop

    # -- checks --------------------------------------------------------------------------

    def check_device(self, device_id: int) -> None:
        """NOT_FOUND unless ``device_id`` is this device."""
        if device_id != self.device_id:
            raise P4RuntimeError(Code.NOT_FOUND, f"unknown device id {device_id}")

    def check_writer(self, device_id: int, role: str, election_id: p4r.Uint128 | None) -> None:
        """The Write / SetForwardingPipelineConfig checks: device, role, primary."""
        self.check_device(device_id)
        if role:
            raise P4RuntimeError(Code.NOT_FOUND, f"unknown role {role!r}")
        if not self.arbitrator.is_primary(
            None if election_id is None else U128.decode(election_id)
        ):
            raise P4RuntimeError(Code.PERMISSION_DENIED, "Not primary")

    def require_pipeline(self) -> Pipeline:
        """The pipeline Write/Read use; FAILED_PRECONDITION when none was set."""
        if self.pipeline is None:
            raise P4RuntimeError(Code.FAILED_PRECONDITION, NO_PIPELINE)
        return self.pipeline

    # -- pipeline config -----------------------------------------------------------------

    def set_pipeline(self, request: p4r.SetForwardingPipelineConfigRequest) -> None:
        """SetForwardingPipelineConfig (all actions but UNSPECIFIED)."""
        election_id = request.election_id if request.HasField("election_id") else None
        self.check_writer(request.device_id, request.role, election_id)
        action = request.action
        if action == ConfigAction.COMMIT:
            self._commit_saved(request)
            return
        if action not in (
            ConfigAction.VERIFY,
            ConfigAction.VERIFY_AND_SAVE,
            ConfigAction.VERIFY_AND_COMMIT,
            ConfigAction.RECONCILE_AND_COMMIT,
        ):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "action is not set")
        if not request.HasField("config"):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "config is not set")
        new = realize(
            self.engine, PipelineConfig.from_proto(request.config), self.datapath.cpu_port
        )
        if action == ConfigAction.VERIFY:
            return
        if action == ConfigAction.RECONCILE_AND_COMMIT and self.pipeline is not None:
            with self.pipeline.switch.lock:
                replay(self.engine, new, snapshot(self.engine, self.pipeline))
                self._install(new, commit=True)
            return
        self._install(new, commit=action != ConfigAction.VERIFY_AND_SAVE)

    def _commit_saved(self, request: p4r.SetForwardingPipelineConfigRequest) -> None:
        if request.HasField("config"):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "COMMIT takes no config")
        if self.pipeline is None or not self._uncommitted:
            raise P4RuntimeError(Code.NOT_FOUND, "no saved config to commit")
        self._install(self.pipeline, commit=True)

    def _install(self, pipeline: Pipeline, *, commit: bool) -> None:
        """Make ``pipeline`` the one Write/Read use; with ``commit`` also the forwarding one."""
        self.pipeline = pipeline
        self._uncommitted = not commit
        if commit:
            self.datapath.switch = pipeline.switch
        LOGGER.info(
            "pipeline %s (cookie %s)", "committed" if commit else "saved", pipeline.config.cookie
        )

    def get_pipeline(
        self, request: p4r.GetForwardingPipelineConfigRequest
    ) -> p4r.GetForwardingPipelineConfigResponse:
        """GetForwardingPipelineConfig."""
        self.check_device(request.device_id)
        pipeline = self.require_pipeline()
        if (
            request.response_type
            not in p4r.GetForwardingPipelineConfigRequest.ResponseType.values()
        ):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "invalid response_type")
        return p4r.GetForwardingPipelineConfigResponse(
            config=pipeline.config.to_proto(request.response_type)
        )

    # -- write and read ------------------------------------------------------------------

    def write(self, request: p4r.WriteRequest) -> list[P4RuntimeError | None]:
        """Write: per-update results, or P4RuntimeError for request-wide errors."""
        election_id = request.election_id if request.HasField("election_id") else None
        self.check_writer(request.device_id, request.role, election_id)
        pipeline = self.require_pipeline()
        if request.atomicity not in p4r.WriteRequest.Atomicity.values():
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "invalid atomicity")
        return write_batch(self.engine, pipeline, request.updates, request.atomicity)

    def read(self, request: p4r.ReadRequest) -> list[list[p4r.Entity] | P4RuntimeError]:
        """Read: for each requested entity, the entities found or the error."""
        self.check_device(request.device_id)
        pipeline = self.require_pipeline()
        results: list[list[p4r.Entity] | P4RuntimeError] = []
        for entity in request.entities:
            try:
                results.append(read_entities(self.engine, pipeline, entity))
            except P4RuntimeError as exc:
                results.append(exc)
        return results

    # -- packet I/O ----------------------------------------------------------------------

    def packet_out(self, packet: p4r.PacketOut) -> None:
        """Inject a packet-out at the CPU port, with the ``packet_out`` header in front."""
        pipeline = self.require_pipeline()
        cpu_port = self.datapath.cpu_port
        if cpu_port is None:
            raise P4RuntimeError(Code.FAILED_PRECONDITION, "no CPU port configured")
        header = pipeline.schema.packet_out
        frame = (
            packet.payload if header is None else header.encode(packet.metadata) + packet.payload
        )
        self.datapath.submit(cpu_port, frame)

    def frame_to_cpu(self, frame: bytes) -> None:
        """Called by the datapath thread for each frame sent to the CPU port."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._packet_in, frame)

    def _packet_in(self, frame: bytes) -> None:
        pipeline = self.pipeline
        primary = self.arbitrator.primary
        if pipeline is None or primary is None:
            LOGGER.debug("packet-in dropped: no %s", "pipeline" if pipeline is None else "primary")
            return
        header = pipeline.schema.packet_in
        packet = p4r.PacketIn(payload=frame)
        if header is not None:
            try:
                metadata, payload = header.decode(frame)
            except ValueError as exc:
                LOGGER.warning("packet-in dropped: %s", exc)
                return
            packet = p4r.PacketIn(payload=payload, metadata=metadata)
        primary.send(p4r.StreamMessageResponse(packet=packet))
