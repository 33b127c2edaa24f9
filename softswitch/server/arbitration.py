"""Client arbitration (spec: "Client Arbitration and Controller Replication").

One device, the default role only. As the spec (v1.3+) says, the primary is the live
controller whose election id is the highest election id ever received (not merely the
highest live one, as in bmv2): when the primary leaves, backups are told NOT_FOUND with that
election id and one of them becomes primary by sending it. An unset election id never
becomes primary. Every change of primary is sent to all controllers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from finsy.proto import U128, p4r, rpc_status

from softswitch.server.errors import Code, P4RuntimeError

LOGGER = logging.getLogger(__name__)

MAX_CONTROLLERS = 16


@dataclass(eq=False, slots=True)
class Controller:
    """One StreamChannel; ``arbitrated`` once its first MasterArbitrationUpdate succeeded."""

    send: Callable[[p4r.StreamMessageResponse], None]
    election_id: int | None = None
    arbitrated: bool = False


class Arbitrator:
    """Tracks the controllers of the device and which one is primary."""

    def __init__(self, device_id: int) -> None:
        """Arbitrate for ``device_id``."""
        self.device_id = device_id
        self._controllers: list[Controller] = []
        self._highest: int | None = None
        """Highest election id ever received (``election_id_past`` in the spec)."""

    @property
    def primary(self) -> Controller | None:
        """The current primary controller, if any."""
        if self._highest is None:
            return None
        return next((c for c in self._controllers if c.election_id == self._highest), None)

    def is_primary(self, election_id: int | None) -> bool:
        """Whether a request with ``election_id`` (None: unset) comes from the primary."""
        primary = self.primary
        return (
            election_id is not None and primary is not None and primary.election_id == election_id
        )

    def update(self, controller: Controller, update: p4r.MasterArbitrationUpdate) -> None:
        """Handle a MasterArbitrationUpdate; P4RuntimeError means: terminate the stream."""
        if update.device_id != self.device_id:
            code = Code.FAILED_PRECONDITION if controller.arbitrated else Code.NOT_FOUND
            raise P4RuntimeError(code, f"unknown device id {update.device_id}")
        if update.role.name or update.role.HasField("config"):
            raise P4RuntimeError(Code.NOT_FOUND, "only the default role is supported")
        election_id = U128.decode(update.election_id) if update.HasField("election_id") else None
        if election_id is not None and any(
            other.election_id == election_id
            for other in self._controllers
            if other is not controller
        ):
            raise P4RuntimeError(Code.INVALID_ARGUMENT, "Election id already exists")
        if not controller.arbitrated and len(self._controllers) >= MAX_CONTROLLERS:
            raise P4RuntimeError(Code.RESOURCE_EXHAUSTED, "too many controllers")
        old_primary = self.primary
        if not controller.arbitrated:
            controller.arbitrated = True
            self._controllers.append(controller)
        controller.election_id = election_id
        if election_id is not None:
            self._highest = max(election_id, self._highest or 0)
        self._changed(old_primary, controller)

    def remove(self, controller: Controller) -> None:
        """Forget a closed stream; if it was the primary, tell all others."""
        if controller in self._controllers:
            old_primary = self.primary
            self._controllers.remove(controller)
            self._changed(old_primary, None)

    def _changed(self, old_primary: Controller | None, sender: Controller | None) -> None:
        """Notify everyone if the primary changed or re-asserted itself, else only ``sender``."""
        primary = self.primary
        if primary is not old_primary or (sender is not None and primary is sender):
            LOGGER.info(
                "primary controller: %s",
                "none" if primary is None else f"election id {primary.election_id}",
            )
            self._notify_all()
        elif sender is not None:
            self._notify(sender)

    def _notify_all(self) -> None:
        for controller in self._controllers:
            self._notify(controller)

    def _notify(self, controller: Controller) -> None:
        primary = self.primary
        if primary is controller:
            status = rpc_status.Status(code=Code.OK, message="is primary")
        elif primary is not None:
            status = rpc_status.Status(code=Code.ALREADY_EXISTS, message="is backup")
        else:
            status = rpc_status.Status(code=Code.NOT_FOUND, message="no primary")
        update = p4r.MasterArbitrationUpdate(device_id=self.device_id, status=status)
        if self._highest is not None:
            update.election_id.CopyFrom(U128.encode(self._highest))
        controller.send(p4r.StreamMessageResponse(arbitration=update))
