"""Loader: format version checks and refusals of unsupported constructs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "engine"))
from jsonkit import eth_prog, field, hexv, prim, rd  # noqa: E402

from softswitch.bmv2json import load_json  # noqa: E402
from softswitch.engine import EngineError, InvalidProgram, UnsupportedConstruct, load_program  # noqa: E402


def _prog_with_action(*prims):
    p = eth_prog()
    aid = p.action("ingress.a", [("x", 8)], list(prims))
    p.table("ingress", "ingress.t", [], [aid], default=(aid, ["0x01"]))
    return p


def test_loads_minimal_program_from_str_bytes_and_dict():
    d = eth_prog().build()
    for src in (d, json.dumps(d), json.dumps(d).encode()):
        prog = load_program(src)
        assert prog.tables == {}
        assert "NoAction" in prog.actions


@pytest.mark.parametrize("version", [[3, 0], [1, 2], [2, 99]])
def test_refuses_unsupported_json_version(version):
    d = eth_prog().build()
    d["__meta__"]["version"] = version
    with pytest.raises(UnsupportedConstruct, match="version"):
        load_program(d)


def test_malformed_version_and_json():
    d = eth_prog().build()
    d["__meta__"]["version"] = "2.23"
    with pytest.raises(InvalidProgram):
        load_program(d)
    with pytest.raises(InvalidProgram):
        load_program("{not json")
    with pytest.raises(EngineError):
        load_program("[]")


@pytest.mark.parametrize(
    "op",
    ["clone_ingress_pkt_to_egress", "clone_egress_pkt_to_egress", "resubmit", "recirculate", "generate_digest",
     "frobnicate", "_MyExtern_method"],
)
def test_refuses_unsupported_primitives_naming_them(op):
    p = _prog_with_action(prim(op, hexv(1), hexv(2)))
    with pytest.raises(UnsupportedConstruct) as ei:
        load_program(p.build())
    assert f"'{op}'" in str(ei.value)
    assert "ingress.a" in str(ei.value)


def test_refuses_unknown_expression_operator():
    p = _prog_with_action(prim("assign", field("scalars", "tmp"),
                               {"type": "expression", "value": {"op": "**", "left": hexv(1), "right": hexv(2)}}))
    with pytest.raises(UnsupportedConstruct, match=r"\*\*"):
        load_program(p.build())


@pytest.mark.parametrize(
    "key, value, needle",
    [
        ("meter_arrays", [{"name": "m", "id": 0, "type": "bytes", "rate_count": 2, "size": 4, "is_direct": False}],
         "meter array 'm'"),
        ("extern_instances", [{"name": "e", "id": 0, "type": "Foo", "attribute_values": []}], "extern instance 'e'"),
        ("learn_lists", [{"name": "l", "id": 1, "elements": []}], "learn list"),
        ("header_unions", [{"name": "u", "id": 0, "union_type": "ut", "header_ids": []}], "header_unions"),
        ("field_lists", [{"name": "fl", "id": 1, "elements": []}], "field list"),
    ],
)
def test_refuses_unsupported_sections(key, value, needle):
    d = eth_prog().build()
    d[key] = value
    with pytest.raises(UnsupportedConstruct) as ei:
        load_program(d)
    assert needle in str(ei.value)


def test_refuses_action_profiles_and_unknown_match_kind():
    p = eth_prog()
    p.table("ingress", "t", [{"match_type": "exact", "target": ["ethernet", "dst"], "mask": None}], [0])
    d = p.build()
    d["pipelines"][0]["action_profiles"] = [{"name": "ap", "id": 0, "max_size": 4}]
    with pytest.raises(UnsupportedConstruct, match="action profile 'ap'"):
        load_program(d)
    d = p.build()
    d["pipelines"][0]["tables"][0]["type"] = "indirect"
    with pytest.raises(UnsupportedConstruct, match="action profiles"):
        load_program(d)
    d = p.build()
    d["pipelines"][0]["tables"][0]["key"][0]["match_type"] = "fuzzy"
    with pytest.raises(UnsupportedConstruct, match="match kind 'fuzzy'"):
        load_program(d)


def test_refuses_unknown_hash_algorithm():
    p = eth_prog()
    p.calculations.append({"name": "calc", "id": 0, "algo": "sha256",
                           "input": [{"type": "field", "value": ["ethernet", "dst"]}]})
    with pytest.raises(UnsupportedConstruct, match="hash algorithm 'sha256'"):
        load_program(p.build())


def test_refuses_checksum_of_unknown_type_and_direct_meter():
    p = eth_prog()
    p.calculations.append({"name": "calc", "id": 0, "algo": "csum16",
                           "input": [{"type": "field", "value": ["ethernet", "dst"]}]})
    p.checksums.append({"name": "ck", "id": 0, "target": ["ethernet", "etype"], "type": "ipv4",
                        "calculation": "calc"})
    with pytest.raises(UnsupportedConstruct, match="checksum type 'ipv4'"):
        load_program(p.build())
    p = eth_prog()
    p.table("ingress", "t", [], [0])
    d = p.build()
    d["pipelines"][0]["tables"][0]["direct_meters"] = "dm"
    with pytest.raises(UnsupportedConstruct, match="direct meter"):
        load_program(d)


def test_malformed_references_are_engine_errors():
    p = _prog_with_action(prim("assign", field("nosuch", "f"), rd(0)))
    with pytest.raises(InvalidProgram, match="nosuch"):
        load_program(p.build())
    p = _prog_with_action(prim("assign", field("scalars", "tmp"), rd(3)))
    with pytest.raises(InvalidProgram, match="runtime data"):
        load_program(p.build())
    d = eth_prog().build()
    del d["pipelines"]
    with pytest.raises(EngineError):
        load_program(d)
    d = eth_prog().build()
    d["parsers"][0]["parse_states"][0]["transitions"][0]["next_state"] = "nowhere"
    with pytest.raises(InvalidProgram, match="nowhere"):
        load_program(d)


def test_requires_simple_switch_objects():
    d = eth_prog().build()
    d["pipelines"][1]["name"] = "eggress"
    with pytest.raises(InvalidProgram, match="egress"):
        load_program(d)
    d = eth_prog().build()
    d["header_types"][1]["fields"] = [f for f in d["header_types"][1]["fields"] if f[0] != "egress_spec"]
    with pytest.raises(InvalidProgram, match="egress_spec"):
        load_program(d)


def test_model_sections_are_typed():
    p = eth_prog()
    p.registers.append({"name": "r", "id": 0, "size": 4, "bitwidth": 12})
    p.counters.append({"name": "c", "id": 0, "size": 8, "is_direct": False})
    m = load_json(p.build())
    assert m.version == (2, 23)
    assert m.register_arrays["r"].bitwidth == 12
    assert m.counter_arrays["c"].size == 8
    assert m.errors["PacketTooShort"] == 1
    assert m.field_aliases["intrinsic_metadata.mcast_grp"].field == "mcast_grp"


def test_missing_core_errors_get_bmv2_values():
    d = eth_prog().build()
    d["errors"] = [["NoError", 0], ["MyErr", 7]]
    m = load_json(d)
    # bmv2 ErrorCodeMap::add_core: missing core errors get max+1, max+2, ...
    assert m.errors["PacketTooShort"] == 8
    assert m.errors["NoMatch"] == 9
    assert m.errors["ParserInvalidArgument"] == 13
