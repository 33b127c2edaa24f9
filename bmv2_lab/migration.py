"""Live migration of a VM between NVEs while the probe runs, as the hypervisors signal it:

1. hv2 -> nve2  Immigration(Pre-Asso): VAP reserved on nve2, inactive; hv2 readies the VM's VLAN.
2. hv2 -> nve2  Immigration(Asso), the switch-over: the controller makes nve2's VAP active and
                emigrates nve1's in the same request, writing nve2 first (make-before-break).
                On SUCCESS hv2 resumes the VM: its interface moves behind hv2.
3. hv1 -> nve1  Emigration: confirms the old location (already inactive: no table write).
4. hv1 -> nve1  Termination: nve1 forgets the VM; hv1 removes its VLAN.

With the etcd store nve1 and nve2 have their own controllers (ctl1, ctl2): in step 2 ctl2 writes
nve2 and claims the VM in etcd (compare-and-set); ctl1 sees the claim on its etcd watch, emigrates
its copy on nve1 and tells hv1 (DISPLACED); steps 3 and 4 then go to ctl1.

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
from controlplane.signalling.messages import Answer, Notification, NotificationKind

NOTICE_TIMEOUT = 5.0           # s: the source's controller learns of the claim through etcd


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
    displaced: Notification | None = None    # etcd store: what the source hypervisor was told

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


async def _displaced(agent: Agent, vm_id: str) -> tuple[float, Notification]:
    """The first DISPLACED notification `agent` gets for `vm_id`, and when it came."""
    async for note in agent.client.notifications():
        if note.vm_id == vm_id and note.kind is NotificationKind.DISPLACED:
            return time.monotonic(), note
    raise ConnectionError("the notification stream ended")


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
    shared = lab.state.store == "etcd"
    src_ctl, dst_ctl = spec.ETCD_CONTROLLERS[src_nve], spec.ETCD_CONTROLLERS[dst_nve]
    emigrates = (f"{dst_ctl} claims VM {vm} in etcd (compare-and-set), {src_ctl} learns it "
                 f"through its watch and emigrates its copy on {src_nve}" if shared
                 else f"the controller emigrates it on {src_nve}")
    steps: list[Step] = []
    displaced: Notification | None = None
    async with Agent(lab, target) as dst, Agent(lab, source) as src:
        probe = asyncio.create_task(asyncio.to_thread(lab.hosts.probe, sender, vm, rate,
                                                      duration))
        # Subscribed before the switch-over (the probe's lead leaves it the time).
        notice = asyncio.create_task(_displaced(src, spec.vm(vm).uuid)) if shared else None
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
                          f"{emigrates})", sent, answered, asso))
        if asso.success:
            moved = dst.switch_over(vm, asso.vid, source)
            steps.append(Step(f"VM resumed behind {target}",
                              f"{target}: VM {vm} resumed, its frames now tagged VID {asso.vid}",
                              answered, moved))
        await asyncio.sleep(0.3)
        if notice is not None and asso.success:
            # The source emigrates once its controller has seen the claim in etcd.
            try:
                told, displaced = await asyncio.wait_for(notice, NOTICE_TIMEOUT)
                steps.append(Step(f"DISPLACED {source} ({src_ctl}'s etcd watch)",
                                  f"{src_ctl} -> {source}: DISPLACED VM {vm}, now active at "
                                  f"{displaced.new_nve} ({src_ctl} saw the claim on its etcd "
                                  "watch)", told, told))
            except (TimeoutError, ConnectionError):
                now = time.monotonic()
                steps.append(Step(f"no DISPLACED {source}", f"{source} was not told DISPLACED "
                                  f"within {NOTICE_TIMEOUT:.0f} s", now, now))
        elif notice is not None:
            notice.cancel()

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
    steps.sort(key=lambda s: s.sent)
    migration = Migration(vm, source, target, result, steps, displaced)
    for step in steps:
        took = (step.answered - step.sent) * 1000
        outcome = f" -> {_answer_text(step.answer)}" if step.answer is not None else ""
        duration = f" ({took:.1f} ms)" if step.answered > step.sent else ""   # not a notice
        narrate(f"t={(step.sent - result.start) * 1000:7.1f} ms  {step.text}{outcome}"
                f"{duration}")
    return migration
