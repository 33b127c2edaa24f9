"""Hash algorithms against known vectors (bmv2 1.15.5 calculations.cpp definitions)."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import eth_prog, field, hexv, prim  # noqa: E402

from softswitch.engine import Switch, load_program  # noqa: E402
from softswitch.engine import hashes as H  # noqa: E402

CHECK = b"123456789"


def test_crc_check_values():
    assert H.crc16(CHECK) == 0xBB3D  # CRC-16/ARC: poly 0x8005, reflected, init 0
    assert H.crc32(CHECK) == 0xCBF43926  # CRC-32
    assert H.crc_ccitt(CHECK) == 0x29B1  # CRC-16/CCITT-FALSE
    assert H.crc8_custom(CHECK) == 0xF4  # CRC-8 (bmv2 default custom config)
    assert H.crc16_custom(CHECK) == H.crc16(CHECK)
    assert H.crc32_custom(CHECK) == H.crc32(CHECK)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 3, bytes(range(256)), b"hello world"])
def test_crc32_matches_zlib(data):
    assert H.crc32(data) == zlib.crc32(data)


def _ref_crc16(data: bytes) -> int:
    # bit-by-bit CRC-16/ARC (reflected 0xA001)
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\x00\x7f", bytes(range(200))])
def test_crc16_bitwise_reference(data):
    assert H.crc16(data) == _ref_crc16(data)


def test_crc64_custom_default_config_bitwise():
    # bmv2 crc64_custom default: poly 0x1B, init 0, xor 0, reflected in/out
    def ref(data: bytes) -> int:
        poly = int(f"{0x1B:064b}"[::-1], 2)
        crc = 0
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        return crc

    for d in (CHECK, b"", b"\xde\xad\xbe\xef"):
        assert H.crc64_custom(d) == ref(d)


def _rfc1071(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = 0
    for (w,) in struct.iter_unpack("!H", data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x45\x00\x00\x1c", bytes(range(1, 40)), b"\xff" * 9])
def test_csum16(data):
    assert H.csum16(data) == _rfc1071(data)


def test_csum16_ipv4_header():
    hdr = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    c = H.csum16(hdr)
    assert c == 0xB861
    assert H.csum16(hdr[:10] + c.to_bytes(2, "big") + hdr[12:]) == 0


def test_identity_xor_xxh64():
    assert H.identity(b"\x01\x02") == 0x0102
    assert H.identity(bytes(range(1, 11))) == 0x0102030405060708  # only the first 8 bytes
    assert H.xor16(b"\x12\x34\x56\x78\x9a") == 0x1234 ^ 0x5678 ^ 0x9A00
    assert H.xor32(b"\x01\x02\x03\x04\x05") == 0x01020304 ^ 0x05000000
    assert H.xxh64(b"") == 0xEF46DB3751D8E999
    assert H.xxh64(b"abc") == 0x44BC2CF5AD770999
    assert H.xxh64(bytes(range(100))) == H.xxh64(bytes(range(100)))


def test_round_robin_is_stateful_per_instance():
    a = H.make_hash("round_robin")
    b = H.make_hash("round_robin")
    assert [a(b"x"), a(b"y"), a(b"x")] == [0, 1, 2]
    assert b(b"x") == 0
    c = H.make_hash("round_robin_consistent")
    assert [c(b"x"), c(b"y"), c(b"x")] == [0, 1, 0]
    assert H.make_hash("nope") is None


@pytest.mark.parametrize("algo", ["crc16", "crc32", "identity", "csum16", "xor16", "crcCCITT"])
def test_modify_field_with_hash_based_offset(algo):
    """hash(dst, algo, base, {eth.dst, eth.etype}, max): (h(fields) % max) + base, fields packed at
    bit level and zero-padded to a byte."""
    p = eth_prog()
    p.calculations.append({"name": "calc_0", "id": 0, "algo": algo, "input": [
        {"type": "field", "value": ["ethernet", "dst"]},
        {"type": "hexstr", "value": "0x05", "bitwidth": 4},
        {"type": "field", "value": ["ethernet", "etype"]},
    ]})
    aid = p.action("ingress.h", [], [
        prim("modify_field_with_hash_based_offset", field("ethernet", "src"), hexv(10),
             {"type": "calculation", "value": "calc_0"}, hexv(1000)),
        prim("assign", field("standard_metadata", "egress_spec"), hexv(1)),
    ])
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    sw = Switch(load_program(p.build()))
    pkt = bytes.fromhex("0a0b0c0d0e0f" "111213141516" "0800") + b"xy"
    out = sw.process(0, pkt)
    bits = (0x0A0B0C0D0E0F << 20) | (0x5 << 16) | 0x0800  # 68 bits -> padded to 72
    data = (bits << 4).to_bytes(9, "big")
    expect = (H.make_hash(algo)(data) % 1000) + 10
    assert int.from_bytes(out[0][1][6:12], "big") == expect


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\xff\xff\x00", bytes(range(7))])
@pytest.mark.parametrize("algo", ["csum16", "crc32"])
def test_calculation_with_payload_matches_reference(payload, algo):
    """verify/update_checksum_with_payload: fields (bit-packed, 12 bits here -> padded) + payload."""
    import random

    from softswitch.bmv2json.calculations import CalcInput, Calculation
    from softswitch.engine.calc import compile_calculation
    from softswitch.engine.codegen import Gen, RuntimeObjects
    from softswitch.engine.layout import PAYLOAD, Layout

    p = eth_prog()
    p.header_type("x_t", [["a", 4, False], ["b", 8, False], ["c", 4, False]])
    p.header("x", "x_t")
    prog = load_program(p.build())
    layout = Layout(prog.model)
    gen = Gen(layout, RuntimeObjects(), prog.model)
    calc = Calculation("c", 0, algo, (CalcInput("field", ("x", "a")), CalcInput("field", ("x", "b")),
                                       CalcInput("payload", None)))
    fn = compile_calculation(gen, calc)
    r = random.Random(5)
    for _ in range(50):
        F = layout.template()
        h = layout.headers["x"]
        F[h.base], F[h.base + 1] = r.randrange(16), r.randrange(256)
        F[h.valid] = r.choice([0, 1])
        F[PAYLOAD] = payload
        bits, n = 0, 0
        if F[h.valid]:
            bits, n = (F[h.base] << 8) | F[h.base + 1], 12
        data = (bits << (-n % 8)).to_bytes((n + 7) // 8, "big") + payload
        assert fn(F) == H.make_hash(algo)(data)
