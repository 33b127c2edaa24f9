"""`make demo`: the lab from nothing to a measured live migration, narrated step by step.

1. hypervisor agents associate VMs in two VNs on both NVEs (signalling API)
2. ping inside each VN across the VXLAN overlay, and between VNs (isolated)
3. an ACL: the controller restarts with a policy that denies TCP/22 in VN blue; one blocked and
   one allowed flow
4. live migration of VM a from nve1 to nve2 under a 1,000 packets/s probe; the loss window
5. the picture of the migration (PNG)
6. each NVE's tables (`nvectl show ...`), then the lab goes down (unless --keep) and a summary
   that ends with `migration loss window: N ms`

`--store etcd`: the same with one controller per NVE (ctl1: nve1, ctl2: nve2) sharing VM
locations through the lab's etcd; each hypervisor signals its own NVE's controller.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bmv2_lab import controller, spec
from bmv2_lab.agent import Agent
from bmv2_lab.lab import DEFAULT_NAME, DEFAULT_RUN_DIR, ROOT, Lab, down, up
from bmv2_lab.migration import migrate_with_probe
from bmv2_lab.plot import migration_png
from controlplane.p4rt import p4names
from controlplane.signalling.grpc_client import NveClient

OUT_DIR = ROOT / "run" / "demo"
ACL_DROP_REASON = 5            # DROP_ACL_DENY in p4src/include/defines.p4
STEPS = 6
SHARING_TIMEOUT = 10.0         # s: each NVE installs the other NVE's VMs from etcd
FDB_TABLE = p4names.FDB.rsplit(".", 1)[-1]
FORWARD_REMOTE = p4names.FORWARD_REMOTE.rsplit(".", 1)[-1]


@dataclass
class Checks:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> str:
        (self.passed if ok else self.failed).append(what)
        return "ok" if ok else "UNEXPECTED"


def say(text: str = "") -> None:
    print(text, flush=True)


def step(number: int, title: str) -> None:
    say()
    say(f"== Step {number}/{STEPS}: {title}")


def _vm_line(vm: str) -> str:
    v = spec.vm(vm)
    return f"VM {vm} ({v.vn}, {v.ip}, {v.mac})"


def _etcd(lab: Lab) -> bool:
    return lab.state.store == "etcd"


async def associate_all(lab: Lab, checks: Checks) -> None:
    """Step 1: every VM associated by its hypervisor, which then tags its frames."""
    for v in spec.VMS:
        hv = spec.hypervisor(v.hv)
        via = f" ({spec.ETCD_CONTROLLERS[hv.nve]})" if _etcd(lab) else ""
        async with Agent(lab, v.hv) as agent:
            started = time.monotonic()
            answer = await agent.associate(v.name)
            took = (time.monotonic() - started) * 1000
        if answer.success:
            say(f"  {v.hv} -> {hv.nve}{via} port {hv.port}: Associate {_vm_line(v.name)}")
            say(f"      SUCCESS: VID {answer.vid}, PCP {answer.pcp}, state {answer.state} "
                f"({took:.0f} ms); {v.hv} now tags VM {v.name}'s frames with VID {answer.vid}")
        else:
            say(f"  {v.hv}: Associate {_vm_line(v.name)} -> FAIL {answer.reason}: {answer.detail}")
        checks.expect(answer.success, f"associate {v.name}")


async def _remote_vms(lab: Lab, nve: str) -> set[str]:
    """The VMs that `nve` forwards to another VTEP (its controller learned them from etcd)."""
    async with NveClient(lab.state.controller_for(nve), None, identity="admin") as admin:
        rows = (await admin.read_tables(nve, FDB_TABLE)).rows
    remote = " ".join(r.match for r in rows if r.action == FORWARD_REMOTE)
    return {v.name for v in spec.VMS if f"0x{v.mac.replace(':', '')}" in remote}


async def shared_locations(lab: Lab, checks: Checks) -> None:
    """Step 1, etcd store: each NVE learns the other NVE's VMs through etcd."""
    say(f"  locations are shared through etcd at {lab.state.etcd_endpoint}: each controller "
        f"publishes its own VMs (lease TTL {spec.ETCD_LEASE_TTL} s) and watches the other's")
    started = time.monotonic()
    expected = {n.name: {v.name for v in spec.VMS if spec.hypervisor(v.hv).nve != n.name}
                for n in spec.NVES}
    learned: dict[str, set[str]] = {}
    while time.monotonic() - started < SHARING_TIMEOUT:
        learned = {nve: await _remote_vms(lab, nve) for nve in expected}
        if learned == expected:
            break
        await asyncio.sleep(0.05)
    took = (time.monotonic() - started) * 1000
    for nve, vms in expected.items():
        got = learned.get(nve, set())
        verdict = checks.expect(got == vms, f"{nve} learned {', '.join(sorted(vms))} from etcd")
        say(f"  {nve} ({spec.ETCD_CONTROLLERS[nve]}) forwards VMs {', '.join(sorted(got)) or '-'}"
            f" of the other NVE to its VTEP (expected {', '.join(sorted(vms))}): {verdict}")
    say(f"  (both within {took:.0f} ms of the last association)")


