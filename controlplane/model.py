"""Values the controller keeps about VMs: what was signalled and what the NVE assigned."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace

from controlplane.lifecycle import Phase, State


class Origin(enum.Enum):
    """Which signalling path told us about a VM."""

    GRPC = "grpc"
    VDP = "vdp"


def canonical_vm_id(text: str) -> str:
    """A VM id as a lower-case UUID string; ValueError when it is not a UUID."""
    return str(uuid.UUID(text))


@dataclass(frozen=True, slots=True)
class VmRecord:
    """One VM on one switch: identity, addresses, attachment, assigned tags and phase."""

    vm_id: str
    hypervisor: str
    switch: str
    port: int
    vni: int
    macs: tuple[int, ...]
    ipv4: tuple[int, ...]
    ipv6: tuple[str, ...]
    vid: int
    pcp: int
    vap_id: int
    phase: Phase
    last_seen: float
    origin: Origin = Origin.GRPC
    vm_class: str = ""

    @property
    def active(self) -> bool:
        """The VM's frames are forwarded."""
        return self.phase.active

    def with_phase(self, phase: Phase, now: float) -> VmRecord:
        """This record in a new phase, refreshed at `now`."""
        return replace(self, phase=phase, last_seen=now)

    def touched(self, now: float) -> VmRecord:
        """This record with its keep-alive timer refreshed."""
        return replace(self, last_seen=now)


@dataclass(frozen=True, slots=True)
class Location:
    """Where the mapping authority says an active VM's MAC lives."""

    vni: int
    mac: int
    vtep_ip: int
    vm_id: str
    switch: str


TERMINATED = Phase(State.TERMINATED)
