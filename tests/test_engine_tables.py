"""Tables: every match kind, priorities, defaults, const entries, entry management errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import eth_prog, field, hexv, prim, rd  # noqa: E402

from softswitch.engine import (  # noqa: E402
    DuplicateEntry, EntryNotFound, Exact, InvalidEntry, Lpm, Optional_, Range, Switch, TableEntry, TableFull,
    Ternary, load_program,
)


def make(keys: list[tuple[str, str, str]], size: int = 16, entries=None, const_default=False, with_counters=False,
         key_mask: str | None = None) -> Switch:
    """Table 'ingress.t' keyed on ethernet fields [(match_type, field, name)]; actions set_port(port)
    and drop (default)."""
    p = eth_prog()
    a_set = p.action("ingress.set_port", [("port", 9)],
                     [prim("assign", field("standard_metadata", "egress_spec"), rd(0))])
    a_drop = p.action("ingress.drop", [], [prim("mark_to_drop", {"type": "header", "value": "standard_metadata"})])
    key = []
    for mt, f, name in keys:
        if mt == "valid":
            key.append({"match_type": "valid", "target": "ethernet", "mask": None, "name": name})
        else:
            key.append({"match_type": mt, "target": ["ethernet", f], "mask": key_mask, "name": name})
    mtype = "exact"
    kinds = {k[0] for k in keys}
    if "lpm" in kinds:
        mtype = "lpm"
    if kinds & {"ternary", "optional"}:
        mtype = "ternary"
    if "range" in kinds:
        mtype = "range"
    p.table("ingress", "ingress.t", key, [a_set, a_drop], default=(a_drop, []), size=size,
            const_default=const_default, with_counters=with_counters, entries=entries, match_type=mtype)
    if with_counters:
        p.counters.append({"name": "ingress.t_counter", "id": 0, "is_direct": True, "binding": "ingress.t",
                           "size": size})
    s = Switch(load_program(p.build()))
    s.strict = True
    return s


def send(s: Switch, dst: int, etype: int = 0x0800, src: int = 0x111213141516) -> int | None:
    pkt = dst.to_bytes(6, "big") + src.to_bytes(6, "big") + etype.to_bytes(2, "big") + b"data"
    out = s.process(0, pkt)
    return out[0][0] if out else None


def E(match, action="ingress.set_port", args=(1,), prio=0) -> TableEntry:
    return TableEntry(tuple(match), prio, action, tuple(args))


def test_info_and_default():
    s = make([("exact", "dst", "hdr.ethernet.dst")])
    info = s.program.tables["ingress.t"]
    assert info.keys[0].name == "hdr.ethernet.dst" and info.keys[0].bitwidth == 48
    assert info.action_names == ("ingress.set_port", "ingress.drop")
    assert info.default_action == "ingress.drop" and not info.default_is_const
    assert send(s, 5) is None
    t = s.table("ingress.t")
    t.set_default("ingress.set_port", (9,))
    assert t.get_default() == ("ingress.set_port", (9,))
    assert send(s, 5) == 9
    t.reset_default()
    assert send(s, 5) is None
    with pytest.raises(InvalidEntry):
        t.set_default("NoAction", ())
    with pytest.raises(InvalidEntry):
        t.set_default("ingress.set_port", (1 << 9,))
    with pytest.raises(KeyError, match="nope"):
        s.table("nope")


def test_const_default():
    s = make([("exact", "dst", "d")], const_default=True)
    assert s.program.tables["ingress.t"].default_is_const
    with pytest.raises(InvalidEntry):
        s.table("ingress.t").set_default("ingress.set_port", (1,))


def test_exact_multi_field_and_errors():
    s = make([("exact", "dst", "d"), ("exact", "etype", "e")], size=2)
    t = s.table("ingress.t")
    t.insert(E([Exact(5), Exact(0x0800)], args=(3,)))
    assert send(s, 5) == 3
    assert send(s, 5, etype=0x86DD) is None
    with pytest.raises(DuplicateEntry):
        t.insert(E([Exact(5), Exact(0x0800)], args=(4,)))
    t.insert(E([Exact(6), Exact(0x0800)], args=(4,)))
    with pytest.raises(TableFull):
        t.insert(E([Exact(7), Exact(0x0800)]))
    t.delete((Exact(6), Exact(0x0800)), 0)
    for bad in (E([Exact(1 << 48), Exact(1)]), E([Exact(1)]), E([Ternary(1, 1), Exact(1)]),
                E([Exact(1), Exact(2)], prio=5), E([Exact(1), Exact(2)], action="NoAction", args=()),
                E([Exact(1), Exact(2)], args=()), E([Exact(1), Exact(2)], args=(512,))):
        with pytest.raises(InvalidEntry):
            t.insert(bad)
    t.modify(E([Exact(5), Exact(0x0800)], args=(8,)))
    assert send(s, 5) == 8
    assert t.get((Exact(5), Exact(0x0800)), 0) == E([Exact(5), Exact(0x0800)], args=(8,))
    assert t.get((Exact(9), Exact(0x0800)), 0) is None
    with pytest.raises(EntryNotFound):
        t.modify(E([Exact(9), Exact(0x0800)]))
    with pytest.raises(EntryNotFound):
        t.delete((Exact(9), Exact(0x0800)), 0)
    t.delete((Exact(5), Exact(0x0800)), 0)
    assert send(s, 5) is None
    assert len(t) == 0


def test_lpm_longest_prefix_wins():
    s = make([("lpm", "dst", "d")])
    t = s.table("ingress.t")
    t.insert(E([Lpm(0x0A0000000000, 8)], args=(1,)))
    t.insert(E([Lpm(0x0A0B00000000, 16)], args=(2,)))
    t.insert(E([Lpm(0, 0)], args=(3,)))
    t.insert(E([Lpm(0x0A0B0C0D0E0F, 48)], args=(4,)))
    assert send(s, 0x0A0B0C0D0E0F) == 4
    assert send(s, 0x0A0B0C0D0E00) == 2
    assert send(s, 0x0AFF00000000) == 1
    assert send(s, 0x0B0000000000) == 3
    t.delete((Lpm(0x0A0B00000000, 16),), 0)
    assert send(s, 0x0A0B0C0D0E00) == 1
    with pytest.raises(InvalidEntry):
        t.insert(E([Lpm(0x0A0B00000001, 16)]))  # host bits set
    with pytest.raises(InvalidEntry):
        t.insert(E([Lpm(0, 49)]))
    with pytest.raises(DuplicateEntry):
        t.insert(E([Lpm(0, 0)], args=(5,)))


def test_lpm_with_exact_field_first_and_after():
    for order in (("exact", "lpm"), ("lpm", "exact")):
        keys = [(order[0], "etype" if order[0] == "exact" else "dst", "a"),
                (order[1], "etype" if order[1] == "exact" else "dst", "b")]
        s = make(keys)
        t = s.table("ingress.t")

        def m(etype, v, pl):
            return [Exact(etype), Lpm(v, pl)] if order[0] == "exact" else [Lpm(v, pl), Exact(etype)]

        t.insert(E(m(0x0800, 0x0A0000000000, 8), args=(1,)))
        t.insert(E(m(0x0800, 0x0A0B00000000, 16), args=(2,)))
        t.insert(E(m(0x86DD, 0x0A0B0C000000, 24), args=(3,)))
        assert send(s, 0x0A0B0C000000) == 2
        assert send(s, 0x0A0B0C000000, etype=0x86DD) == 3
        assert send(s, 0x0A0C00000000) == 1
        assert send(s, 0x0B0000000000) is None


def test_ternary_priorities_higher_wins_ties_first_inserted():
    s = make([("ternary", "dst", "d"), ("exact", "etype", "e")])
    t = s.table("ingress.t")
    with pytest.raises(InvalidEntry):
        t.insert(E([Ternary(0, 0), Exact(0x0800)]))  # priority required
    with pytest.raises(InvalidEntry):
        t.insert(E([Ternary(1, 0), Exact(0x0800)], prio=1))  # value outside mask
    t.insert(E([Ternary(0, 0), Exact(0x0800)], args=(1,), prio=1))
    t.insert(E([Ternary(0x0A0000000000, 0xFF0000000000), Exact(0x0800)], args=(2,), prio=10))
    t.insert(E([Ternary(0x000000000005, 0x0000000000FF), Exact(0x0800)], args=(3,), prio=20))
    assert send(s, 0x0A0000000005) == 3
    assert send(s, 0x0A0000000006) == 2
    assert send(s, 0x0B0000000006) == 1
    assert send(s, 0x0B0000000006, etype=0x86DD) is None
    # same priority: first inserted wins
    t.insert(E([Ternary(0x000000000006, 0x0000000000FF), Exact(0x0800)], args=(4,), prio=10))
    assert send(s, 0x0A0000000006) == 2
    # same match, different priority: distinct entries
    t.insert(E([Ternary(0, 0), Exact(0x0800)], args=(5,), prio=2))
    assert send(s, 0x0B0000000007) == 5
    assert send(s, 0x0B0000000006) == 4
    t.delete((Ternary(0, 0), Exact(0x0800)), 2)
    assert send(s, 0x0B0000000007) == 1
    assert [e.priority for e in t.entries()] == [1, 10, 20, 10]


def test_equal_priority_ties_go_to_the_lowest_handle_reused_after_delete():
    """bmv2 hands out the lowest free entry handle and breaks priority ties on it: an entry
    inserted after a delete takes the deleted one's place ahead of older entries."""
    s = make([("ternary", "dst", "d"), ("exact", "etype", "e")])
    t = s.table("ingress.t")
    a = [Ternary(0x000000000005, 0x0000000000FF), Exact(0x0800)]
    b = [Ternary(0x0A0000000000, 0xFF0000000000), Exact(0x0800)]
    c = [Ternary(0x0A0000000005, 0xFFFFFFFFFFFF), Exact(0x0800)]
    t.insert(E(a, args=(1,), prio=70))     # handle 0
    t.insert(E(b, args=(2,), prio=70))     # handle 1
    assert send(s, 0x0A0000000005) == 1
    t.delete(tuple(a), 70)
    assert send(s, 0x0A0000000005) == 2
    t.insert(E(c, args=(3,), prio=70))     # reuses handle 0: ahead of b
    assert send(s, 0x0A0000000005) == 3