def _where(lab: Lab, vm: str) -> str:
    hv = lab.state.attachments.get(vm, {}).get("hv", spec.vm(vm).hv)
    return spec.hypervisor(str(hv)).nve


def connectivity(lab: Lab, checks: Checks) -> None:
    """Step 2: reachability inside each VN, isolation between them."""
    pairs = [("a", "b"), ("c", "d"), ("a", "d"), ("c", "b")]
    for src, dst in pairs:
        s, d = spec.vm(src), spec.vm(dst)
        same = s.vn == d.vn
        path = (f"{_where(lab, src)} -> VXLAN {spec.VNS[s.vn]} -> {_where(lab, dst)}" if same
                else f"{s.vn} -> {d.vn}")
        result = lab.hosts.ping(src, d.ip)
        verdict = checks.expect(result.ok if same else result.received == 0,
                                f"ping {src} -> {dst} {'reachable' if same else 'isolated'}")
        expected = "reachable" if same else "isolated (different VN)"
        say(f"  {src} -> {dst}  {path:<34} ping {d.ip:<14} {result.text():<46} "
            f"{expected}: {verdict}")
    if lab.state.mode == "netns":
        kv = spec.KERNEL_VTEP
        result = lab.hosts.ping("a", kv.host_ip)
        verdict = checks.expect(result.ok, "ping a -> host behind the kernel VTEP")
        say(f"  a -> khost  {'nve1 -> VXLAN 5001 -> Linux VTEP':<34} ping {kv.host_ip:<14} "
            f"{result.text():<46} reachable: {verdict}")


def acl(lab: Lab, checks: Checks) -> int:
    """Step 3: apply the deny rule (controller restart, reconciliation) and show both flows."""
    before = lab.hosts.tcp("a", spec.vm("b").ip, 22)
    say(f"  before: a -> b TCP/22 (SSH): {before}")
    checks.expect(before == "open", "TCP/22 open before the ACL")
    rule = spec.ACL_RULE
    say(f"  policy 'acl': VN blue gets rule priority {rule['priority']}: {rule['action']} "
        f"{rule['direction']} ip_proto {rule['ip_proto']} (TCP) dport {rule['l4_dport']}")
    started = time.monotonic()
    by_controller = controller.restart(lab.state, "acl")
    written = sum(by_controller.values())
    took = time.monotonic() - started
    if _etcd(lab):
        say(f"  ctl1 and ctl2 restart with it, one after the other; each reads its own NVE back "
            f"and writes only the difference: {written} updates "
            f"({', '.join(f'{k} {n}' for k, n in by_controller.items())}; {took:.1f} s)")
        say(f"  (their VMs stay in etcd meanwhile: a controller that stops leaves its lease to "
            f"expire ({spec.ETCD_LEASE_TTL} s), and the restarted one takes its keys over)")
    else:
        say(f"  the controller restarts with it, reads both NVEs back and writes only the "
            f"difference: {written} updates ({took:.1f} s)")
    blocked = lab.hosts.tcp("a", spec.vm("b").ip, 22)
    allowed = lab.hosts.tcp("a", spec.vm("b").ip, 80)
    say(f"  a -> b TCP/22 (SSH):  {blocked:<8} blocked by the ACL: "
        f"{checks.expect(blocked == 'timeout', 'TCP/22 blocked by the ACL')}")
    say(f"  a -> b TCP/80 (HTTP): {allowed:<8} allowed: "
        f"{checks.expect(allowed == 'open', 'TCP/80 allowed under the ACL')}")
    nve = _where(lab, "a")
    try:
        counters = json.loads(nvectl(lab.state.controller_for(nve), "show", "counters", "--nve",
                                     nve, "--json", capture=True))
    except ValueError:
        counters = []
    for c in counters:
        if c.get("name") == "ingress_drops" and c.get("index") == ACL_DROP_REASON:
            say(f"  nvectl show counters --nve {nve}: ingress_drops[{ACL_DROP_REASON}] "
                f"(ACL deny) = {c['packets']} packets, {c['bytes']} bytes")
    return written


