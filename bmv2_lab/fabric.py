"""The lab without root: the same topology on the embedded switch's UDP loopback ports, with the
underlay router, the hypervisors and the VMs played by this one process (scapy hosts).

    python -m bmv2_lab.fabric --wiring run/lab/fabric.json

Each switch port is a UDP socket pair on 127.0.0.1 (the switch's `-i N@udp:L:P` and ours). The
router forwards VXLAN between the NVEs' network ports by destination IP, rewriting MACs and
the TTL as a router does; a hypervisor tags each VM's frames with the VID its NVE assigned and
strips it on the way back; a VM answers ARP and ICMP echo, accepts TCP on the lab's ports, and
counts probe datagrams. The demo drives it through a Unix socket (JSON lines).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from bmv2_lab import probe, spec

log = logging.getLogger("bmv2_lab.fabric")

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


class Link:
    """Our end of one switch port: a UDP socket bound to `local`, sending to `peer`."""

    def __init__(self, name: str, local: int, peer: int) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", local))
        self.sock.setblocking(False)
        self.peer = ("127.0.0.1", peer)
        self.receive: Callable[[bytes], None] = lambda frame: None

    def send(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendto(frame, self.peer)

    def readable(self) -> None:
        while True:
            try:
                frame = self.sock.recv(65535)
            except BlockingIOError:
                return
            try:
                self.receive(frame)
            except Exception:
                log.exception("link %s: frame not handled", self.name)


class Router:
    """The underlay: forwards IPv4 between its links by destination, as the namespace router."""

    def __init__(self) -> None:
        # link -> (our MAC, our network); VTEP IP -> (link, MAC) from static neighbours
        self.ifaces: dict[str, tuple[bytes, ipaddress.IPv4Network]] = {}
        self.links: dict[str, Link] = {}
        self.neighbours: dict[bytes, tuple[str, bytes]] = {}

    def add(self, link: Link, mac: str, subnet: str, neighbours: dict[str, str]) -> None:
        self.links[link.name] = link
        self.ifaces[link.name] = (mac_bytes(mac), ipaddress.IPv4Network(subnet))
        for ip, neighbour_mac in neighbours.items():
            self.neighbours[socket.inet_aton(ip)] = (link.name, mac_bytes(neighbour_mac))
        link.receive = lambda frame, name=link.name: self.forward(name, frame)

    def forward(self, ingress: str, frame: bytes) -> None:
        if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[:6] != self.ifaces[ingress][0]:
            return
        ttl = frame[22]
        if ttl <= 1:
            return
        route = self.neighbours.get(frame[30:34])
        if route is None:
            return                                   # no route: dropped, as the kernel would
        egress, next_hop = route
        header = bytearray(frame[14:34])
        header[8] = ttl - 1
        header[10:12] = b"\0\0"
        header[10:12] = struct.pack("!H", _ip_checksum(bytes(header)))
        out = next_hop + self.ifaces[egress][0] + frame[12:14] + bytes(header) + frame[34:]
        self.links[egress].send(out)


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


class Hypervisor:
    """A hypervisor's virtual switch: one uplink to its NVE port, one VID per VM."""

    def __init__(self, name: str, uplink: Link) -> None:
        self.name = name
        self.uplink = uplink
        self.by_vid: dict[int, Vm] = {}
        self.vid_of: dict[str, int] = {}
        uplink.receive = self.from_nve

    def attach(self, vm: Vm, vid: int) -> None:
        self.detach(vm.name)
        self.by_vid[vid] = vm
        self.vid_of[vm.name] = vid
        vm.hypervisor = self

    def detach(self, vm_name: str) -> None:
        vid = self.vid_of.pop(vm_name, None)
        if vid is not None:
            vm = self.by_vid.pop(vid, None)
            if vm is not None and vm.hypervisor is self:
                vm.hypervisor = None

    def from_nve(self, frame: bytes) -> None:
        if len(frame) < 18 or frame[12:14] != b"\x81\x00":
            return                                     # untagged: no VM's
        vid = struct.unpack_from("!H", frame, 14)[0] & 0x0FFF
        vm = self.by_vid.get(vid)
        if vm is not None:
            vm.deliver(frame[:12] + frame[16:])

    def from_vm(self, vm: Vm, frame: bytes) -> None:
        vid = self.vid_of.get(vm.name)
        if vid is not None:
            self.uplink.send(frame[:12] + struct.pack("!HH", ETH_VLAN, vid) + frame[12:])


