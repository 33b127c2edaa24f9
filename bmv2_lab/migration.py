"""Live migration of a VM between NVEs while the probe runs, as the hypervisors signal it:

1. hv2 -> nve2  Immigration(Pre-Asso): VAP reserved on nve2, inactive; hv2 readies the VM's VLAN.
2. hv2 -> nve2  Immigration(Asso), the switch-over: the controller makes nve2's VAP active and
                emigrates nve1's in the same request, writing nve2 first (make-before-break).
                On SUCCESS hv2 resumes the VM: its interface moves behind hv2.
3. hv1 -> nve1  Emigration: confirms the old location (already inactive: no table write).
4. hv1 -> nve1  Termination: nve1 forgets the VM; hv1 removes its VLAN.

The probe (another VM sending numbered datagrams to the migrating one) measures the gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bmv2_lab import spec
from bmv2_lab.agent import Agent
from bmv2_lab.lab import Lab
from bmv2_lab.probe import ProbeResult
from controlplane.lifecycle import Event
from controlplane.signalling.messages import Answer


@dataclass
class Step:
    label: str                 # short, for the picture
    text: str                  # for the narration
    sent: float
    answered: float
    answer: Answer | None = None


@dataclass
class Migration:
    vm: str
    source: str
    target: str
    result: ProbeResult
    steps: list[Step] = field(default_factory=list)

    @property
    def marks(self) -> list[tuple[str, float]]:
        return [(s.label, s.sent) for s in self.steps]

    @property
    def ok(self) -> bool:
        return all(s.answer is None or s.answer.success for s in self.steps)


def _answer_text(answer: Answer) -> str:
    if not answer.success:
        return f"FAIL ({answer.reason.value}: {answer.detail})"  # type: ignore[union-attr]
    return f"SUCCESS, VID {answer.vid}, state {answer.state}"


async def migrate_with_probe(lab: Lab, *, vm: str = spec.MIGRATING_VM,
                             target: str = spec.MIGRATION_TARGET,
                             sender: str = spec.PROBE_SENDER, rate: int = 1000,
                             duration: float = 3.0, lead: float = 1.0,
                             narrate: Callable[[str], None] = lambda _text: None) -> Migration:
    """Migrate `vm` to hypervisor `target` while `sender` probes it; the probe and the steps."""
    where = lab.state.attachments.get(vm)
    if where is None:
        raise RuntimeError(f"VM {vm} is not attached anywhere: associate it first")
    source, old_vid = str(where["hv"]), int(where["vid"])
    src_nve, dst_nve = spec.hypervisor(source).nve, spec.hypervisor(target).nve
    steps: list[Step] = []
    async with Agent(lab, target) as dst, Agent(lab, source) as src:
        probe = asyncio.create_task(asyncio.to_thread(lab.hosts.probe, sender, vm, rate,
                                                      duration))
        await asyncio.sleep(lead)

        sent = time.monotonic()
        pre = await dst.prepare_immigration(vm)
        steps.append(Step(f"Immigration(Pre-Asso) {dst_nve}",
                          f"{target} -> {dst_nve}: Immigration(Pre-Asso) VM {vm}", sent,
                          time.monotonic(), pre))
        await asyncio.sleep(0.3)

        sent = time.monotonic()
        asso = await dst.signal(Event.IMMIGRATE_ASSOCIATE, vm)
        answered = time.monotonic()
        steps.append(Step(f"Immigration(Asso) {dst_nve}: switch-over",
                          f"{target} -> {dst_nve}: Immigration(Asso) VM {vm} (switch-over; "
                          f"the controller emigrates it on {src_nve})", sent, answered, asso))
        if asso.success:
            moved = dst.switch_over(vm, asso.vid, source)
            steps.append(Step(f"VM resumed behind {target}",
                              f"{target}: VM {vm} resumed, its frames now tagged VID {asso.vid}",
                              answered, moved))
        await asyncio.sleep(0.3)

        sent = time.monotonic()
        emig = await src.signal(Event.EMIGRATE, vm)
        steps.append(Step(f"Emigration {src_nve}", f"{source} -> {src_nve}: Emigration VM {vm}",
                          sent, time.monotonic(), emig))
        await asyncio.sleep(0.2)

        sent = time.monotonic()
        term = await src.signal(Event.TERMINATE, vm)
        if term.success:
            src.release(vm, old_vid)
        steps.append(Step(f"Termination {src_nve}", f"{source} -> {src_nve}: Termination VM {vm}",
                          sent, time.monotonic(), term))
        result = await probe
    migration = Migration(vm, source, target, result, steps)
    for step in steps:
        took = (step.answered - step.sent) * 1000
        outcome = f" -> {_answer_text(step.answer)}" if step.answer is not None else ""
        narrate(f"t={(step.sent - result.start) * 1000:7.1f} ms  {step.text}{outcome} "
                f"({took:.1f} ms)")
    return migration
