"""A small real v1model program (bmv2 JSON, p4c-bm2-ss shape) and its P4Info, for tests
of the softswitch server with the real engine (``softswitch.engine``).

The program (what p4c would emit for it)::

    parser: ingress_port == CPU_PORT ? extract(packet_out) : ; extract(ethernet)
    ingress:
        if (packet_out.isValid()) { egress_spec = packet_out.egress_port; packet_out.setInvalid(); }
        else { fwd.apply(); }          // exact ingress_port: set_port / to_cpu / flood / drop
        port_counter.count(ingress_port)
    deparser: packet_in, ethernet
"""

from __future__ import annotations

import json

from finsy.proto import p4i, p4r
from google.protobuf import text_format

CPU_PORT = 64
T_FWD = 0x02000001
A_NOACTION, A_SET_PORT, A_TO_CPU, A_FLOOD, A_DROP = (
    0x01000001,
    0x01000002,
    0x01000003,
    0x01000004,
    0x01000005,
)
C_PORT, DC_FWD = 0x12000001, 0x13000001
CPM_IN, CPM_OUT = 0x40000001, 0x40000002

_STD_FIELDS = [
    ["ingress_port", 9, False], ["egress_spec", 9, False], ["egress_port", 9, False],
    ["instance_type", 32, False], ["packet_length", 32, False], ["enq_timestamp", 32, False],
    ["enq_qdepth", 19, False], ["deq_timedelta", 32, False], ["deq_qdepth", 19, False],
    ["ingress_global_timestamp", 48, False], ["egress_global_timestamp", 48, False],
    ["mcast_grp", 16, False], ["egress_rid", 16, False], ["checksum_error", 1, False],
    ["parser_error", 32, False], ["priority", 3, False], ["_padding", 3, False],
]  # fmt: skip


def _field(header: str, name: str) -> dict:
    return {"type": "field", "value": [header, name]}


def _assign(target: dict, source: dict) -> dict:
    return {"op": "assign", "parameters": [target, source]}


def _header(name: str) -> dict:
    return {"type": "header", "value": name}


def _table(
    name: str, table_id: int, key: list, actions: list[tuple[str, int]], **extra: object
) -> dict:
    default_id = extra.pop("default_id", actions[-1][1])
    const_default = bool(extra.pop("const_default", False))
    next_table = extra.pop("next", None)
    table = {
        "name": name,
        "id": table_id,
        "source_info": {},
        "key": key,
        "match_type": "exact",
        "type": "simple",
        "max_size": 1024,
        "with_counters": False,
        "support_timeout": False,
        "direct_meters": None,
        "action_ids": [action_id for _, action_id in actions],
        "actions": [action_name for action_name, _ in actions],
        "base_default_next": next_table,
        "next_tables": {action_name: next_table for action_name, _ in actions},
        "default_entry": {
            "action_id": default_id,
            "action_const": const_default,
            "action_data": [],
            "action_entry_const": const_default,
        },
    }
    table.update(extra)
    return table