class Vm:
    """A VM's network stack, as much as the lab needs: ARP, ICMP echo, TCP accept, the probe."""

    def __init__(self, name: str, mac: str, ip: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name, self.mac, self.ip = name, mac, ip
        self.mac_raw = mac_bytes(mac)
        self.loop = loop
        self.hypervisor: Hypervisor | None = None
        self.arp: dict[str, str] = {}
        self._arp_waiters: dict[str, list[asyncio.Future[str]]] = {}
        self._icmp_waiters: dict[tuple[int, int], asyncio.Future[float]] = {}
        self._tcp_waiters: dict[tuple[str, int, int], asyncio.Future[str]] = {}
        self.probe_log: list[tuple[int, float]] | None = None

    # -- transmit ---------------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        hv = self.hypervisor
        if hv is not None:
            hv.from_vm(self, frame)

    async def resolve(self, ip: str, timeout: float = 1.0) -> str | None:
        if ip in self.arp:
            return self.arp[ip]
        future: asyncio.Future[str] = self.loop.create_future()
        self._arp_waiters.setdefault(ip, []).append(future)
        for _ in range(3):
            self.send(bytes(Ether(src=self.mac, dst=BROADCAST)
                            / ARP(op=1, hwsrc=self.mac, psrc=self.ip, pdst=ip)))
            with contextlib.suppress(asyncio.TimeoutError):
                return await asyncio.wait_for(asyncio.shield(future), timeout / 3)
        return None

    async def ping(self, dst: str, count: int, interval: float, timeout: float) -> dict[str, Any]:
        rtts: list[float] = []
        ident = (os.getpid() + id(self)) & 0xFFFF
        for seq in range(1, count + 1):
            started = time.monotonic()
            mac = await self.resolve(dst, timeout)
            if mac is not None:
                future: asyncio.Future[float] = self.loop.create_future()
                self._icmp_waiters[(ident, seq)] = future
                sent = time.monotonic()
                self.send(bytes(Ether(src=self.mac, dst=mac) / IP(src=self.ip, dst=dst)
                                / ICMP(type=8, id=ident, seq=seq) / (b"nve-lab-ping" * 4)))
                with contextlib.suppress(asyncio.TimeoutError):
                    rtts.append((await asyncio.wait_for(future, timeout) - sent) * 1000)
                self._icmp_waiters.pop((ident, seq), None)
            if seq < count:
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        return {"sent": count, "received": len(rtts), "rtts": rtts}

    async def tcp(self, dst: str, port: int, timeout: float) -> dict[str, Any]:
        started = time.monotonic()
        mac = await self.resolve(dst, timeout)
        result = "timeout"
        if mac is not None:
            sport = 40000 + (int(time.monotonic() * 1000) % 20000)
            future: asyncio.Future[str] = self.loop.create_future()
            self._tcp_waiters[(dst, port, sport)] = future
            self.send(bytes(Ether(src=self.mac, dst=mac) / IP(src=self.ip, dst=dst)
                            / TCP(sport=sport, dport=port, flags="S", seq=1000)))
            with contextlib.suppress(asyncio.TimeoutError):
                result = await asyncio.wait_for(future, timeout)
            self._tcp_waiters.pop((dst, port, sport), None)
        return {"result": result, "ms": (time.monotonic() - started) * 1000}

    # -- receive ----------------------------------------------------------------------------
    def deliver(self, frame: bytes) -> None:
        if frame[:6] not in (self.mac_raw, b"\xff" * 6):
            return
        # The probe's fast path: IPv4/UDP to the probe port, no scapy.
        if (self.probe_log is not None and frame[12:14] == b"\x08\x00" and frame[23] == 17
                and len(frame) >= 42):
            ihl = (frame[14] & 0x0F) * 4
            if struct.unpack_from("!H", frame, 14 + ihl + 2)[0] == spec.PROBE_PORT:
                seq = probe.parse(frame[14 + ihl + 8:])
                if seq is not None:
                    self.probe_log.append((seq, time.monotonic()))
                return
        packet = Ether(frame)
        if ARP in packet:
            self._arp(packet[ARP])
        elif IP in packet and packet[IP].dst == self.ip:
            if ICMP in packet:
                self._icmp(packet)
            elif TCP in packet:
                self._tcp(packet)

    def _arp(self, arp: ARP) -> None:
        if arp.op == 1 and arp.pdst == self.ip:
            self.arp[arp.psrc] = arp.hwsrc
            self.send(bytes(Ether(src=self.mac, dst=arp.hwsrc)
                            / ARP(op=2, hwsrc=self.mac, psrc=self.ip, hwdst=arp.hwsrc,
                                  pdst=arp.psrc)))
        elif arp.op == 2 and arp.pdst == self.ip:
            self.arp[arp.psrc] = arp.hwsrc
            for future in self._arp_waiters.pop(arp.psrc, []):
                if not future.done():
                    future.set_result(arp.hwsrc)

    def _icmp(self, packet: Ether) -> None:
        icmp = packet[ICMP]
        if icmp.type == 8:
            self.send(bytes(Ether(src=self.mac, dst=packet.src)
                            / IP(src=self.ip, dst=packet[IP].src)
                            / ICMP(type=0, id=icmp.id, seq=icmp.seq) / bytes(icmp.payload)))
        elif icmp.type == 0:
            future = self._icmp_waiters.get((icmp.id, icmp.seq))
            if future is not None and not future.done():
                future.set_result(time.monotonic())

    def _tcp(self, packet: Ether) -> None:
        tcp = packet[TCP]
        flags = str(tcp.flags)
        reply = Ether(src=self.mac, dst=packet.src) / IP(src=self.ip, dst=packet[IP].src)
        if flags == "S":
            answer = "SA" if tcp.dport in spec.OPEN_TCP_PORTS else "RA"
            self.send(bytes(reply / TCP(sport=tcp.dport, dport=tcp.sport, flags=answer,
                                        seq=5000, ack=tcp.seq + 1)))
            return
        future = self._tcp_waiters.get((packet[IP].src, tcp.sport, tcp.dport))
        if future is None or future.done():
            return
        if "S" in flags and "A" in flags:
            future.set_result("open")
            self.send(bytes(reply / TCP(sport=tcp.dport, dport=tcp.sport, flags="R",
                                        seq=tcp.ack)))
        elif "R" in flags:
            future.set_result("refused")


class Fabric:
    """Every host of the loopback lab, and the control socket the demo drives them through."""

    def __init__(self, wiring: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.links = {name: Link(name, local, peer)
                      for name, (local, peer) in wiring["links"].items()}
        self.router = Router()
        vtep_neighbours = {n.vtep_ip: n.router_mac for n in spec.NVES}
        for n in spec.NVES:
            self.router.add(self.links[f"r-{n.name}"], n.gateway_mac, n.subnet,
                            {n.vtep_ip: vtep_neighbours[n.vtep_ip]})
        self.hypervisors = {hv.name: Hypervisor(hv.name, self.links[hv.name])
                            for hv in spec.HYPERVISORS}
        self.vms = {v.name: Vm(v.name, v.mac, v.ip, loop) for v in spec.VMS}
        for link in self.links.values():
            loop.add_reader(link.sock.fileno(), link.readable)

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "hello":
            return {"ok": True, "pid": os.getpid()}
        if op == "attach":
            vm = self.vms[request["vm"]]
            if request.get("move_from"):
                self.hypervisors[request["move_from"]].detach(vm.name)
            self.hypervisors[request["hv"]].attach(vm, int(request["vid"]))
            return {"ok": True, "t": time.monotonic()}
        if op == "detach":
            hv = self.hypervisors[request["hv"]]
            hv.detach(request["vm"])
            return {"ok": True}
        if op == "ping":
            return await self.vms[request["vm"]].ping(request["dst"], int(request["count"]),
                                                      float(request["interval"]),
                                                      float(request["wait"]))
        if op == "tcp":
            return await self.vms[request["vm"]].tcp(request["dst"], int(request["port"]),
                                                     float(request["wait"]))
        if op == "probe":
            return await self._probe(request)
        raise ValueError(f"unknown op {op!r}")

    async def _probe(self, request: dict[str, Any]) -> dict[str, Any]:
        src, dst = self.vms[request["src"]], self.vms[request["dst"]]
        rate, duration = int(request["rate"]), float(request["duration"])
        mac = await src.resolve(dst.ip)
        if mac is None:
            raise RuntimeError(f"probe: {src.name} cannot resolve {dst.ip}")
        template = bytes(Ether(src=src.mac, dst=mac) / IP(src=src.ip, dst=dst.ip, id=0)
                         / UDP(sport=spec.PROBE_PORT, dport=spec.PROBE_PORT, chksum=0)
                         / probe.payload(0, 0.0))
        head = template[:-probe.PAYLOAD.size]
        log_: list[tuple[int, float]] = []
        dst.probe_log = log_

        def send(data: bytes) -> None:
            # From the sender thread: straight to the uplink socket (sendto is thread-safe).
            src.send(head + data)

        outcome: dict[str, Any] = {}

        def run() -> None:
            outcome["start"], outcome["sent"] = probe.send_loop(send, rate, duration)

        thread = threading.Thread(target=run, name="probe-sender", daemon=True)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.05)
        # The last datagrams in flight: until none arrived for 0.3 s (2 s at most).
        deadline, seen, quiet_since = time.monotonic() + 2.0, -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 0.3:
            if len(log_) != seen:
                seen, quiet_since = len(log_), time.monotonic()
            await asyncio.sleep(0.05)
        dst.probe_log = None
        return {"rate": rate, "start": outcome["start"], "sent": outcome["sent"],
                "received": [[s, t] for s, t in log_]}

    async def serve(self, path: str) -> None:
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while line := await reader.readline():
                    try:
                        answer = await self.handle(json.loads(line))
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
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, stop.set)
        log.info("fabric up: %d links, control %s", len(self.links), path)
        async with server:
            await stop.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def wiring_links(udp_ports: list[int]) -> tuple[dict[str, list[int]], dict[str, dict[int, str]]]:
    """Assign UDP ports: fabric link name -> [our port, switch port], and each switch's
    `-i` values (port number -> udp:LOCAL:PEER)."""
    ports = iter(udp_ports)
    links: dict[str, list[int]] = {}
    switch_ports: dict[str, dict[int, str]] = {n.name: {} for n in spec.NVES}
    for hv in spec.HYPERVISORS:
        ours, theirs = next(ports), next(ports)
        links[hv.name] = [ours, theirs]
        switch_ports[hv.nve][hv.port] = f"udp:{theirs}:{ours}"
    for n in spec.NVES:
        ours, theirs = next(ports), next(ports)
        links[f"r-{n.name}"] = [ours, theirs]
        switch_ports[n.name][spec.NETWORK_PORT] = f"udp:{theirs}:{ours}"
    return links, switch_ports


def link_count() -> int:
    """UDP ports the loopback lab needs (two per switch port)."""
    return 2 * (len(spec.HYPERVISORS) + len(spec.NVES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmv2_lab.fabric")
    parser.add_argument("--wiring", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wiring = json.loads(args.wiring.read_text())

    async def run() -> None:
        fabric = Fabric(wiring, asyncio.get_running_loop())
        await fabric.serve(wiring["control"])

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
