"""A hypervisor agent: it signals its NVE through the signalling API of the controller that
programs that NVE (as `nvectl vm ... --as HV` would), and configures its own virtual switch with
the VID the NVE assigned."""

from __future__ import annotations

import ipaddress
from types import TracebackType
from typing import Self

from bmv2_lab import spec
from bmv2_lab.lab import Lab
from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import Answer, VmRefRequest, VmRequest, VnSelector, parse_mac


class Agent:
    """Hypervisor `hv` of the lab; `async with Agent(lab, "hv1") as hv1: ...`."""

    def __init__(self, lab: Lab, hv: str) -> None:
        self.lab = lab
        self.spec = spec.hypervisor(hv)
        self.name = hv
        self.client = NveClient(lab.state.controller_for(self.spec.nve), None, identity=hv)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    def request(self, event: Event, vm: str) -> VmRequest:
        """The VM's network properties as this hypervisor signals them."""
        v = spec.vm(vm)
        return VmRequest(event, v.uuid, VnSelector(name=v.vn), macs=(parse_mac(v.mac),),
                         ipv4=(int(ipaddress.IPv4Address(v.ip)),), nve=self.spec.nve,
                         port=self.spec.port)

    async def signal(self, event: Event, vm: str) -> Answer:
        """One request; the answer may be FAIL."""
        if event in (Event.PRE_ASSOCIATE, Event.ASSOCIATE, Event.IMMIGRATE_PRE_ASSOCIATE,
                     Event.IMMIGRATE_ASSOCIATE):
            return await self.client.signal(self.request(event, vm))
        return await self.client.signal(VmRefRequest(event, spec.vm(vm).uuid))

    async def associate(self, vm: str) -> Answer:
        """Associate, then tag the VM's frames with the VID the NVE answered."""
        answer = await self.signal(Event.ASSOCIATE, vm)
        if answer.success:
            self.lab.hosts.attach(vm, self.name, answer.vid)
            self.lab.attach_record(vm, self.name, answer.vid)
        return answer

    async def prepare_immigration(self, vm: str) -> Answer:
        """Immigration(Pre-Asso): the NVE reserves the VAP (inactive); we get the VM's VLAN
        ready on our virtual switch before the VM arrives."""
        answer = await self.signal(Event.IMMIGRATE_PRE_ASSOCIATE, vm)
        if answer.success:
            self.lab.hosts.prepare(vm, self.name, answer.vid)
        return answer

    def switch_over(self, vm: str, vid: int, source: str) -> float:
        """The VM resumes here: its interface moves from hypervisor `source` to us (time done)."""
        done = self.lab.hosts.attach(vm, self.name, vid, move_from=source)
        self.lab.attach_record(vm, self.name, vid)
        return done

    def release(self, vm: str, vid: int) -> None:
        """Remove what our virtual switch held for a VM that left."""
        self.lab.hosts.detach(vm, self.name, vid)
