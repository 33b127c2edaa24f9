"""Real p4c-bm2-ss output: tests/data/engine/diff1.json (compiled from diff1.p4 and committed),
and the team's program p4src/build/nve.json when it has been built."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data" / "engine"
sys.path.insert(0, str(DATA))

from softswitch.engine import Exact, Switch, TableEntry, load_program  # noqa: E402
from softswitch.engine.hashes import crc16, csum16  # noqa: E402

DIFF1 = DATA / "diff1.json"
NVE = Path(__file__).parent.parent / "p4src" / "build" / "nve.json"

pytestmark = pytest.mark.skipif(not DIFF1.exists(), reason="diff1.json not generated yet")

INFO_LEN = 1 + 1 + 2 + 4 + 2 + 8 + 4 + 4 + 1 + 1 + 1 + 1 + 2 + 4 + 4 + 2


def ipv4(dst: int, ttl: int = 64, proto: int = 17, good: bool = True, ihl: int = 5, ver: int = 4) -> bytes:
    opts = bytes(range((ihl - 5) * 4)) if ihl > 5 else b""
    h = bytearray(struct.pack("!BBHHHBBHII", (ver << 4) | ihl, 0, 20 + len(opts) + 4, 1, 0, ttl, proto, 0,
                              0xC0A80001, dst) + opts)
    c = csum16(bytes(h)) ^ (0 if good else 1)
    h[10:12] = struct.pack("!H", c)
    return bytes(h) + struct.pack("!HH", 1234, 80)  # l4_t is just the ports: info ends the frame


def info(frame: bytes, offset: int | None = None) -> dict:
    """The info header: at ``offset``, or ending the frame (no unparsed payload)."""
    v = frame[-INFO_LEN:] if offset is None else frame[offset:offset + INFO_LEN]
    names = ["perr", "ckerr", "h16", "h32", "hcs", "hid", "plen", "reg", "path", "sval", "misc", "sat", "rid",
             "inst", "eplen", "xr"]
    vals = struct.unpack("!BBHIHQIIBbBBHIIH", v)
    return dict(zip(names, vals))


@pytest.fixture()
def sw() -> Switch:
    s = Switch(load_program(DIFF1.read_text()))
    s.strict = True
    return s


def test_program_shape():
    prog = load_program(DIFF1.read_text())
    assert {"Ing.t_exact", "Ing.t_lpm", "Ing.t_tern", "Ing.t_valid"} <= set(prog.tables)
    assert prog.tables["Ing.t_exact"].has_const_entries
    kinds = [k.match_type for k in prog.tables["Ing.t_tern"].keys]
    assert kinds == ["ternary", "range"]
    assert prog.counters["Ing.cnt"].size == 8


def test_route_decrements_ttl_and_updates_checksum(sw):
    pkt = (1).to_bytes(6, "big") + (0x1122).to_bytes(6, "big") + b"\x08\x00" + ipv4(0x0A010203, ttl=9)
    out = sw.process(1, pkt)
    assert [p for p, _ in out] == [6]  # lpm /24 wins over the exact table's set_port(1)
    f = out[0][1]
    ip = f[14:34]
    assert ip[8] == 8
    assert csum16(ip) == 0
    i = info(f)
    assert i["perr"] == 0 and i["ckerr"] == 0
    assert i["plen"] == len(pkt) and i["eplen"] == len(pkt) + INFO_LEN
    assert i["h16"] == crc16((1).to_bytes(6, "big") + b"\x08\x00")
    assert f[-INFO_LEN - 4 - 20:-INFO_LEN - 4] == ip


def test_parser_errors_reported(sw):
    base = (0x10).to_bytes(6, "big") + bytes(6) + b"\x08\x00"
    # the unparsed bytes follow the deparsed headers (eth [+ ipv4]) and the info header
    assert info(sw.process(1, base + ipv4(0x0B000001)[:10])[0][1], 14)["perr"] == 1
    assert info(sw.process(1, base + ipv4(0x0B000001, ver=6))[0][1], 34)["perr"] == 2
    assert info(sw.process(1, base + ipv4(0x0B000001, good=False))[0][1])["ckerr"] == 1
    f = sw.process(1, base + ipv4(0x0B000001, ihl=7))[0][1]
    assert info(f)["perr"] == 0 and info(f)["ckerr"] == 0


def test_multicast_and_exit(sw):
    sw.set_multicast_group(1, [(4, 7), (5, 9)])
    pkt = (0xFFFFFFFFFFFF).to_bytes(6, "big") + bytes(6) + b"\x88\x01" + b"\x00\x01\x00\x02"
    out = sw.process(2, pkt)
    assert [p for p, _ in out] == [4, 5]
    assert [info(f)["rid"] for _, f in out] == [7, 9]
    assert all(info(f)["inst"] == 5 for _, f in out)
    pkt = (0x0A0B0C0D0EEE).to_bytes(6, "big") + (0x11).to_bytes(6, "big") + b"\x12\x34"
    f = sw.process(2, pkt)[0][1]
    assert info(f)["sat"] == 0xFF  # 0xee |+| 0x11 saturates; exit skipped the final "^ 0x5a"
    pkt = (0x0A0B0C0D0E01).to_bytes(6, "big") + (0x11).to_bytes(6, "big") + b"\x12\x34"
    assert info(sw.process(2, pkt)[0][1])["sat"] == 0x12 ^ 0x5A


def test_registers_and_counters(sw):
    pkt = (0x0203).to_bytes(6, "big") + bytes(6) + b"\x12\x34"
    regs = [info(sw.process(3, pkt)[0][1])["reg"] for _ in range(3)]
    assert regs == [0, 3, 6]  # reg[3] += dst[15:8] + 1
    assert sw.counter("Ing.cnt").read(3) == (3, 3 * len(pkt))


@pytest.mark.skipif(not NVE.exists(), reason="p4src/build/nve.json not built")
def test_team_program_loads_and_forwards_something():
    prog = load_program(NVE.read_text())
    s = Switch(prog, cpu_port=510)
    assert prog.tables
    for port in (0, 1, 510):
        s.process(port, bytes(64))  # must not raise