def test_optional_and_valid():
    s = make([("optional", "etype", "e"), ("valid", "", "v")])
    assert [k.match_type for k in s.program.tables["ingress.t"].keys] == ["optional", "valid"]
    t = s.table("ingress.t")
    t.insert(E([Optional_(None), Exact(1)], args=(1,), prio=1))
    t.insert(E([Optional_(0x86DD), Exact(1)], args=(2,), prio=2))
    assert send(s, 1) == 1
    assert send(s, 1, etype=0x86DD) == 2
    with pytest.raises(InvalidEntry):
        t.insert(E([Optional_(1 << 16), Exact(1)], prio=3))


def test_range():
    s = make([("range", "etype", "e"), ("exact", "dst", "d")])
    t = s.table("ingress.t")
    t.insert(E([Range(0x0000, 0xFFFF), Exact(1)], args=(1,), prio=1))
    t.insert(E([Range(0x0800, 0x08FF), Exact(1)], args=(2,), prio=5))
    t.insert(E([Range(0x0806, 0x0806), Exact(1)], args=(3,), prio=9))
    assert send(s, 1, etype=0x0806) == 3
    assert send(s, 1, etype=0x0801) == 2
    assert send(s, 1, etype=0x0900) == 1
    assert send(s, 2, etype=0x0900) is None
    with pytest.raises(InvalidEntry):
        t.insert(E([Range(5, 4), Exact(1)], prio=1))


