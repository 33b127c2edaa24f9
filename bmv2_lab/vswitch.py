"""The hypervisors' virtual switch in the namespace lab: a userspace datapath (like Open vSwitch's)
that tags each VM's frames with the VID its NVE assigned on the way to the NVE, and strips the
tag on the way back. One daemon serves every hypervisor namespace of the lab.

    python -m bmv2_lab.vswitch --lab nvelab --control run/lab/vswitch.sock

Why userspace: the kernels this lab runs on may lack 802.1Q (CONFIG_VLAN_8021Q), bridge VLAN
filtering and tc's vlan action; AF_PACKET sockets are always there. Each socket is opened
inside its hypervisor's namespace (setns), so the daemon touches no other interface. The VM's
vNIC `v-VM` of each hypervisor it is plugged into sits in that hypervisor's namespace; a
migration plugs one into the destination ahead of time (request `attach` with active false), and
the switch-over (`attach` with `move_from`) only changes which hypervisor forwards the VM's frames:
moving an interface between namespaces would take tens of milliseconds.
Control: JSON lines on a Unix socket, the same requests as the loopback fabric's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import struct
import time
from typing import Any

from bmv2_lab import netns, spec, topology
from softswitch.ports.rawsock import RawPort

log = logging.getLogger("bmv2_lab.vswitch")
TPID = b"\x81\x00"


class VSwitch:
    """Uplinks of every hypervisor, VM ports as they attach, and the VID of each."""

    def __init__(self, lab: str, loop: asyncio.AbstractEventLoop) -> None:
        self.lab = lab
        self.loop = loop
        self.uplinks: dict[str, RawPort] = {}
        self.vm_ports: dict[tuple[str, str], RawPort] = {}      # (hv, vm) -> port
        self.vid_of: dict[tuple[str, str], int] = {}             # (hv, vm) -> VID
        self.by_vid: dict[tuple[str, int], str] = {}             # (hv, VID) -> vm
        for hv in spec.HYPERVISORS:
            with netns.enter(topology.ns_name(lab, hv.name)):
                port = RawPort(0, "uplink")
            self.uplinks[hv.name] = port
            loop.add_reader(port.sock.fileno(), self._from_nve, hv.name, port)

    # -- datapath -----------------------------------------------------------------------------
    def _from_nve(self, hv: str, port: RawPort) -> None:
        while True:
            try:
                frame = port.receive()
            except BlockingIOError:
                return
            except OSError:
                return
            if frame is None or len(frame) < 18 or frame[12:14] != TPID:
                continue
            vid = struct.unpack_from("!H", frame, 14)[0] & 0x0FFF
            vm = self.by_vid.get((hv, vid))
            target = self.vm_ports.get((hv, vm)) if vm is not None else None
            if target is not None:
                with contextlib.suppress(OSError):
                    target.send(frame[:12] + frame[16:])

    def _from_vm(self, hv: str, vm: str, port: RawPort) -> None:
        while True:
            try:
                frame = port.receive()
            except BlockingIOError:
                return
            except OSError:
                return
            vid = self.vid_of.get((hv, vm))
            if frame is None or vid is None or len(frame) < 14:
                continue
            with contextlib.suppress(OSError):
                self.uplinks[hv].send(frame[:12] + TPID + struct.pack("!H", vid) + frame[12:])

    # -- control ------------------------------------------------------------------------------
    def _deactivate(self, hv: str, vm: str) -> None:
        vid = self.vid_of.pop((hv, vm), None)
        if vid is not None and self.by_vid.get((hv, vid)) == vm:
            del self.by_vid[(hv, vid)]

    def _close(self, hv: str, vm: str) -> None:
        self._deactivate(hv, vm)
        port = self.vm_ports.pop((hv, vm), None)
        if port is not None:
            self.loop.remove_reader(port.sock.fileno())
            port.close()

    def _open(self, hv: str, vm: str) -> None:
        if (hv, vm) in self.vm_ports:
            return
        with netns.enter(topology.ns_name(self.lab, hv)):
            port = RawPort(0, f"v-{vm}")
        self.vm_ports[(hv, vm)] = port
        self.loop.add_reader(port.sock.fileno(), self._from_vm, hv, vm, port)

    def attach(self, vm: str, hv: str, vid: int, move_from: str | None, active: bool) -> float:
        """Open VM `vm`'s vNIC port on `hv` (plugged by the lab beforehand); when `active`,
        forward its frames with `vid`, and stop forwarding them at `move_from` in the same
        step: the switch-over of a migration."""
        self._open(hv, vm)
        if active:
            if move_from is not None and move_from != hv:
                self._deactivate(move_from, vm)
            self._deactivate(hv, vm)
            self.vid_of[(hv, vm)] = vid
            self.by_vid[(hv, vid)] = vm
        log.info("VM %s %s %s, VID %d%s", vm, "runs behind" if active else "plugged into", hv,
                 vid, f" (left {move_from})" if move_from else "")
        return time.monotonic()

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "hello":
            return {"ok": True, "pid": os.getpid()}
        if op == "attach":
            t = self.attach(request["vm"], request["hv"], int(request["vid"]),
                            request.get("move_from"), bool(request.get("active", True)))
            return {"ok": True, "t": t}
        if op == "detach":
            self._close(request["hv"], request["vm"])
            return {"ok": True}
        raise ValueError(f"unknown op {op!r}")


async def serve(vswitch: VSwitch, path: str) -> None:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    answer = await vswitch.handle(json.loads(line))
                except Exception as exc:  # noqa: BLE001 - answered to the caller
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(client, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("vswitch up: %d hypervisors, control %s", len(vswitch.uplinks), path)
    async with server:
        await stop.wait()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmv2_lab.vswitch")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--control", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        await serve(VSwitch(args.lab, asyncio.get_running_loop()), args.control)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
