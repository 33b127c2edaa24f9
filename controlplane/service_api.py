"""What the wire layers (gRPC signalling and operator services, VDP) need from the NVE service.

The gRPC servicers depend on this Protocol only, so they can be tested against a fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from controlplane.signalling.messages import (
    Answer,
    CounterView,
    Notification,
    PortView,
    Request,
    TableView,
    VmView,
    VnView,
)


class NveApi(Protocol):
    """The controller as the outside world sees it."""

    async def signal(self, identity: str, request: Request) -> Answer:
        """Handle one hypervisor request from `identity` (its certificate's common name).

        Never raises for a refused request: the Answer carries FAIL, the reason and the detail.
        """

    def notifications(self, identity: str) -> AsyncIterator[Notification]:
        """NVE-initiated messages about `identity`'s VMs, from now on, until the caller stops."""

    async def list_vms(self) -> list[VmView]:
        """Every VM the controller knows."""

    async def list_vns(self) -> list[VnView]:
        """Every configured VN."""

    async def list_ports(self) -> list[PortView]:
        """Every access and network port of every switch."""

    async def read_tables(self, nve: str, table: str | None) -> TableView:
        """Entries read back from switch `nve` (one table, or all), with occupancy and capacity."""

    async def read_counters(self, nve: str) -> list[CounterView]:
        """Per-VAP and drop-reason counters of switch `nve`."""

    async def set_vid(self, vm_id: str, vid: int) -> Answer:
        """Operator command: give a VM another VID (0: any free one); its hypervisor is told."""

    async def migrate(self, vm_id: str, to_nve: str, to_port: int) -> Answer:
        """Operator command: live-migrate a VM make-before-break to another NVE."""