def program() -> dict:
    """The bmv2 JSON document."""
    cpu = {"type": "hexstr", "value": hex(CPU_PORT)}
    std = "standard_metadata"
    actions = [
        {"name": "NoAction", "id": 0, "runtime_data": [], "primitives": []},
        {
            "name": "ingress.set_port",
            "id": 1,
            "runtime_data": [{"name": "port", "bitwidth": 9}],
            "primitives": [
                _assign(_field(std, "egress_spec"), {"type": "runtime_data", "value": 0})
            ],
        },
        {
            "name": "ingress.to_cpu",
            "id": 2,
            "runtime_data": [],
            "primitives": [
                {"op": "add_header", "parameters": [_header("packet_in")]},
                _assign(_field("packet_in", "ingress_port"), _field(std, "ingress_port")),
                _assign(_field("packet_in", "_pad"), {"type": "hexstr", "value": "0x00"}),
                _assign(_field(std, "egress_spec"), cpu),
            ],
        },
        {
            "name": "ingress.flood",
            "id": 3,
            "runtime_data": [{"name": "group", "bitwidth": 16}],
            "primitives": [_assign(_field(std, "mcast_grp"), {"type": "runtime_data", "value": 0})],
        },
        {
            "name": "ingress.drop",
            "id": 4,
            "runtime_data": [],
            "primitives": [{"op": "mark_to_drop", "parameters": [_header(std)]}],
        },
        {
            "name": "ingress.do_packet_out",
            "id": 5,
            "runtime_data": [],
            "primitives": [
                _assign(_field(std, "egress_spec"), _field("packet_out", "egress_port")),
                {"op": "remove_header", "parameters": [_header("packet_out")]},
            ],
        },
        {
            "name": "ingress.count_port",
            "id": 6,
            "runtime_data": [],
            "primitives": [
                {
                    "op": "count",
                    "parameters": [
                        {"type": "counter_array", "value": "ingress.port_counter"},
                        _field(std, "ingress_port"),
                    ],
                }
            ],
        },
    ]
    fwd_key = [
        {
            "match_type": "exact",
            "name": "standard_metadata.ingress_port",
            "target": [std, "ingress_port"],
            "mask": None,
        }
    ]
    tables = [
        _table(
            "tbl_do_packet_out",
            0,
            [],
            [("ingress.do_packet_out", 5)],
            const_default=True,
            next="tbl_count_port",
        ),
        _table(
            "ingress.fwd",
            1,
            fwd_key,
            [
                ("ingress.set_port", 1),
                ("ingress.to_cpu", 2),
                ("ingress.flood", 3),
                ("ingress.drop", 4),
                ("NoAction", 0),
            ],
            max_size=4,
            with_counters=True,
            next="tbl_count_port",
        ),
        _table("tbl_count_port", 2, [], [("ingress.count_port", 6)], const_default=True),
    ]
    valid = {
        "type": "expression",
        "value": {"op": "d2b", "left": None, "right": _field("packet_out", "$valid$")},
    }
    return {
        "header_types": [
            {"name": "scalars_0", "id": 0, "fields": []},
            {"name": "standard_metadata", "id": 1, "fields": _STD_FIELDS},
            {"name": "ethernet_t", "id": 2, "fields": [["dst_addr", 48, False], ["src_addr", 48, False], ["ether_type", 16, False]]},
            {"name": "packet_in_t", "id": 3, "fields": [["ingress_port", 9, False], ["_pad", 7, False]]},
            {"name": "packet_out_t", "id": 4, "fields": [["egress_port", 9, False], ["_pad", 7, False]]},
        ],
        "headers": [
            {"name": "scalars", "id": 0, "header_type": "scalars_0", "metadata": True, "pi_omit": True},
            {"name": "standard_metadata", "id": 1, "header_type": "standard_metadata", "metadata": True, "pi_omit": True},
            {"name": "ethernet", "id": 2, "header_type": "ethernet_t", "metadata": False, "pi_omit": True},
            {"name": "packet_in", "id": 3, "header_type": "packet_in_t", "metadata": False, "pi_omit": True},
            {"name": "packet_out", "id": 4, "header_type": "packet_out_t", "metadata": False, "pi_omit": True},
        ],
        "header_stacks": [],
        "header_union_types": [],
        "header_unions": [],
        "header_union_stacks": [],
        "field_lists": [],
        "errors": [["NoError", 0], ["PacketTooShort", 1], ["NoMatch", 2], ["StackOutOfBounds", 3],
                   ["HeaderTooShort", 4], ["ParserTimeout", 5], ["ParserInvalidArgument", 6]],
        "enums": [],
        "parsers": [
            {
                "name": "parser",
                "id": 0,
                "init_state": "start",
                "parse_states": [
                    {
                        "name": "start",
                        "id": 0,
                        "parser_ops": [],
                        "transitions": [
                            {"type": "hexstr", "value": "0x0040", "mask": None, "next_state": "parse_packet_out"},
                            {"type": "default", "value": None, "mask": None, "next_state": "parse_ethernet"},
                        ],
                        "transition_key": [_field(std, "ingress_port")],
                    },
                    {
                        "name": "parse_packet_out",
                        "id": 1,
                        "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "packet_out"}]}],
                        "transitions": [{"type": "default", "value": None, "mask": None, "next_state": "parse_ethernet"}],
                        "transition_key": [],
                    },
                    {
                        "name": "parse_ethernet",
                        "id": 2,
                        "parser_ops": [{"op": "extract", "parameters": [{"type": "regular", "value": "ethernet"}]}],
                        "transitions": [{"type": "default", "value": None, "mask": None, "next_state": None}],
                        "transition_key": [],
                    },
                ],
            }
        ],
        "parse_vsets": [],
        "deparsers": [{"name": "deparser", "id": 0, "source_info": {}, "order": ["packet_in", "ethernet"], "primitives": []}],
        "meter_arrays": [],
        "counter_arrays": [
            {"name": "ingress.fwd_counter", "id": 0, "is_direct": True, "binding": "ingress.fwd", "source_info": {}},
            {"name": "ingress.port_counter", "id": 1, "is_direct": False, "size": 16, "source_info": {}},
        ],
        "register_arrays": [],
        "calculations": [],
        "learn_lists": [],
        "actions": actions,
        "pipelines": [
            {
                "name": "ingress",
                "id": 0,
                "source_info": {},
                "init_table": "node_2",
                "action_profiles": [],
                "tables": tables,
                "conditionals": [
                    {
                        "name": "node_2",
                        "id": 0,
                        "source_info": {},
                        "expression": valid,
                        "true_next": "tbl_do_packet_out",
                        "false_next": "ingress.fwd",
                    }
                ],
            },
            {"name": "egress", "id": 1, "source_info": {}, "init_table": None, "action_profiles": [], "tables": [], "conditionals": []},
        ],
        "checksums": [],
        "force_arith": [],
        "extern_instances": [],
        "field_aliases": [
            [f"{group}.{name}", ["standard_metadata", name]]
            for group, name in (
                ("queueing_metadata", "enq_timestamp"),
                ("queueing_metadata", "enq_qdepth"),
                ("queueing_metadata", "deq_timedelta"),
                ("queueing_metadata", "deq_qdepth"),
                ("intrinsic_metadata", "ingress_global_timestamp"),
                ("intrinsic_metadata", "egress_global_timestamp"),
                ("intrinsic_metadata", "mcast_grp"),
                ("intrinsic_metadata", "egress_rid"),
                ("intrinsic_metadata", "priority"),
            )
        ],
        "program": "realprog.p4",
        "__meta__": {"version": [2, 23], "compiler": "hand-written for tests"},
    }  # fmt: skip