def test_static_key_mask_and_slice_keys():
    # a contiguous mask is how p4c encodes a slice key f[h:l]: the control plane sees the slice
    s = make([("exact", "dst", "d")], key_mask="0x00000000ff00")
    assert s.program.tables["ingress.t"].keys[0].bitwidth == 8
    s.table("ingress.t").insert(E([Exact(0x05)], args=(6,)))
    assert send(s, 0xABCDEF000512) == 6
    assert send(s, 0xABCDEF000612) is None
    # a non-contiguous mask keeps the field width and is ANDed with the field
    s = make([("exact", "dst", "d")], key_mask="0x0000000000f0f0")
    assert s.program.tables["ingress.t"].keys[0].bitwidth == 48
    s.table("ingress.t").insert(E([Exact(0x5050)], args=(6,)))
    assert send(s, 0xABCDEF005a5b) == 6


def test_const_entries_and_priority_translation():
    entries = [
        {"match_key": [{"match_type": "ternary", "key": "0x000000000005", "mask": "0x0000000000ff"}],
         "action_entry": {"action_id": 1, "action_data": ["0x0002"]}, "priority": 1},
        {"match_key": [{"match_type": "ternary", "key": "0x000000000000", "mask": "0x000000000000"}],
         "action_entry": {"action_id": 1, "action_data": ["0x0003"]}, "priority": 2},
    ]
    s = make([("ternary", "dst", "d")], entries=entries)
    info = s.program.tables["ingress.t"]
    assert info.has_const_entries and info.size == 2
    t = s.table("ingress.t")
    es = t.entries()
    assert [e.args for e in es] == [(2,), (3,)]
    assert es[0].priority > es[1].priority  # bmv2 lower number == contract higher priority
    assert send(s, 5) == 2
    assert send(s, 6) == 3
    with pytest.raises(InvalidEntry):
        t.insert(E([Ternary(1, 1)], prio=1))
    with pytest.raises(InvalidEntry):
        t.delete(es[0].match, es[0].priority)
    s.reset_state()
    assert len(t) == 2


