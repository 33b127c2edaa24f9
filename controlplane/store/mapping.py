"""The mapping authority: where each active VM's MAC lives (VN, MAC -> VTEP).

Remote FDB entries and the head-end replication lists follow it. The in-process authority
derives locations from the controller's own records, which is right while one controller
manages every NVE; a distributed store (etcd) implements the same Protocol for many controllers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from controlplane.model import Location, VmRecord


class MappingAuthority(Protocol):
    """Answers where VMs are, given the records this controller holds."""

    def locations(self, records: Iterable[VmRecord]) -> list[Location]:
        """Every known location of an active VM's MAC."""


class InProcessMapping:
    """Locations from this controller's own records: every NVE is one of ours."""

    def __init__(self, vteps: Mapping[str, int]) -> None:
        self.vteps = dict(vteps)   # switch name -> VTEP IP

    def locations(self, records: Iterable[VmRecord]) -> list[Location]:
        """One location per MAC of each active VM, at its switch's VTEP."""
        return [Location(r.vni, mac, self.vteps[r.switch], r.vm_id, r.switch)
                for r in records if r.active for mac in r.macs]
