"""Differential runner: the same packets through bmv2 simple_switch (pcap files, private network
namespace) and through softswitch.engine; outputs compared per egress port.

Usage as a script::

    python tests/data/engine/diffrun.py tests/data/engine/diff1.json [count]
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLCHAIN = Path(os.environ.get("P4_TOOLCHAIN", "/opt/p4-toolchain/bin"))
NPORTS = 8
PORTS = tuple(range(NPORTS)) + (255,)  # 255: the NVE program's CPU port


def simple_switch() -> Path | None:
    p = TOOLCHAIN / "simple_switch"
    if p.exists():
        return p
    w = shutil.which("simple_switch")
    return Path(w) if w else None


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def gen_packets(n: int, seed: int = 1) -> list[tuple[int, bytes]]:
    """Deterministic mix of well-formed and malformed frames for diff1.p4."""
    r = random.Random(seed)
    out = []
    for i in range(n):
        dst = r.choice([1, 2, 0xFF, 0x0A0B0C0D0EEE, 0xFFFFFFFFFFFF, 0x000000000100 | r.randrange(256),
                        r.randrange(1 << 48), 0x00AB0CDE0100 | r.randrange(256)])
        src = r.randrange(1 << 48)
        kind = r.random()
        payload = bytes(r.randrange(256) for _ in range(r.randrange(0, 40)))
        if kind < 0.7:
            ver = 4 if r.random() < 0.9 else 6
            ihl = 5 if r.random() < 0.6 else r.choice([3, 6, 7, 10, 15])
            opts = bytes(r.randrange(256) for _ in range(max(0, ihl - 5) * 4))
            proto = r.choice([6, 17, 1, 6, 17])
            frag = 0 if r.random() < 0.85 else r.randrange(1, 8192)
            ttl = r.choice([0, 1, 2, 64, 255])
            sip = r.choice([0xC0A80001, 0xC0A80102, 0x0A000001, r.randrange(1 << 32)])
            dip = r.choice([0x0A000005, 0x0A010005, 0x0A010203, 0x0B000001, r.randrange(1 << 32)])
            total = 20 + len(opts) + 8 + len(payload)
            hdr = bytearray(struct.pack("!BBHHHBBHII", (ver << 4) | ihl, r.randrange(256), total & 0xFFFF,
                                        r.randrange(1 << 16), (r.randrange(8) << 13) | frag, ttl, proto, 0,
                                        sip, dip) + opts)
            c = _csum(bytes(hdr))
            if r.random() < 0.15:
                c ^= 1 << r.randrange(16)
            hdr[10:12] = struct.pack("!H", c)
            l4 = struct.pack("!HH", r.randrange(1 << 16), r.choice([80, 443, 1500, 53, r.randrange(1 << 16)]))
            l4 += b"\x00" * 4
            ip = bytes(hdr) + l4 + payload
            if r.random() < 0.25:
                body = struct.pack("!HH", (r.randrange(8) << 13) | r.randrange(4096), 0x0800) + ip
                et = 0x8100
            else:
                body, et = ip, 0x0800
        elif kind < 0.8:
            et = 0x8800 | r.randrange(256)
            body = bytes(r.randrange(256) for _ in range(r.randrange(0, 12)))
        elif kind < 0.9:
            et = 0x8100
            body = struct.pack("!HH", r.randrange(1 << 16), r.choice([0x0800, 0x86DD])) + payload
        else:
            et = r.randrange(1 << 16)
            body = payload
        frame = dst.to_bytes(6, "big") + src.to_bytes(6, "big") + et.to_bytes(2, "big") + body
        if r.random() < 0.12:
            frame = frame[: r.randrange(0, len(frame) + 1)]
        out.append((r.choice([0, 1, 2, 3, 5]), frame))
    return out


def _write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, fr in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)


def _read_pcap(path: Path) -> list[bytes]:
    data = path.read_bytes() if path.exists() else b""
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    pos = 24
    out = []
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[pos:pos + 16])
        pos += 16
        out.append(data[pos:pos + incl])
        pos += incl
    return out


def run_bmv2(json_path: Path, packets: list[tuple[int, bytes]], cli: list[str], timeout: float = 60.0
             ) -> dict[int, list[bytes]]:
    """Run simple_switch on pcap files inside a private network namespace."""
    ss = simple_switch()
    assert ss is not None
    work = Path(tempfile.mkdtemp(prefix="ssdiff-"))
    try:
        per_port: dict[int, list[tuple[float, bytes]]] = {p: [] for p in PORTS}
        for i, (port, fr) in enumerate(packets):
            # timestamps only order the frames across the per-port input files
            per_port[port].append((1.0 + i * 0.00001, fr))
        for p in PORTS:
            _write_pcap(work / f"p{p}_in.pcap", per_port[p])
        ifs = " ".join(f"-i {p}@{work}/p{p}" for p in PORTS)
        # the pcap reader does not pace packets and simple_switch tail-drops beyond 64 packets
        # queued per egress port, so deepen the queues first
        (work / "cli.txt").write_text("\n".join(["set_queue_depth 100000"] + cli) + "\n")
        cli_bin = TOOLCHAIN / "simple_switch_CLI"
        script = f"""
