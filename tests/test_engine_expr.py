"""Expression and primitive semantics (bmv2 Data: infinite precision, truncation on write)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import eth_prog, expr, field, hexv, prim, rd  # noqa: E402

from softswitch.engine import Switch, load_program  # noqa: E402

PKT = bytes.fromhex("0a0b0c0d0e0f" "111213141516" "0800") + b"\xaa\xbb"


def run_action(prims: list, params=(), args=(), setup=None) -> bytes:
    """Run ``prims`` as the const default action of an ingress table, forward to port 1, and
    return the output frame (ethernet header deparsed + payload)."""
    p = eth_prog()
    if setup:
        setup(p)
    body = [prim("assign", field("standard_metadata", "egress_spec"), hexv(1))] + prims
    aid = p.action("ingress.act", list(params), body)
    p.table("ingress", "ingress.t", [], [aid], default=(aid, [hex(a) for a in args]), const_default=True)
    sw = Switch(load_program(p.build()))
    sw.strict = True
    out = sw.process(0, PKT)
    assert len(out) == 1 and out[0][0] == 1
    return out[0][1]


def etype(frame: bytes) -> int:
    return int.from_bytes(frame[12:14], "big")


def src(frame: bytes) -> int:
    return int.from_bytes(frame[6:12], "big")


def test_assign_truncates_to_field_width():
    f = run_action([prim("assign", field("ethernet", "etype"),
                         expr("+", field("ethernet", "etype"), hexv(0xFFFF)))])
    assert etype(f) == (0x0800 + 0xFFFF) & 0xFFFF


def test_subtraction_wraps_two_complement():
    f = run_action([prim("assign", field("ethernet", "etype"), expr("-", hexv(1), hexv(3)))])
    assert etype(f) == 0xFFFE


def test_infinite_precision_before_truncation():
    # (etype << 20) >> 20 keeps the value: intermediates are not truncated (bmv2 Data)
    e = expr(">>", expr("<<", field("ethernet", "etype"), hexv(20)), hexv(20))
    f = run_action([prim("assign", field("ethernet", "etype"), e)])
    assert etype(f) == 0x0800


def test_bit_negation_is_masked_by_p4c_and_by_the_field():
    f = run_action([prim("assign", field("ethernet", "etype"), expr("~", None, field("ethernet", "etype")))])
    assert etype(f) == 0xF7FF
    e = expr("&", expr("~", None, field("ethernet", "etype")), hexv(0xFF))
    f = run_action([prim("assign", field("ethernet", "etype"), e)])
    assert etype(f) == 0xFF


def test_signed_field_two_complement_and_comparison():
    # scalars.s8 is int<8>: 200 stored becomes -56; -56 < 0 is true
    cond = expr("<", field("scalars", "s8"), hexv(0))
    prims = [
        prim("assign", field("scalars", "s8"), hexv(200)),
        prim("assign", field("ethernet", "etype"), expr("?", hexv(1), hexv(2), cond)),
        prim("assign", field("ethernet", "src"), field("scalars", "s8")),
    ]
    f = run_action(prims)
    assert etype(f) == 1
    assert src(f) == (1 << 48) - 56  # -56 written to a bit<48>


def test_two_comp_mod_and_saturating_casts():
    f = run_action([prim("assign", field("ethernet", "etype"),
                         expr("+", expr("two_comp_mod", hexv(-129), hexv(8)), hexv(0)))])
    assert etype(f) == 127
    f = run_action([prim("assign", field("ethernet", "etype"), expr("usat_cast", hexv(300), hexv(8)))])
    assert etype(f) == 255
    f = run_action([prim("assign", field("ethernet", "etype"), expr("sat_cast", hexv(-300), hexv(8)))])
    assert etype(f) == 0x10000 - 128


def test_division_modulo_and_zero_divisor():
    f = run_action([prim("assign", field("ethernet", "etype"), expr("/", hexv(100), hexv(7)))])
    assert etype(f) == 14
    f = run_action([prim("assign", field("ethernet", "etype"), expr("%", hexv(100), hexv(7)))])
    assert etype(f) == 2
    f = run_action([prim("assign", field("ethernet", "etype"), expr("/", hexv(100), hexv(0)))])
    assert etype(f) == 0


def test_bool_conversions_and_logic():
    t = expr("==", field("ethernet", "etype"), hexv(0x0800))
    fl = expr("!=", field("ethernet", "etype"), hexv(0x0800))
    e = expr("b2d", None, expr("and", t, expr("not", None, fl)))
    f = run_action([prim("assign", field("ethernet", "etype"), e)])
    assert etype(f) == 1
    e = expr("b2d", None, expr("or", fl, expr("d2b", None, hexv(0))))
    f = run_action([prim("assign", field("ethernet", "etype"), e)])
    assert etype(f) == 0


def test_runtime_data_and_valid():
    vexpr = expr("b2d", None, expr("valid", None, {"type": "header", "value": "ethernet"}))
    f = run_action([prim("assign", field("ethernet", "etype"), expr("+", rd(0), vexpr))],
                   params=[("x", 16)], args=[0x1233])
    assert etype(f) == 0x1234
    # the hidden $valid$ field reads 1 for a valid header
    f = run_action([prim("assign", field("ethernet", "etype"), field("ethernet", "$valid$"))])
    assert etype(f) == 1


def test_shifts_by_runtime_amounts():
    f = run_action([prim("assign", field("ethernet", "etype"), expr("<<", hexv(1), rd(0)))],
                   params=[("s", 8)], args=[15])
    assert etype(f) == 0x8000
    f = run_action([prim("assign", field("ethernet", "etype"), expr("<<", hexv(1), rd(0)))],
                   params=[("s", 32)], args=[1 << 31])
    assert etype(f) == 0


def test_setvalid_zeroes_fields_and_setinvalid_removes_header():
    def setup(p):
        p.header_type("tag_t", [["a", 8, False], ["b", 8, False]])
        p.header("tag", "tag_t")
        p.deparse = ["ethernet", "tag"]

    f = run_action([prim("add_header", {"type": "header", "value": "tag"})], setup=setup)
    assert f == PKT[:14] + b"\x00\x00" + PKT[14:]
    f = run_action([prim("remove_header", {"type": "header", "value": "ethernet"})], setup=setup)
    assert f == PKT[14:]


def test_header_copy_assign_header():
    def setup(p):
        p.header("eth2", "ethernet_t")
        p.deparse = ["eth2", "ethernet"]

    f = run_action([prim("assign_header", {"type": "header", "value": "eth2"}, {"type": "header", "value": "ethernet"}),
                    prim("assign", field("eth2", "etype"), hexv(0x88B5))], setup=setup)
    assert f == PKT[:12] + b"\x88\xb5" + PKT[:14] + PKT[14:]


def test_legacy_arith_primitives():
    f = run_action([prim("add_to_field", field("ethernet", "etype"), hexv(2)),
                    prim("bit_or", field("ethernet", "src"), hexv(0xF0), hexv(0x0F))])
    assert etype(f) == 0x0802
    assert src(f) == 0xFF


def test_jumps():
    # _jump_if_zero(0, 3) skips the assign at index 2
    prims = [prim("assign", field("scalars", "tmp"), hexv(0)),
             prim("_jump_if_zero", field("scalars", "tmp"), hexv(3)),
             prim("assign", field("ethernet", "etype"), hexv(0x1111)),
             prim("assign", field("ethernet", "src"), hexv(0x2222))]
    # the builder prepends one primitive, so shift the target by one
    prims[1] = prim("_jump_if_zero", field("scalars", "tmp"), hexv(4))
    f = run_action(prims)
    assert etype(f) == 0x0800
    assert src(f) == 0x2222


def test_exit_stops_the_control_after_the_action():
    p = eth_prog()
    a1 = p.action("ingress.a1", [], [prim("assign", field("standard_metadata", "egress_spec"), hexv(2)),
                                     prim("exit"),
                                     prim("assign", field("ethernet", "etype"), hexv(0x1234))])
    a2 = p.action("ingress.a2", [], [prim("assign", field("standard_metadata", "egress_spec"), hexv(3))])
    p.table("ingress", "ingress.t1", [], [a1], next_={"ingress.a1": "ingress.t2"}, default=(a1, []))
    p.table("ingress", "ingress.t2", [], [a2], default=(a2, []))
    sw = Switch(load_program(p.build()))
    out = sw.process(0, PKT)
    # exit does not stop the remaining primitives of the action, only the control
    assert out == [(2, PKT[:12] + b"\x12\x34" + PKT[14:])]


@pytest.mark.parametrize("port", [0, 5, 510])
def test_ingress_port_and_instance_type_visible(port):
    e = expr("+", field("standard_metadata", "ingress_port"), field("standard_metadata", "instance_type"))
    p = eth_prog()
    aid = p.action("ingress.a", [], [prim("assign", field("ethernet", "etype"), e),
                                     prim("assign", field("standard_metadata", "egress_spec"), hexv(1)),
                                     prim("assign", field("ethernet", "src"), field("standard_metadata", "packet_length"))])
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    out = Switch(load_program(p.build())).process(port, PKT)
    assert etype(out[0][1]) == port
    assert src(out[0][1]) == len(PKT)
