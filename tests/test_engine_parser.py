"""Parser / deparser: round trip, select (masks, value sets), errors, varbit, lookahead, checksums."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import Prog, eth_prog, expr, field, hexv, prim  # noqa: E402

from softswitch.engine import InvalidEntry, Switch, TableFull, load_program  # noqa: E402
from softswitch.engine.hashes import csum16  # noqa: E402

ETH = bytes.fromhex("0a0b0c0d0e0f" "111213141516")


def extract(h: str) -> dict:
    return {"op": "extract", "parameters": [{"type": "regular", "value": h}]}


def tr(value: str | None, nxt: str | None, mask: str | None = None, kind: str = "hexstr") -> dict:
    if value is None:
        return {"type": "default", "value": None, "mask": None, "next_state": nxt}
    return {"type": kind, "value": value, "mask": mask, "next_state": nxt}


def ipv4_prog(report_error: bool = True) -> Prog:
    """eth -> ipv4 (ihl 5, optional options as varbit) -> l4 ports; ingress writes parser_error
    and checksum_error into ethernet.src and forwards to port 1."""
    p = Prog()
    p.header_type("ethernet_t", [["dst", 48, False], ["src", 48, False], ["etype", 16, False]])
    p.header_type("ipv4_t", [["version", 4, False], ["ihl", 4, False], ["tos", 8, False], ["len", 16, False],
                             ["id", 16, False], ["flags", 3, False], ["frag", 13, False], ["ttl", 8, False],
                             ["proto", 8, False], ["csum", 16, False], ["src", 32, False], ["dst", 32, False]])
    p.header_type("opts_t", [["options", "*"]], max_length=40)
    p.header_type("ports_t", [["sp", 16, False], ["dp", 16, False]])
    for n, t in (("ethernet", "ethernet_t"), ("ipv4", "ipv4_t"), ("opts", "opts_t"), ("ports", "ports_t")):
        p.header(n, t)
    p.errors.append(["BadVersion", 7])
    p.state("start", [extract("ethernet")], [field("ethernet", "etype")],
            [tr("0x0800", "parse_ipv4"), tr(None, None)])
    ihl = field("ipv4", "ihl")
    p.state("parse_ipv4", [
        extract("ipv4"),
        {"op": "verify", "parameters": [expr("==", field("ipv4", "version"), hexv(4)),
                                        {"type": "hexstr", "value": "0x7"}]},
    ], [ihl], [tr("0x05", "parse_ports"), tr(None, "parse_opts")])
    length = expr("<<", expr("-", ihl, hexv(5)), hexv(5))  # (ihl - 5) * 32 bits
    p.state("parse_opts", [{"op": "extract_VL", "parameters": [{"type": "regular", "value": "opts"}, length]}],
            [], [tr(None, "parse_ports")])
    p.state("parse_ports", [extract("ports")])
    p.deparse = ["ethernet", "ipv4", "opts", "ports"]
    p.calculations.append({"name": "ck_calc", "id": 0, "algo": "csum16", "input": [
        {"type": "field", "value": ["ipv4", f]} for f in
        ("version", "ihl", "tos", "len", "id", "flags", "frag", "ttl", "proto", "src", "dst")] +
        [{"type": "field", "value": ["opts", "options"]}]})
    p.checksums.append({"name": "ck", "id": 0, "target": ["ipv4", "csum"], "type": "generic",
                        "calculation": "ck_calc", "verify": True, "update": False,
                        "if_cond": expr("d2b", None, field("ipv4", "$valid$"))})
    prims = [prim("assign", field("standard_metadata", "egress_spec"), hexv(1))]
    if report_error:
        prims.append(prim("assign", field("ethernet", "src"),
                          expr("|", expr("<<", field("standard_metadata", "parser_error"), hexv(8)),
                               field("standard_metadata", "checksum_error"))))
    aid = p.action("ingress.fwd", [], prims)
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    return p


def ipv4(ihl: int = 5, opts: bytes = b"", version: int = 4, good_csum: bool = True) -> bytes:
    h = bytearray(bytes([(version << 4) | ihl, 0]) + (20 + len(opts) + 4).to_bytes(2, "big") +
                  bytes.fromhex("1234" "4000" "4006" "0000" "c0a80001" "c0a80002") + opts)
    c = csum16(bytes(h))
    if not good_csum:
        c ^= 1
    h[10:12] = c.to_bytes(2, "big")
    return bytes(h)


def err_of(frame: bytes) -> tuple[int, int]:
    v = int.from_bytes(frame[6:12], "big")
    return v >> 8, v & 1


@pytest.fixture(scope="module")
def sw() -> Switch:
    s = Switch(load_program(ipv4_prog().build()))
    s.strict = True
    return s


def test_round_trip_unchanged(sw):
    plain = Switch(load_program(ipv4_prog(report_error=False).build()))
    for pkt in (ETH + b"\x08\x00" + ipv4() + b"\x00\x50\x01\xbb" + b"data",
                ETH + b"\x86\xdd" + b"x" * 30,
                ETH + b"\x08\x00" + ipv4(6, b"\x01\x02\x03\x04") + b"\x00\x50\x01\xbb",
                ETH + b"\x08\x00" + ipv4(15, bytes(range(40))) + b"\x00\x50\x01\xbb" + b"tail"):
        assert plain.process(2, pkt) == [(1, pkt)]


def test_no_error(sw):
    out = sw.process(0, ETH + b"\x08\x00" + ipv4() + b"\x00\x50\x01\xbb")
    assert err_of(out[0][1]) == (0, 0)


def test_packet_too_short_still_goes_to_ingress(sw):
    pkt = ETH + b"\x08\x00" + ipv4()[:15]
    out = sw.process(0, pkt)
    assert len(out) == 1
    assert err_of(out[0][1]) == (1, 0)  # PacketTooShort
    # the partial ipv4 is not valid, so it is left in the payload unchanged
    assert out[0][1][12:] == pkt[12:]


def test_truncated_l4_ports(sw):
    pkt = ETH + b"\x08\x00" + ipv4() + b"\x00\x50"
    out = sw.process(0, pkt)
    assert err_of(out[0][1]) == (1, 0)
    assert out[0][1][12:] == pkt[12:]


def test_verify_error_code(sw):
    pkt = ETH + b"\x08\x00" + ipv4(version=6) + b"\x00\x50\x01\xbb"
    out = sw.process(0, pkt)
    assert err_of(out[0][1])[0] == 7


def test_checksum_error_flag(sw):
    pkt = ETH + b"\x08\x00" + ipv4(good_csum=False) + b"\x00\x50\x01\xbb"
    assert err_of(sw.process(0, pkt)[0][1]) == (0, 1)
    pkt = ETH + b"\x08\x00" + ipv4(7, bytes(range(8)), good_csum=True) + b"\x00\x50\x01\xbb"
    assert err_of(sw.process(0, pkt)[0][1]) == (0, 0)  # options covered by the checksum
    pkt = ETH + b"\x08\x00" + ipv4(7, bytes(range(8)), good_csum=False) + b"\x00\x50\x01\xbb"
    assert err_of(sw.process(0, pkt)[0][1]) == (0, 1)


def test_varbit_too_long_for_packet_and_header_too_short():
    s = Switch(load_program(ipv4_prog().build()))
    pkt = ETH + b"\x08\x00" + ipv4(15, bytes(8))  # claims 40 bytes of options
    assert err_of(s.process(0, pkt)[0][1])[0] == 1
    p = ipv4_prog()
    p.header_types[-2]["max_length"] = 4  # opts at most 4 bytes -> HeaderTooShort for 8
    s = Switch(load_program(p.build()))
    pkt = ETH + b"\x08\x00" + ipv4(7, bytes(8)) + b"\x00\x50\x01\xbb"
    assert err_of(s.process(0, pkt)[0][1])[0] == 4


def _select_prog(transitions: list, key: list | None = None, vsets: list | None = None) -> Switch:
    p = eth_prog()
    p.header_type("tag_t", [["v", 8, False]])
    p.header("tag", "tag_t")
    p.states = []
    p.state("start", [extract("ethernet")], key or [field("ethernet", "etype")], transitions)
    p.state("parse_tag", [extract("tag")])
    p.deparse = ["ethernet", "tag"]
    if vsets:
        p.vsets = vsets
    aid = p.action("ingress.fwd", [], [prim("assign", field("standard_metadata", "egress_spec"),
                                            expr("+", hexv(1), field("tag", "$valid$")))])
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    s = Switch(load_program(p.build()))
    s.strict = True
    return s


def _port(s: Switch, etype: int, in_port: int = 0) -> int:
    return s.process(in_port, ETH + etype.to_bytes(2, "big") + b"\x99")[0][0]


def test_select_exact_mask_default_order():
    s = _select_prog([tr("0x8100", "parse_tag"), tr("0x0800", None, "0xff00"), tr("0x9000", "parse_tag", "0xf000"),
                      tr(None, None)])
    assert _port(s, 0x8100) == 2
    assert _port(s, 0x9abc) == 2
    assert _port(s, 0x0801) == 1
    assert _port(s, 0x1234) == 1


def test_select_default_listed_first_is_still_last():
    s = _select_prog([tr(None, None), tr("0x8100", "parse_tag")])
    assert _port(s, 0x8100) == 2


def test_select_multiple_fields_byte_padded_key():
    # key (ingress_port: 9 bits, etype: 16 bits) -> 2 + 2 bytes
    key = [field("standard_metadata", "ingress_port"), field("ethernet", "etype")]
    s = _select_prog([tr("0x01ff0800", "parse_tag"), tr(None, None)], key=key)
    assert _port(s, 0x0800, in_port=511) == 2
    assert _port(s, 0x0800, in_port=510) == 1


def test_value_set():
    vs = [{"name": "ps.vs", "id": 0, "compressed_bitwidth": 16}]
    s = _select_prog([tr("ps.vs", "parse_tag", kind="parse_vset"), tr(None, None)], vsets=vs)
    v = s.value_set("ps.vs")
    assert v.info.bitwidths == (16,)
    assert _port(s, 0x88B5) == 1
    v.set_members([((0x88B5, 0xFFFF),), ((0x1200, 0xFF00),)])
    assert _port(s, 0x88B5) == 2
    assert _port(s, 0x12AB) == 2
    assert _port(s, 0x13AB) == 1
    assert v.members() == [((0x88B5, 0xFFFF),), ((0x1200, 0xFF00),)]
    with pytest.raises(InvalidEntry):
        v.set_members([((0x1FFFF, 0xFFFF),)])
    with pytest.raises(InvalidEntry):
        v.set_members([((1, 1), (2, 2))])
    s.reset_state()
    assert _port(s, 0x88B5) == 1


def test_value_set_with_transition_mask_and_size():
    vs = [{"name": "vs", "id": 0, "compressed_bitwidth": 16, "max_size": 1}]
    s = _select_prog([tr("vs", "parse_tag", "0xff00", kind="parse_vset"), tr(None, None)], vsets=vs)
    s.value_set("vs").set_members([((0x88FF, 0xFFFF),)])
    assert _port(s, 0x8801) == 2
    with pytest.raises(TableFull):
        s.value_set("vs").set_members([((1, 0xFFFF),), ((2, 0xFFFF),)])


def test_lookahead_in_select_and_set():
    p = eth_prog()
    p.header_type("tag_t", [["v", 8, False]])
    p.header("tag", "tag_t")
    p.states = []
    p.state("start", [extract("ethernet"),
                      {"op": "set", "parameters": [field("scalars", "tmp"), {"type": "lookahead", "value": [4, 12]}]}],
            [{"type": "lookahead", "value": [0, 8]}], [tr("0xee", "parse_tag"), tr(None, None)])
    p.state("parse_tag", [extract("tag")])
    p.deparse = ["ethernet", "tag"]
    aid = p.action("ingress.fwd", [], [prim("assign", field("standard_metadata", "egress_spec"), hexv(1)),
                                       prim("assign", field("ethernet", "etype"), field("scalars", "tmp"))])
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    s = Switch(load_program(p.build()))
    out = s.process(0, ETH + b"\x08\x00" + b"\xee\xab\xcd")
    assert out[0][1] == ETH + b"\x0e\xab" + b"\xee\xab\xcd"
    # set-from-lookahead needs (width+7)//8 bytes: 2 > 1 available -> PacketTooShort before the
    # write, so scalars.tmp stays 0 and ingress copies that 0 into etype
    out = s.process(0, ETH + b"\x08\x00" + b"\xee")
    assert out[0][1] == ETH + b"\x00\x00\xee"


def test_update_checksum_in_deparser():
    p = ipv4_prog(report_error=False)
    p.checksums[0]["update"] = True
    p.checksums[0]["verify"] = False
    s = Switch(load_program(p.build()))
    bad = bytearray(ETH + b"\x08\x00" + ipv4(6, b"\x01\x02\x03\x04", good_csum=False) + b"\x00\x50\x01\xbb")
    out = s.process(0, bytes(bad))[0][1]
    good = ETH + b"\x08\x00" + ipv4(6, b"\x01\x02\x03\x04") + b"\x00\x50\x01\xbb"
    assert out == good


def test_advance_and_parser_primitive():
    p = eth_prog()
    p.states = []
    p.state("start", [
        {"op": "advance", "parameters": [hexv(16)]},
        extract("ethernet"),
        {"op": "primitive", "parameters": [prim("assign", field("ethernet", "etype"), hexv(0x4242))]},
    ])
    aid = p.action("ingress.fwd", [], [prim("assign", field("standard_metadata", "egress_spec"), hexv(1))])
    p.table("ingress", "ingress.t", [], [aid], default=(aid, []))
    s = Switch(load_program(p.build()))
    out = s.process(0, b"\x01\x02" + ETH + b"\x08\x00" + b"p")
    # the skipped bytes are consumed by the parser and not re-emitted (bmv2 behaviour)
    assert out == [(1, ETH + b"\x42\x42" + b"p")]


def _stack_prog(prims: list) -> Switch:
    """ethernet, then MPLS-like labels into a 3-deep stack until bos == 1."""
    p = eth_prog()
    p.header_type("lbl_t", [["label", 20, False], ["tc", 3, False], ["bos", 1, False], ["ttl", 8, False]])
    for i in range(3):
        p.header(f"lbl[{i}]", "lbl_t")
    d = p.build()
    d["header_stacks"] = [{"name": "lbl", "id": 0, "header_type": "lbl_t", "size": 3,
                           "header_ids": [d["headers"][-3]["id"], d["headers"][-2]["id"], d["headers"][-1]["id"]]}]
    d["parsers"][0]["parse_states"] = [
        {"name": "start", "id": 0, "parser_ops": [extract("ethernet")],
         "transition_key": [field("ethernet", "etype")],
         "transitions": [tr("0x8847", "parse_lbl"), tr(None, None)]},
        {"name": "parse_lbl", "id": 1,
         "parser_ops": [{"op": "extract", "parameters": [{"type": "stack", "value": "lbl"}]}],
         "transition_key": [{"type": "stack_field", "value": ["lbl", "bos"]}],
         "transitions": [tr("0x00", "parse_lbl"), tr(None, None)]},
    ]
    d["deparsers"][0]["order"] = ["ethernet", "lbl[0]", "lbl[1]", "lbl[2]"]
    d["actions"].append({"name": "ingress.a", "id": 9, "runtime_data": [], "primitives":
                         [prim("assign", field("standard_metadata", "egress_spec"), hexv(1))] + prims})
    d["pipelines"][0]["tables"] = [{
        "name": "ingress.t", "id": 0, "key": [], "match_type": "exact", "type": "simple", "max_size": 1,
        "with_counters": False, "support_timeout": False, "direct_meters": None, "action_ids": [9],
        "actions": ["ingress.a"], "base_default_next": None, "next_tables": {"ingress.a": None},
        "default_entry": {"action_id": 9, "action_const": True, "action_data": [], "action_entry_const": True}}]
    d["pipelines"][0]["init_table"] = "ingress.t"
    s = Switch(load_program(d))
    s.strict = True
    return s


def _lbl(label: int, bos: int) -> bytes:
    return ((label << 12) | (bos << 8) | 64).to_bytes(4, "big")


def test_header_stack_extract_and_overflow():
    s = _stack_prog([])
    pkt = ETH + b"\x88\x47" + _lbl(1, 0) + _lbl(2, 1) + b"pl"
    assert s.process(0, pkt) == [(1, pkt)]
    pkt4 = ETH + b"\x88\x47" + _lbl(1, 0) + _lbl(2, 0) + _lbl(3, 0) + _lbl(4, 1) + b"pl"
    # the 4th extract overflows the stack: StackOutOfBounds, its bytes stay in the payload
    assert s.process(0, pkt4) == [(1, pkt4)]


def test_header_stack_push_pop():
    s = _stack_prog([prim("pop", {"type": "header_stack", "value": "lbl"}, hexv(1))])
    pkt = ETH + b"\x88\x47" + _lbl(1, 0) + _lbl(2, 1) + b"pl"
    assert s.process(0, pkt) == [(1, ETH + b"\x88\x47" + _lbl(2, 1) + b"pl")]
    s = _stack_prog([prim("push", {"type": "header_stack", "value": "lbl"}, hexv(1)),
                     prim("add_header", {"type": "header", "value": "lbl[0]"}),
                     prim("assign", field("lbl[0]", "label"), hexv(9))])
    out = s.process(0, pkt)
    assert out == [(1, ETH + b"\x88\x47" + _lbl(9, 0)[:3] + b"\x00" + _lbl(1, 0) + _lbl(2, 1) + b"pl")]