set -e
ip link set lo up 2>/dev/null || true
{ss} --use-files 3 --thrift-port 9090 --log-level off {ifs} {json_path} > {work}/ss.log 2>&1 &
SS=$!
sleep 1
{cli_bin} --thrift-port 9090 < {work}/cli.txt > {work}/cli.log 2>&1 || true
sleep {4 + len(packets) * 0.002}
kill $SS
wait $SS || true
"""
        subprocess.run(["unshare", "-n", "bash", "-c", script], check=True, timeout=timeout)
        out = {p: _read_pcap(work / f"p{p}_out.pcap") for p in PORTS}
        if "error" in (work / "cli.log").read_text().lower():
            raise RuntimeError("simple_switch_CLI reported an error:\n" + (work / "cli.log").read_text()[-2000:])
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_engine(json_path: Path, packets: list[tuple[int, bytes]], groups: dict[int, list[tuple[int, int]]],
               setup=None) -> dict[int, list[bytes]]:
    from softswitch.engine import Switch, load_program

    sw = Switch(load_program(json_path.read_text()))
    sw.strict = True
    for g, reps in groups.items():
        sw.set_multicast_group(g, reps)
    if setup is not None:
        setup(sw)
    out: dict[int, list[bytes]] = {p: [] for p in PORTS}
    for port, fr in packets:
        for p, f in sw.process(port, fr):
            if p in out:
                out[p].append(f)
    return out


DIFF1_GROUPS = {1: [(4, 0), (5, 0)]}
DIFF1_CLI = ["mc_mgrp_create 1", "mc_node_create 0 4 5", "mc_node_associate 1 0"]


def compare(json_path: Path, n: int = 300, seed: int = 1) -> list[str]:
    """Return human-readable mismatches (empty == identical)."""
    pkts = gen_packets(n, seed)
    a = run_bmv2(json_path, pkts, DIFF1_CLI)
    b = run_engine(json_path, pkts, DIFF1_GROUPS)
    return diff_outputs(a, b)


def diff_outputs(a: dict[int, list[bytes]], b: dict[int, list[bytes]]) -> list[str]:
    """Human-readable per-port differences between two runs."""
    problems = []
    for p in PORTS:
        if a[p] != b[p]:
            problems.append(f"port {p}: bmv2 {len(a[p])} frames, engine {len(b[p])} frames")
            for i, (x, y) in enumerate(zip(a[p], b[p])):
                if x != y:
                    problems.append(f"  first difference at frame {i}:\n    bmv2   {x.hex()}\n    engine {y.hex()}")
                    break
    return problems


if __name__ == "__main__":
    jp = Path(sys.argv[1])
    cnt = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    t0 = time.time()
    res = compare(jp, cnt)
    print("\n".join(res) if res else f"identical ({cnt} packets, {time.time() - t0:.1f}s)")