def nvectl(server: str, *args: str, capture: bool = False) -> str:
    """Run nvectl against the lab's controller at `server` as operator 'admin'."""
    command = [*controller.nvectl(), *args, "--server", server, "--insecure", "--as", "admin"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    text = proc.stdout + (proc.stderr if proc.returncode else "")
    if not capture:
        say(text.rstrip())
    return text


async def run(*, mode: str, target: str, keep: bool, rate: int, duration: float,
              run_dir: Path = DEFAULT_RUN_DIR, name: str = DEFAULT_NAME,
              out_dir: Path = OUT_DIR, store: str = "local") -> int:
    checks = Checks()
    say("NVE lab demo: two P4 NVEs, four hypervisors, four VMs in two VNs, a Linux VTEP peer"
        + (", one controller per NVE sharing VM locations through etcd" if store == "etcd"
           else ""))
    if (run_dir / "state.json").exists():
        say("(a lab is already up in this run directory: the demo starts from a fresh one)")
        down(name=name, run_dir=run_dir, progress=lambda m: say(f"  [lab] {m}"))
    say("Starting the lab:")
    started = time.monotonic()
    lab = up(name=name, run_dir=run_dir, mode=mode, target=target, policy="base", store=store,
             progress=lambda m: say(f"  [lab] {m}"))
    say(f"  [lab] up in {time.monotonic() - started:.1f} s; "
        f"mode {lab.state.mode.upper()}, target {lab.state.target}")
    torn_down = False
    try:
        step(1, "hypervisor agents associate VMs in VNs blue and red on both NVEs "
                "(signalling API)")
        await associate_all(lab, checks)
        if _etcd(lab):
            await shared_locations(lab, checks)

        step(2, "connectivity inside each VN across the VXLAN overlay, isolation between VNs")
        connectivity(lab, checks)

        step(3, "apply an ACL: one blocked and one allowed flow")
        acl(lab, checks)

        step(4, f"live migration of VM a from nve1 to nve2 under a {rate} packets/s probe (b -> a)")
        say(f"  probe: VM b sends {rate} numbered UDP datagrams/s to VM a for {duration:.0f} s; "
            "meanwhile the hypervisors signal (times from the probe's start):")
        migration = await migrate_with_probe(lab, rate=rate, duration=duration,
                                             narrate=lambda t: say(f"  {t}"))
        result = migration.result
        checks.expect(migration.ok, "every migration step answered SUCCESS")
        if _etcd(lab):
            checks.expect(migration.displaced is not None, "hv1 told DISPLACED by ctl1")
        window = result.loss_window_ms
        first, missing = result.longest_gap()
        say(f"  probe: sent {result.sent}, received {result.sent - result.lost}, lost "
            f"{result.lost}; longest gap {missing} packets (from seq {first}) -> loss window "
            f"{window:.0f} ms")
        say("  (it opens when nve2 is written, first: b's packets for a then stay on nve2 and "
            "reach hv2 before a runs there;")
        rest = ("the commit, ctl2's claim in etcd, the answer" if _etcd(lab)
                else "nve1's write, the commit, the answer")
        say(f"   it closes when hv2 resumes a after the SUCCESS: the rest of Immigration(Asso) - "
            f"{rest} - and the switch-over)")
        after = lab.hosts.ping("a", spec.vm("b").ip)
        say(f"  after the move: a -> b ping {after.text()} (now both on nve2): "
            f"{checks.expect(after.ok, 'ping a -> b after the migration')}")

        step(5, "the picture of the migration")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "probe.json").write_text(json.dumps(
            {**result.to_json(), "marks": migration.marks}))
        png = migration_png(result, migration.marks, out_dir / "migration.png",
                            f"Live migration of VM a, nve1 -> nve2 ({lab.state.mode} lab, "
                            f"{lab.state.target} target): loss window {window:.0f} ms")
        say(f"  written: {png}  (probe packets received per ms, signalling steps marked)")

        step(6, "the tables of each NVE (nvectl show ...)"
                + (", each from its own controller" if _etcd(lab) else ""))
        for instance in controller.instances(lab.state):
            server = controller.address(lab.state, instance)
            if _etcd(lab):
                say(f"# {instance.key}, the controller of {', '.join(instance.nves)}:")
            for args in (("show", "vms"), ("show", "vns"),
                         *(("show", "tables", "--nve", nve) for nve in instance.nves)):
                say(f"$ nvectl {' '.join(args)} --server {server} --insecure --as admin")
                nvectl(server, *args)
        say()
        if keep:
            say("The lab stays up (--keep). Explore it:")
            for instance in controller.instances(lab.state):
                say(f"  .venv/bin/nvectl show vms --server "
                    f"{controller.address(lab.state, instance)} --insecure --as admin"
                    + (f"   # {instance.key}: {', '.join(instance.nves)}" if _etcd(lab) else ""))
            say("  .venv/bin/python -m bmv2_lab ping a 192.168.10.2")
            if lab.state.mode == "netns":
                say(f"  ip netns exec {name}-vm-b ip address   # any command inside a VM")
            say("  make lab-down    # when done")
        else:
            say("Tearing the lab down:")
            down(name=name, run_dir=run_dir, progress=lambda m: say(f"  [lab] {m}"))
            torn_down = True
    except BaseException:
        if not keep and not torn_down:
            say("The demo failed: tearing the lab down")
            down(name=name, run_dir=run_dir, progress=lambda m: say(f"  [lab] {m}"))
        raise
    say()
    say("Summary")
    say(f"  mode {lab.state.mode} ({'root: namespaces' if lab.state.mode == 'netns' else 'no root: UDP loopback'}), "
        f"target {lab.state.target}")
    if _etcd(lab):
        say(f"  store etcd: ctl1 (nve1) and ctl2 (nve2) shared VM locations through etcd at "
            f"{lab.state.etcd_endpoint}")
    say(f"  checks: {len(checks.passed)} as expected, {len(checks.failed)} unexpected"
        + (f" ({'; '.join(checks.failed)})" if checks.failed else ""))
    say(f"  probe: {result.rate} packets/s, {result.sent} sent, {result.lost} lost")
    say(f"  picture: {png}")
    say(f"migration loss window: {window:.0f} ms")
    return 1 if checks.failed else 0


def main(args: object) -> int:
    return asyncio.run(run(mode=args.mode, target=args.target, keep=args.keep,  # type: ignore[attr-defined]
                           rate=args.rate, duration=args.duration,  # type: ignore[attr-defined]
                           run_dir=Path(args.run_dir), name=args.name,  # type: ignore[attr-defined]
                           out_dir=Path(args.out_dir or OUT_DIR),  # type: ignore[attr-defined]
                           store=args.store))  # type: ignore[attr-defined]