def test_direct_counters():
    s = make([("exact", "dst", "d")], with_counters=True)
    info = s.program.tables["ingress.t"]
    assert info.direct_counter == "ingress.t_counter"
    assert s.program.counters["ingress.t_counter"].direct_table == "ingress.t"
    t = s.table("ingress.t")
    t.insert(E([Exact(5)]))
    send(s, 5)
    send(s, 5)
    send(s, 6)  # miss: no counter
    assert t.direct_counter((Exact(5),), 0) == (2, 2 * 18)
    t.modify(E([Exact(5)], args=(2,)))
    assert t.direct_counter((Exact(5),), 0) == (2, 36)
    t.set_direct_counter((Exact(5),), 0, 10, 100)
    assert t.direct_counter((Exact(5),), 0) == (10, 100)
    with pytest.raises(EntryNotFound):
        t.direct_counter((Exact(6),), 0)
    with pytest.raises(KeyError):
        s.counter("ingress.t_counter")


def test_hit_miss_next_tables():
    p = eth_prog()
    a_set = p.action("ingress.set_port", [("port", 9)],
                     [prim("assign", field("standard_metadata", "egress_spec"), rd(0))])
    a_mark = p.action("ingress.mark", [], [prim("assign", field("ethernet", "etype"), hexv(0x1111))])
    p.table("ingress", "ingress.t1", [{"match_type": "exact", "target": ["ethernet", "dst"], "mask": None}],
            [a_set, 0], next_={"__HIT__": "ingress.t2", "__MISS__": None}, default=(0, []))
    p.table("ingress", "ingress.t2", [], [a_mark], default=(a_mark, []))
    s = Switch(load_program(p.build()))
    s.table("ingress.t1").insert(E([Exact(5)], args=(2,)))
    pkt = (5).to_bytes(6, "big") + bytes(6) + b"\x08\x00"
    assert s.process(0, pkt) == [(2, pkt[:12] + b"\x11\x11")]
    pkt2 = (6).to_bytes(6, "big") + bytes(6) + b"\x08\x00"
    assert s.process(0, pkt2) == [(0, pkt2)]  # miss: egress_spec stays 0 -> port 0, no mark