# Actions, counters and packet metadata: the same in the fake-engine tests' P4Info
# (test_softswitch_server_support), which builds on them.
SHARED_P4INFO_TEXT = f"""
actions {{ preamble {{ id: {A_NOACTION} name: "NoAction" alias: "NoAction" }} }}
actions {{
  preamble {{ id: {A_SET_PORT} name: "ingress.set_port" alias: "set_port" }}
  params {{ id: 1 name: "port" bitwidth: 9 }}
}}
actions {{ preamble {{ id: {A_TO_CPU} name: "ingress.to_cpu" alias: "to_cpu" }} }}
actions {{
  preamble {{ id: {A_FLOOD} name: "ingress.flood" alias: "flood" }}
  params {{ id: 1 name: "group" bitwidth: 16 }}
}}
actions {{ preamble {{ id: {A_DROP} name: "ingress.drop" alias: "drop" }} }}
counters {{
  preamble {{ id: {C_PORT} name: "ingress.port_counter" alias: "port_counter" }}
  spec {{ unit: BOTH }}
  size: 16
}}
direct_counters {{
  preamble {{ id: {DC_FWD} name: "ingress.fwd_counter" alias: "fwd_counter" }}
  spec {{ unit: BOTH }}
  direct_table_id: {T_FWD}
}}
controller_packet_metadata {{
  preamble {{ id: {CPM_IN} name: "packet_in" alias: "packet_in" }}
  metadata {{ id: 1 name: "ingress_port" bitwidth: 9 }}
  metadata {{ id: 2 name: "_pad" bitwidth: 7 }}
}}
controller_packet_metadata {{
  preamble {{ id: {CPM_OUT} name: "packet_out" alias: "packet_out" }}
  metadata {{ id: 1 name: "egress_port" bitwidth: 9 }}
  metadata {{ id: 2 name: "_pad" bitwidth: 7 }}
}}
"""

P4INFO_TEXT = f"""
pkg_info {{ arch: "v1model" }}
tables {{
  preamble {{ id: {T_FWD} name: "ingress.fwd" alias: "fwd" }}
  match_fields {{ id: 1 name: "standard_metadata.ingress_port" bitwidth: 9 match_type: EXACT }}
  action_refs {{ id: {A_SET_PORT} }}
  action_refs {{ id: {A_TO_CPU} }}
  action_refs {{ id: {A_FLOOD} }}
  action_refs {{ id: {A_DROP} }}
  action_refs {{ id: {A_NOACTION} }}
  direct_resource_ids: {DC_FWD}
  size: 4
}}
""" + SHARED_P4INFO_TEXT


def p4info() -> p4i.P4Info:
    """The P4Info of the program."""
    return text_format.Parse(P4INFO_TEXT, p4i.P4Info())


def config(cookie: int = 1) -> p4r.ForwardingPipelineConfig:
    """P4Info + bmv2 JSON, as pushed to simple_switch_grpc."""
    result = p4r.ForwardingPipelineConfig(
        p4info=p4info(), p4_device_config=json.dumps(program()).encode()
    )
    result.cookie.cookie = cookie
    return result
