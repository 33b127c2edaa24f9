"""The mapping authority: where each active VM's MAC lives (VN, MAC -> VTEP).

Remote FDB entries and the head-end replication lists follow it. The in-process authority
derives locations from the controller's own records, which is right while one controller
manages every NVE; the etcd authority (controlplane/store/etcd.py) implements the same Protocol
for many controllers, one per NVE or rack, that publish the VMs they host and watch the others.

The service calls, under its mutex: `check` before writing a change to the switches, `publish`
after the change is on the switches and in SQLite (a claim that fails makes the service roll the
change back and answer BUSY), and `displaced`/`reconcile` from `NveService.sync_mapping`, which the
authority calls back whenever what it knows changed (`start(on_change)`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from controlplane.errors import NveError
from controlplane.model import Location, VmRecord

if TYPE_CHECKING:
    from controlplane.config import ControllerConfig

Key = tuple[str, str]          # (vm_id, hypervisor), as in the service


class MappingUnavailable(NveError):
    """The authority cannot take a change now (store unreachable, or lost a race too often)."""


@dataclass(frozen=True, slots=True)
class Displacement:
    """Another NVE claimed one of our active VMs after we did: ours must step aside."""

    vm_id: str
    new_nve: str
    detail: str


class MappingAuthority(Protocol):
    """Answers where VMs are, given the records this controller holds."""

    def locations(self, records: Iterable[VmRecord]) -> list[Location]:
        """Every known location of an active VM's MAC: ours from `records`, and the others'."""

    async def check(self, before: Mapping[Key, VmRecord],
                    after: Mapping[Key, VmRecord]) -> None:
        """Raise MappingUnavailable now if going from `before` to `after` needs the authority
        and it is known to be unreachable (before anything is written)."""

    async def publish(self, before: Mapping[Key, VmRecord],
                      after: Mapping[Key, VmRecord]) -> None:
        """Tell the authority about the change; MappingUnavailable when a VM could not be
        claimed (the caller rolls back). Withdrawals that cannot be written now are kept and
        written by the next `reconcile`."""

    def displaced(self, records: Iterable[VmRecord]) -> list[Displacement]:
        """Our active VMs that another NVE has claimed since we did."""

    async def reconcile(self, records: Mapping[Key, VmRecord]) -> None:
        """Make the authority agree with `records` about our VMs (after a restart, a lost lease,
        an outage); never takes a VM another NVE holds active."""

    async def start(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Begin; `on_change()` is awaited (one at a time) whenever the view changed."""

    async def close(self) -> None:
        """Stop watching; what we published stays until our lease ends."""


class InProcessMapping:
    """Locations from this controller's own records: every NVE is one of ours."""

    def __init__(self, vteps: Mapping[str, int]) -> None:
        self.vteps = dict(vteps)   # switch name -> VTEP IP

    def locations(self, records: Iterable[VmRecord]) -> list[Location]:
        """One location per MAC of each active VM, at its switch's VTEP."""
        return [Location(r.vni, mac, self.vteps[r.switch], r.vm_id, r.switch)
                for r in records if r.active for mac in r.macs]

    async def check(self, before: Mapping[Key, VmRecord],
                    after: Mapping[Key, VmRecord]) -> None:
        """Always available."""

    async def publish(self, before: Mapping[Key, VmRecord],
                      after: Mapping[Key, VmRecord]) -> None:
        """Nothing to tell: the records are the mapping."""

    def displaced(self, records: Iterable[VmRecord]) -> list[Displacement]:
        """The service displaces its own records itself."""
        return []

    async def reconcile(self, records: Mapping[Key, VmRecord]) -> None:
        """Nothing to reconcile."""

    async def start(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to stop."""


def open_mapping(cfg: ControllerConfig) -> MappingAuthority:
    """The authority `cfg.store` asks for: in-process (kind "local") or etcd."""
    if cfg.store.kind == "etcd":
        from controlplane.store.etcd import EtcdMapping  # noqa: PLC0415 - only etcd users need it

        return EtcdMapping.from_config(cfg)
    return InProcessMapping({sw.name: sw.vtep_ip for sw in cfg.switches})