def test_keyless_table_rejects_entries():
    p = eth_prog()
    p.table("ingress", "ingress.t", [], [0])
    s = Switch(load_program(p.build()))
    with pytest.raises(InvalidEntry):
        s.table("ingress.t").insert(TableEntry((), 0, "NoAction", ()))


@pytest.mark.parametrize("kinds", [("ternary", "exact"), ("lpm",), ("exact", "lpm"), ("range", "ternary"),
                                   ("optional", "ternary")])
def test_lookup_matches_brute_force_reference(kinds):
    """Random entries/keys: the fast structures agree with a linear reference (highest priority,
    then first inserted; longest prefix for lpm tables)."""
    import random

    fields = ["dst", "etype"]
    widths = {"dst": 48, "etype": 16}
    keys = [(k, fields[i], f"k{i}") for i, k in enumerate(kinds)]
    s = make(keys, size=64)
    t = s.table("ingress.t")
    r = random.Random(hash(kinds) & 0xFFFF)
    prio_needed = any(k in ("ternary", "range", "optional") for k in kinds)
    ref = []

    def rnd_val(w):
        return r.choice([0, 1, 5, (1 << w) - 1, r.randrange(1 << w), r.randrange(16)])

    for n in range(60):
        match = []
        for k, f, _ in keys:
            w = widths[f]
            if k == "exact":
                match.append(Exact(rnd_val(w) & 0xF))
            elif k == "lpm":
                pl = r.choice([0, 4, 8, w // 2, w - 4, w])
                m = ((1 << w) - 1) >> (w - pl) << (w - pl) if pl else 0
                match.append(Lpm(rnd_val(w) & m, pl))
            elif k == "ternary":
                m = r.choice([0, 0xF, (1 << w) - 1, r.randrange(1 << w)])
                match.append(Ternary(rnd_val(w) & m, m))
            elif k == "optional":
                match.append(Optional_(r.choice([None, rnd_val(w) & 0xF])))
            else:
                lo = r.randrange(16)
                match.append(Range(lo, lo + r.randrange(16)))
        prio = r.randrange(1, 20) if prio_needed else 0
        e = TableEntry(tuple(match), prio, "ingress.set_port", (n,))
        try:
            t.insert(e)
        except Exception:
            continue
        ref.append(e)

    def matches(e, vals):
        for m, v, (k, f, _) in zip(e.match, vals, keys):
            w = widths[f]
            if isinstance(m, Exact) and m.value != v:
                return False
            if isinstance(m, Lpm):
                mk = ((1 << w) - 1) >> (w - m.prefix_len) << (w - m.prefix_len) if m.prefix_len else 0
                if v & mk != m.value:
                    return False
            if isinstance(m, Ternary) and v & m.mask != m.value:
                return False
            if isinstance(m, Optional_) and m.value is not None and m.value != v:
                return False
            if isinstance(m, Range) and not m.low <= v <= m.high:
                return False
        return True

    def plen(e):
        return sum(m.prefix_len if isinstance(m, Lpm) else widths[f] for m, (_, f, _) in zip(e.match, keys))

    for _ in range(300):
        vals = {"dst": rnd_val(48) & r.choice([0xF, (1 << 48) - 1]), "etype": rnd_val(16) & r.choice([0xF, 0xFFFF])}
        cand = [e for e in ref if matches(e, [vals[f] for _, f, _ in keys])]
        if prio_needed:
            best = max(cand, key=lambda e: (e.priority, -ref.index(e)), default=None)
        else:
            best = max(cand, key=plen, default=None)
        got = send(s, vals["dst"], etype=vals["etype"])
        assert got == (None if best is None else best.args[0] & 0x1FF)
