"""Switch-level behaviour: counters, multicast (PRE), egress, drop port, registers, reset."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import eth_prog, expr, field, hexv, prim, rd  # noqa: E402

from softswitch.engine import EntryNotFound, InvalidEntry, Switch, load_program  # noqa: E402

PKT = bytes.fromhex("0a0b0c0d0e0f" "111213141516" "0800") + b"payload!"
STD = "standard_metadata"


def sm(f: str) -> dict:
    return field(STD, f)


def build(ingress: list, egress: list | None = None, setup=None, params=(), args=()) -> Switch:
    p = eth_prog()
    if setup:
        setup(p)
    ai = p.action("ingress.a", list(params), ingress)
    p.table("ingress", "ingress.t", [], [ai], default=(ai, [hex(a) for a in args]))
    if egress is not None:
        ae = p.action("egress.a", [], egress)
        p.table("egress", "egress.t", [], [ae], default=(ae, []))
    s = Switch(load_program(p.build()))
    s.strict = True
    return s


def test_indexed_counter():
    def setup(p):
        p.counters.append({"name": "ingress.c", "id": 0, "size": 4, "is_direct": False})

    s = build([prim("count", {"type": "counter_array", "value": "ingress.c"}, sm("ingress_port")),
               prim("assign", sm("egress_spec"), hexv(1))], setup=setup)
    s.process(2, PKT)
    s.process(2, PKT + b"xx")
    s.process(9, PKT)  # out of range index: ignored
    c = s.counter("ingress.c")
    assert c.info.size == 4 and c.info.direct_table is None
    assert c.read(2) == (2, 2 * len(PKT) + 2)
    assert c.read(0) == (0, 0)
    c.write(1, 5, 50)
    assert c.read(1) == (5, 50)
    with pytest.raises(IndexError):
        c.read(4)
    s.reset_state()
    assert c.read(1) == (0, 0)


def test_multicast_replicas_rid_instance_type():
    eg = [prim("assign", field("ethernet", "src"),
               expr("|", expr("<<", sm("egress_rid"), hexv(32)),
                    expr("|", expr("<<", sm("instance_type"), hexv(16)), sm("egress_port"))))]
    s = build([prim("assign", sm("mcast_grp"), hexv(7))], eg)
    assert s.process(0, PKT) == []  # group not configured: dropped
    s.set_multicast_group(7, [(3, 1), (1, 2), (3, 9)])
    out = s.process(0, PKT)
    assert [p for p, _ in out] == [3, 1, 3]
    for (port, frame), rid in zip(out, (1, 2, 9)):
        v = int.from_bytes(frame[6:12], "big")
        assert v == (rid << 32) | (5 << 16) | port
        assert frame[12:] == PKT[12:]
    assert s.multicast_groups() == {7: ((3, 1), (1, 2), (3, 9))}
    s.delete_multicast_group(7)
    with pytest.raises(EntryNotFound):
        s.delete_multicast_group(7)
    with pytest.raises(InvalidEntry):
        s.set_multicast_group(0, [])
    assert s.process(0, PKT) == []


def test_mark_to_drop_clears_mcast_and_egress_drop():
    s = build([prim("assign", sm("mcast_grp"), hexv(7)),
               prim("mark_to_drop", {"type": "header", "value": STD})])
    s.set_multicast_group(7, [(1, 1)])
    assert s.process(0, PKT) == []
    s = build([prim("assign", sm("egress_spec"), hexv(4))],
              [prim("mark_to_drop", {"type": "header", "value": STD})])
    assert s.process(0, PKT) == []


def test_drop_port_and_custom_drop_port():
    s = build([prim("assign", sm("egress_spec"), hexv(511))])
    assert s.process(0, PKT) == []
    p = eth_prog()
    ai = p.action("ingress.a", [], [prim("assign", sm("egress_spec"), hexv(511))])
    p.table("ingress", "ingress.t", [], [ai], default=(ai, []))
    s2 = Switch(load_program(p.build()), drop_port=100)
    assert s2.process(0, PKT) == [(511, PKT)]


def test_egress_sees_egress_spec_reset_and_packet_length_register():
    def setup(p):
        p.header_type("tag_t", [["a", 16, False], ["b", 16, False]])
        p.header("tag", "tag_t")
        p.deparse = ["ethernet", "tag"]

    eg = [prim("assign", field("tag", "a"), sm("egress_spec")),  # drop_port + 1 == 512 -> 9 bits -> 0
          prim("assign", field("tag", "b"), sm("packet_length"))]
    s = build([prim("assign", sm("egress_spec"), hexv(2)),
               prim("add_header", {"type": "header", "value": "tag"})], eg, setup=setup)
    out = s.process(0, PKT)
    assert out[0][0] == 2
    assert out[0][1][14:18] == (0).to_bytes(2, "big") + (len(PKT) + 4).to_bytes(2, "big")


def test_priority_nonzero_is_dropped_like_single_queue_simple_switch():
    s = build([prim("assign", sm("egress_spec"), hexv(1)), prim("assign", sm("priority"), hexv(1))])
    assert s.process(0, PKT) == []


def test_registers():
    def setup(p):
        p.registers.append({"name": "ingress.r", "id": 0, "size": 4, "bitwidth": 12})

    s = build([prim("register_read", field("scalars", "tmp"), {"type": "register_array", "value": "ingress.r"},
                    hexv(1)),
               prim("register_write", {"type": "register_array", "value": "ingress.r"}, hexv(1),
                    expr("+", field("scalars", "tmp"), hexv(0xFFF))),
               prim("assign", field("ethernet", "etype"), field("scalars", "tmp")),
               prim("assign", sm("egress_spec"), hexv(1))], setup=setup)
    out1 = s.process(0, PKT)
    out2 = s.process(0, PKT)
    assert out1[0][1][12:14] == b"\x00\x00"
    assert out2[0][1][12:14] == b"\x0f\xff"
    assert s.register("ingress.r")[1] == 0xFFE


def test_never_raises_on_garbage_and_threads():
    s = build([prim("assign", sm("egress_spec"), hexv(1))])
    for data in (b"", b"\x00", bytes(13), bytes(2000)):
        s.process(0, data)
    results = []

    def worker():
        for _ in range(200):
            results.append(s.process(1, PKT))

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(r == [(1, PKT)] for r in results)


def test_assert_failure_drops_packet():
    s = build([prim("assign", sm("egress_spec"), hexv(1)), prim("assert", expr("d2b", None, hexv(0)))])
    assert s.process(0, PKT) == []


def test_program_shared_by_two_switches_has_separate_state():
    p = eth_prog()
    ai = p.action("ingress.a", [("port", 9)], [prim("assign", sm("egress_spec"), rd(0))])
    p.table("ingress", "ingress.t", [{"match_type": "exact", "target": ["ethernet", "etype"], "mask": None}],
            [ai, 0], default=(0, []))
    prog = load_program(p.build())
    from softswitch.engine import Exact, TableEntry

    s1, s2 = Switch(prog), Switch(prog)
    s1.table("ingress.t").insert(TableEntry((Exact(0x0800),), 0, "ingress.a", (3,)))
    assert s1.process(0, PKT) == [(3, PKT)]
    assert s2.process(0, PKT) == [(0, PKT)]


def test_truncate():
    s = build([prim("assign", sm("egress_spec"), hexv(1)), prim("truncate", hexv(16)),
               prim("truncate", hexv(20))])
    assert s.process(0, PKT) == [(1, PKT[:16])]
    s = build([prim("assign", sm("mcast_grp"), hexv(3)), prim("truncate", hexv(16))])
    s.set_multicast_group(3, [(2, 0)])
    assert s.process(0, PKT) == [(2, PKT)]  # replicas do not inherit the truncation
