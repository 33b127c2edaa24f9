"""python -m bmv2_lab up|down|status|demo|associate|ping|policy (see --help)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bmv2_lab import controller, spec
from bmv2_lab.etcd import EtcdError
from bmv2_lab.lab import DEFAULT_NAME, DEFAULT_RUN_DIR, MODES, STORES, Lab, LabError, down, up
from bmv2_lab.state import LabState
from bmv2_lab.targets import TARGETS, TargetError


def _lab_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR),
                        help="state, logs and sockets (default %(default)s)")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help="prefix of the lab's namespaces (default %(default)s)")


def _up_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="netns (root), loopback (no root), or auto (default)")
    parser.add_argument("--target", choices=TARGETS, default="embedded",
                        help="embedded softswitch (default) or bmv2 simple_switch_grpc")
    parser.add_argument("--store", choices=STORES, default="local",
                        help="local: one controller for both NVEs (default); etcd: one per NVE, "
                             "sharing VM locations through an etcd the lab starts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bmv2_lab",
        description="Two P4 NVEs, hypervisors, VMs, live migration and a Linux VTEP peer.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the lab and its controller (make lab-up)")
    _lab_options(p)
    _up_options(p)
    p.add_argument("--policy", choices=controller.POLICIES, default="base")
    p = sub.add_parser("down", help="remove the lab, also after a crash (make lab-down)")
    _lab_options(p)
    p = sub.add_parser("status", help="what is up")
    _lab_options(p)
    p = sub.add_parser("demo", help="the narrated demo (make demo)")
    _lab_options(p)
    _up_options(p)
    p.add_argument("--keep", action="store_true", help="leave the lab up to explore")
    p.add_argument("--rate", type=int, default=1000, help="probe packets/s (default 1000)")
    p.add_argument("--duration", type=float, default=3.0, help="probe seconds (default 3)")
    p.add_argument("--out-dir", help="the migration's picture and probe data (default run/demo)")
    p = sub.add_parser("associate", help="a VM's hypervisor associates it and tags its frames")
    _lab_options(p)
    p.add_argument("vm", choices=[v.name for v in spec.VMS])
    p = sub.add_parser("ping", help="ping from a VM (or khost, behind the kernel VTEP)")
    _lab_options(p)
    p.add_argument("vm", choices=[v.name for v in spec.VMS] + ["khost"])
    p.add_argument("dst", help="an IPv4 address or a VM name")
    p.add_argument("--count", type=int, default=3)
    p = sub.add_parser("policy", help="restart the controller(s) with another policy")
    _lab_options(p)
    p.add_argument("policy", choices=controller.POLICIES)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        if args.command == "up":
            lab = up(name=args.name, run_dir=run_dir, mode=args.mode, target=args.target,
                     policy=args.policy, store=args.store)
            print(f"lab up ({lab.state.mode}, {lab.state.target}); {_controllers(lab.state)}. "
                  "Try:\n"
                  f"  .venv/bin/python -m bmv2_lab associate a && "
                  f".venv/bin/python -m bmv2_lab associate b\n"
                  f"  .venv/bin/python -m bmv2_lab ping a b\n"
                  + "".join(f"  .venv/bin/nvectl show vms --server {addr} --insecure --as admin\n"
                            for addr in _servers(lab.state))
                  + "  make lab-down")
            return 0
        if args.command == "down":
            down(name=args.name, run_dir=run_dir)
            return 0
        if args.command == "demo":
            from bmv2_lab import demo
            return demo.main(args)
        lab = Lab.open(run_dir)
        if args.command == "status":
            st = lab.state
            where = (_controllers(st) if st.store == "etcd"
                     else f"controller {st.controller_addr}")
            print(f"lab {st.name}: mode {st.mode}, target {st.target}, policy {st.policy}, "
                  f"{where}")
            for key, rec in st.processes.items():
                alive = "running" if key not in lab.healthy() else "NOT RUNNING"
                print(f"  {key:<12} pid {rec.pid:<8} {alive}  log {rec.log}")
            for vm, where in st.attachments.items():
                print(f"  VM {vm}: behind {where['hv']}, VID {where['vid']}")
            return 0 if not lab.healthy() else 1
        if args.command == "associate":
            return asyncio.run(_associate(lab, args.vm))
        if args.command == "ping":
            dst = args.dst
            if not dst[0].isdigit():
                dst = spec.KERNEL_VTEP.host_ip if dst == "khost" else spec.vm(dst).ip
            result = lab.hosts.ping(args.vm, dst, args.count)
            print(f"{args.vm} -> {dst}: {result.text()}")
            return 0 if result.ok else 1
        if args.command == "policy":
            written = controller.restart(lab.state, args.policy)
            if lab.state.store == "etcd":
                print(f"controllers {', '.join(written)} restarted with policy {args.policy}: "
                      f"{sum(written.values())} updates written "
                      f"({', '.join(f'{k} {n}' for k, n in written.items())})")
            else:
                print(f"controller restarted with policy {args.policy}: "
                      f"{sum(written.values())} updates written")
            return 0
    except (LabError, TargetError, EtcdError, controller.ControllerError, ValueError) as exc:
        print(f"bmv2_lab: {exc}", file=sys.stderr)
        return 2
    return 2


def _servers(state: LabState) -> list[str]:
    return [controller.address(state, i) for i in controller.instances(state)]


def _controllers(state: LabState) -> str:
    """Where the lab's controllers listen, for the operator."""
    if state.store != "etcd":
        return f"controller on {state.controller_addr}"
    return ("controllers " + ", ".join(f"{i.key} ({', '.join(i.nves)}) on "
                                       f"{controller.address(state, i)}"
                                       for i in controller.instances(state))
            + f", sharing VM locations through etcd at {state.etcd_endpoint}")


async def _associate(lab: Lab, vm: str) -> int:
    from bmv2_lab.agent import Agent

    hv = spec.vm(vm).hv
    async with Agent(lab, hv) as agent:
        answer = await agent.associate(vm)
    if not answer.success:
        print(f"{hv}: associate {vm}: FAIL ({answer.reason}): {answer.detail}", file=sys.stderr)
        return 1
    print(f"{hv}: VM {vm} associated on {spec.hypervisor(hv).nve} port "
          f"{spec.hypervisor(hv).port}: VID {answer.vid}, state {answer.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
