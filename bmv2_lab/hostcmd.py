"""What a VM does in the namespace lab, run inside its namespace with `ip netns exec`:

    python -m bmv2_lab.hostcmd ping DST [--count N]       ICMP echo (no iputils needed)
    python -m bmv2_lab.hostcmd tcp DST PORT               TCP connect: open | refused | timeout
    python -m bmv2_lab.hostcmd serve                      listen on the lab's TCP ports
    python -m bmv2_lab.hostcmd probe-recv --duration S    receive the probe; JSON at the end
    python -m bmv2_lab.hostcmd probe-send DST --duration S --rate R

Each prints one JSON object (probe-recv prints "ready" first). Standard library only: it starts
fast in each namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import struct
import sys
import time

from bmv2_lab import probe
from bmv2_lab.spec import OPEN_TCP_PORTS, PROBE_PORT

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(dst: str, count: int, interval: float, timeout: float) -> dict[str, object]:
    """ICMP echo requests to `dst`; the round-trip times of the replies (ms)."""
    ident = os.getpid() & 0xFFFF
    rtts: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        for seq in range(1, count + 1):
            body = struct.pack("!d", time.monotonic()) + b"nve-lab-ping".ljust(48, b".")
            header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
            packet = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, _checksum(header + body),
                                 ident, seq) + body
            sent = time.monotonic()
            sock.sendto(packet, (dst, 0))
            deadline = sent + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    break
                data, _addr = sock.recvfrom(2048)
                ihl = (data[0] & 0x0F) * 4
                kind, _code, _sum, r_ident, r_seq = struct.unpack_from("!BBHHH", data, ihl)
                if kind == ICMP_ECHO_REPLY and r_ident == ident and r_seq == seq:
                    rtts.append((time.monotonic() - sent) * 1000)
                    break
            if seq < count:
                time.sleep(max(0.0, interval - (time.monotonic() - sent)))
    return {"sent": count, "received": len(rtts), "rtts": rtts}


def tcp(dst: str, port: int, timeout: float) -> dict[str, object]:
    """Try a TCP connection: open, refused, or timeout (no answer, e.g. dropped by an ACL)."""
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((dst, port))
            result = "open"
        except ConnectionRefusedError:
            result = "refused"
        except TimeoutError:
            result = "timeout"
        except OSError as exc:
            result = f"error: {exc.strerror}"
    return {"result": result, "ms": (time.monotonic() - started) * 1000}


def serve(ports: tuple[int, ...]) -> None:
    """Accept (and close) TCP connections on `ports`, forever."""
    listeners = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(16)
        listeners.append(sock)
    while True:
        ready, _, _ = select.select(listeners, [], [])
        for sock in ready:
            conn, _ = sock.accept()
            conn.close()


def probe_recv(port: int, duration: float) -> dict[str, object]:
    """Record (seq, arrival time) of every probe datagram, for `duration` seconds at most or
    until the sender's end marker."""
    received: list[list[float]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("0.0.0.0", port))
        print("ready", flush=True)
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data = sock.recv(2048)
            now = time.monotonic()
            seq = probe.parse(data)
            if seq == probe.END_SEQ:
                break
            if seq is not None:
                received.append([seq, now])
    return {"received": received}


def probe_send(dst: str, port: int, rate: int, duration: float) -> dict[str, object]:
    """Send the probe to dst:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start, sent = probe.send_loop(lambda data: sock.sendto(data, (dst, port)), rate, duration)
        time.sleep(0.05)                              # the last datagrams in flight first
        for _ in range(3):
            sock.sendto(probe.payload(probe.END_SEQ, time.monotonic()), (dst, port))
            time.sleep(0.01)
    return {"start": start, "sent": sent, "rate": rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bmv2_lab.hostcmd")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ping")
    p.add_argument("dst")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=1.0)
    t = sub.add_parser("tcp")
    t.add_argument("dst")
    t.add_argument("port", type=int)
    t.add_argument("--timeout", type=float, default=1.0)
    sub.add_parser("serve")
    r = sub.add_parser("probe-recv")
    r.add_argument("--port", type=int, default=PROBE_PORT)
    r.add_argument("--duration", type=float, required=True)
    s = sub.add_parser("probe-send")
    s.add_argument("dst")
    s.add_argument("--port", type=int, default=PROBE_PORT)
    s.add_argument("--rate", type=int, default=probe.DEFAULT_RATE)
    s.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "ping":
        result = ping(args.dst, args.count, args.interval, args.timeout)
    elif args.command == "tcp":
        result = tcp(args.dst, args.port, args.timeout)
    elif args.command == "serve":
        serve(OPEN_TCP_PORTS)
        return 0
    elif args.command == "probe-recv":
        result = probe_recv(args.port, args.duration)
    else:
        result = probe_send(args.dst, args.port, args.rate, args.duration)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
