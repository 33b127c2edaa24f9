"""PipelineSchema: validation before sending, canonical encoding, decode round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from finsy.p4schema import P4RuntimeVersion, P4Schema
from finsy.proto import p4i, p4r
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.p4rt.entries import (
    MAX_PRIORITY,
    DefaultAction,
    Entry,
    Exact,
    Lpm,
    MatchValue,
    MulticastGroup,
    Optional,
    Range,
    Ternary,
    Update,
    ValueSet,
    WriteOp,
)
from controlplane.p4rt.errors import P4NameError, P4ValueError
from controlplane.p4rt.p4info import ActionScope, MatchFieldInfo, MatchKind, TableInfo
from controlplane.p4rt.schema import PipelineSchema

DATA = Path(__file__).parent / "data" / "p4rt"
MINI = DATA / "mini.p4info.txtpb"
COMPILED = DATA / "mini_bmv2.p4info.txtpb"
REAL = Path(__file__).parent.parent / "p4src" / "build" / "nve.p4info.txtpb"
P4INFOS = [p for p in (MINI, COMPILED, REAL) if p.exists()]

VAP, ROUTE, ACL, FIXED = "Ing.vap", "Ing.route", "Ing.acl", "Ing.fixed"
PORT, VID = "standard_metadata.ingress_port", "hdr.vlan.vid"
ETH_DST, INNER_DST = "hdr.ethernet.dst_addr", "hdr.inner_ethernet.dst_addr"
IP_SRC, L4_DPORT = "hdr.ipv4.src_addr", "meta.l4_dst_port"
VRF, IP_DST = "meta.vrf", "hdr.ipv4.dst_addr"


@pytest.fixture(scope="module")
def schema() -> PipelineSchema:
    return PipelineSchema.load(MINI)


def vap_entry(port: int = 1, vid: int = 10, **params: int) -> Entry:
    return Entry(
        VAP, {PORT: Exact(port), VID: Exact(vid)}, "Ing.set_vap", params or {"vap_id": 1, "vni": 2}
    )


def acl_entry(match: dict[str, MatchValue], priority: int = 10) -> Entry:
    return Entry(ACL, match, "Ing.punt", {"reason": 1}, priority)


# -- validation: names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "kind", "bad", "valid"),
    [
        (Entry("vap", {}, "Ing.drop"), "table", "vap", VAP),
        (Entry(VAP, {"vid": Exact(1)}, "Ing.drop"), "match field", "vid", VID),
        (
            Entry(VAP, {PORT: Exact(1), VID: Exact(1)}, "set_vap"),
            "action",
            "set_vap",
            "Ing.set_vap",
        ),
        (vap_entry(vap_id=1, vnid=2), "action parameter", "vnid", "vni"),
        (DefaultAction("Ing.nope", "Ing.drop"), "table", "Ing.nope", ROUTE),
    ],
)
def test_unknown_names_raise_p4nameerror_naming_bad_and_valid_names(
    schema: PipelineSchema, entity: Entry, kind: str, bad: str, valid: str
) -> None:
    with pytest.raises(P4NameError) as info:
        schema.validate(entity)
    err = info.value
    assert (err.kind, err.name) == (kind, bad)
    assert valid in err.valid
    assert repr(bad) in str(err) and repr(valid) in str(err)


def test_name_error_suggests_the_full_name_for_an_alias(schema: PipelineSchema) -> None:
    with pytest.raises(P4NameError, match=r"did you mean 'Ing\.route'"):
        schema.validate(Entry("route", {}, "Ing.drop"))


# -- validation: values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        (vap_entry(vid=4096), r"'hdr\.vlan\.vid': value 4096 \(0x1000\) does not fit in bit<12>"),
        (vap_entry(port=512), r"ingress_port'.*512.*bit<9>"),
        (vap_entry(vap_id=1, vni=1 << 24), r"parameter 'vni'.*16777216.*bit<24>"),
        (Entry(ROUTE, {VRF: Exact(1), IP_DST: Lpm(0, 33)}, "Ing.drop"), "prefix length 33 > "),
        (Entry(ROUTE, {VRF: Exact(1), IP_DST: Lpm(0x0A000001, 24)}, "Ing.drop"), "beyond prefix"),
        (Entry(ROUTE, {VRF: Exact(1), IP_DST: Lpm(0, 0)}, "Ing.drop"), "/0 is a wildcard"),
        (Entry(ROUTE, {VRF: Exact(1), IP_DST: Exact(1)}, "Ing.drop"), "is LPM, got EXACT"),
        (Entry(ROUTE, {IP_DST: Lpm(0, 8)}, "Ing.drop"), r"exact match field\(s\) missing"),
        (acl_entry({IP_SRC: Ternary(0, 0)}), "mask 0 is a wildcard"),
        (acl_entry({IP_SRC: Ternary(0, 1 << 32)}), "mask: value 4294967296"),
        (acl_entry({L4_DPORT: Range(0, 0xFFFF)}), "full range is a wildcard"),
        (acl_entry({L4_DPORT: Range(0, 0x10000)}), "high: value 65536"),
        (acl_entry({ETH_DST: Optional(1 << 48)}), "does not fit in bit<48>"),
        (acl_entry({}, priority=0), "priority must be > 0"),
        (Entry(VAP, {PORT: Exact(1), VID: Exact(1)}, "Ing.drop", priority=3), "priority must be 0"),
        (Entry(ROUTE, {VRF: Exact(1)}, "Ing.permit"), "not an action of table Ing.route"),
        (Entry(ROUTE, {VRF: Exact(1)}, "Ing.miss"), "DEFAULT_ONLY .* can only be the default"),
        (DefaultAction(ACL, "Ing.drop"), "TABLE_ONLY .* can only be a table entry"),
        (DefaultAction(FIXED, "Ing.drop"), "default action is const"),
        (Entry(FIXED, {VRF: Exact(1)}, "Ing.drop"), "Ing.fixed is const"),
        (vap_entry(vap_id=1), r"missing parameter\(s\) \['vni'\]"),
    ],
)
def test_invalid_values_raise_p4valueerror_before_encoding(
    schema: PipelineSchema, entity: Entry, message: str
) -> None:
    with pytest.raises(P4ValueError, match=message):
        schema.encode_update(Update(WriteOp.MODIFY, entity))


def test_valid_entries_of_every_kind_validate(schema: PipelineSchema) -> None:
    schema.validate(vap_entry())
    schema.validate(Entry(ROUTE, {VRF: Exact(1), IP_DST: Lpm(0x0A000000, 8)}, "Ing.drop"))
    schema.validate(Entry(ROUTE, {VRF: Exact(1)}, "Ing.drop"))  # lpm omitted = wildcard
    schema.validate(
        acl_entry(
            {
                ETH_DST: Optional(5),
                INNER_DST: Optional(6),
                IP_SRC: Ternary(0x0A000000, 0xFF000000),
                L4_DPORT: Range(80, 80),
            }
        )
    )
    schema.validate(DefaultAction(ROUTE, "Ing.miss"))
    schema.validate(MulticastGroup(1, [(1, 0), (2, 5)]))


# -- encoding ------------------------------------------------------------------------


def test_values_are_encoded_as_canonical_minimal_byte_strings(schema: PipelineSchema) -> None:
    entry = acl_entry({ETH_DST: Optional(1), IP_SRC: Ternary(0, 0x80000000), L4_DPORT: Range(0, 5)})
    msg = schema.encode_entity(entry).table_entry
    by_id = {m.field_id: m for m in msg.match}
    assert by_id[1].optional.value == b"\x01"
    assert by_id[3].ternary.value == b"\x00"
    assert by_id[3].ternary.mask == b"\x80\x00\x00\x00"
    assert (by_id[4].range.low, by_id[4].range.high) == (b"\x00", b"\x05")
    assert [m.field_id for m in msg.match] == [1, 3, 4]
    assert msg.priority == 10
    assert msg.action.action.params[0].value == b"\x01"


def test_ids_come_from_the_p4info(schema: PipelineSchema) -> None:
    msg = schema.encode_entity(vap_entry(vap_id=0x102, vni=3)).table_entry
    assert msg.table_id == 33554433
    assert msg.action.action.action_id == 16777218
    assert [(p.param_id, p.value) for p in msg.action.action.params] == [
        (1, b"\x01\x02"),
        (2, b"\x03"),
    ]


def test_delete_omits_the_action_and_insert_keeps_it(schema: PipelineSchema) -> None:
    delete = schema.encode_update(Update(WriteOp.DELETE, vap_entry()))
    insert = schema.encode_update(Update(WriteOp.INSERT, vap_entry()))
    assert delete.type == p4r.Update.DELETE
    assert not delete.entity.table_entry.HasField("action")
    assert insert.type == p4r.Update.INSERT
    assert insert.entity.table_entry.HasField("action")


def test_default_action_is_encoded_with_is_default_action(schema: PipelineSchema) -> None:
    update = schema.encode_update(Update(WriteOp.MODIFY, DefaultAction(ROUTE, "Ing.miss")))
    assert update.type == p4r.Update.MODIFY
    assert update.entity.table_entry.is_default_action
    assert not update.entity.table_entry.match


@pytest.mark.parametrize(
    ("version", "field"), [(P4RuntimeVersion(1, 3, 0, ""), "egress_port"), ((1, 5, 0, ""), "port")]
)
def test_multicast_replica_encoding_follows_the_device_version(
    schema: PipelineSchema, version: P4RuntimeVersion, field: str
) -> None:
    group = MulticastGroup(3, [(1, 0), (2, 7)])
    entity = schema.encode_entity(group, P4RuntimeVersion(*version))
    msg = entity.packet_replication_engine_entry.multicast_group_entry
    assert msg.multicast_group_id == 3
    assert [r.WhichOneof("port_kind") for r in msg.replicas] == [field, field]
    assert schema.decode_multicast_group(msg) == group


# -- decoding ------------------------------------------------------------------------


def _field(field_id: int, **kind: object) -> p4r.FieldMatch:
    return p4r.FieldMatch(field_id=field_id, **kind)  # type: ignore[arg-type]


def test_decode_drops_dont_care_fields_so_they_equal_omitted_ones(schema: PipelineSchema) -> None:
    table_entry = p4r.TableEntry(
        table_id=33554435,
        match=[
            _field(3, ternary=p4r.FieldMatch.Ternary(value=b"\x00", mask=b"\x00")),
            _field(4, range=p4r.FieldMatch.Range(low=b"\x00", high=b"\xff\xff")),
            _field(1, optional=p4r.FieldMatch.Optional(value=b"\x00\x07")),
        ],
        action=p4r.TableAction(action=p4r.Action(action_id=16777220)),
        priority=4,
    )
    assert schema.decode_table_entry(table_entry) == Entry(
        ACL, {ETH_DST: Optional(7)}, "Ing.permit", priority=4
    )
    route = p4r.TableEntry(
        table_id=33554434,
        match=[
            _field(1, exact=p4r.FieldMatch.Exact(value=b"\x01")),
            _field(2, lpm=p4r.FieldMatch.LPM(value=b"\x00", prefix_len=0)),
        ],
        action=p4r.TableAction(action=p4r.Action(action_id=16777217)),
    )
    assert schema.decode_table_entry(route) == Entry(ROUTE, {VRF: Exact(1)}, "Ing.drop")


def test_decode_default_entry_gives_a_default_action(schema: PipelineSchema) -> None:
    msg = p4r.TableEntry(
        table_id=33554434,
        is_default_action=True,
        action=p4r.TableAction(action=p4r.Action(action_id=16777222)),
    )
    assert schema.decode_table_entry(msg) == DefaultAction(ROUTE, "Ing.miss")


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (p4r.TableEntry(table_id=99), "unknown table id 0x63"),
        (
            p4r.TableEntry(
                table_id=33554433,
                action=p4r.TableAction(action_profile_member_id=1),
            ),
            "only direct actions",
        ),
        (
            p4r.TableEntry(
                table_id=33554433,
                match=[_field(2, exact=p4r.FieldMatch.Exact(value=b"\x10\x00"))],
                action=p4r.TableAction(action=p4r.Action(action_id=16777217)),
            ),
            "does not fit in bit<12>",
        ),
        (
            p4r.TableEntry(
                table_id=33554434,
                match=[_field(2, exact=p4r.FieldMatch.Exact(value=b"\x01"))],
                action=p4r.TableAction(action=p4r.Action(action_id=16777217)),
            ),
            "device sent a exact match, the P4Info says MatchKind.LPM",
        ),
        (
            p4r.TableEntry(
                table_id=33554434,
                match=[_field(2, lpm=p4r.FieldMatch.LPM(value=b"\x01", prefix_len=33))],
                action=p4r.TableAction(action=p4r.Action(action_id=16777217)),
            ),
            "prefix length 33 > 32",
        ),
    ],
)
def test_decode_refuses_what_our_p4info_cannot_describe(
    schema: PipelineSchema, msg: p4r.TableEntry, message: str
) -> None:
    with pytest.raises(P4ValueError, match=message):
        schema.decode_table_entry(msg)


# -- round trip property -------------------------------------------------------------


def _match_value(field: MatchFieldInfo) -> st.SearchStrategy[MatchValue | None]:
    width = field.bitwidth
    top = (1 << width) - 1
    values = st.integers(0, top)
    match field.kind:
        case MatchKind.EXACT:
            return values.map(Exact)
        case MatchKind.OPTIONAL:
            return st.none() | values.map(Optional)
        case MatchKind.LPM:
            return st.none() | st.tuples(values, st.integers(1, width)).map(
                lambda vp: Lpm(vp[0] & ~((1 << (width - vp[1])) - 1) & top, vp[1])
            )
        case MatchKind.TERNARY:
            return st.none() | st.tuples(values, st.integers(1, top)).map(
                lambda vm: Ternary(vm[0] & vm[1], vm[1])
            )
        case MatchKind.RANGE:
            return st.none() | st.tuples(values, values).map(
                lambda lh: Range(min(lh), max(lh) - (min(lh) == 0 and max(lh) == top))
            )
    raise AssertionError(field)


def _writable(table: TableInfo) -> bool:
    return (
        not table.is_const
        and not table.has_action_profile
        and all(f.kind is not None and f.bitwidth > 0 for f in table.fields)
    )


def _byte_strings(msg: p4r.TableEntry) -> list[bytes]:
    """Every value byte string of the match fields and action parameters."""
    result = [p.value for p in msg.action.action.params]
    for field in msg.match:
        kind = getattr(field, str(field.WhichOneof("field_match_type")))
        result += [value for _, value in kind.ListFields() if isinstance(value, bytes)]
    return result


@st.composite
def entries(draw: st.DrawFn, schema: PipelineSchema) -> Entry:
    table = draw(st.sampled_from([t for t in schema.index.tables if _writable(t)]))
    match = []
    for field in table.fields:
        value = draw(_match_value(field))
        if value is not None:
            match.append((field.name, value))
    names = [n for n, s in table.action_scopes.items() if s is not ActionScope.DEFAULT_ONLY]
    action = schema.index.actions.lookup(draw(st.sampled_from(sorted(names))))
    params = {p.name: draw(st.integers(0, (1 << p.bitwidth) - 1)) for p in action.params}
    priority = draw(st.integers(1, MAX_PRIORITY)) if table.needs_priority else 0
    return Entry(table.name, match, action.name, params, priority)


@pytest.mark.parametrize("p4info", P4INFOS, ids=lambda p: p.name)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_valid_entries_round_trip_exactly(p4info: Path, data: st.DataObject) -> None:
    schema = PipelineSchema.load(p4info)
    entry = data.draw(entries(schema))
    schema.validate(entry)
    wire = schema.encode_update(Update(WriteOp.INSERT, entry)).SerializeToString()
    table_entry = p4r.Update.FromString(wire).entity.table_entry
    for value in _byte_strings(table_entry):
        assert value == b"\x00" or value[0] != 0, f"not canonical: {value!r}"
    assert schema.decode_table_entry(table_entry) == entry


@settings(max_examples=100, deadline=None)
@given(
    group_id=st.integers(1, 2**32 - 1),
    replicas=st.sets(st.tuples(st.integers(0, 511), st.integers(0, 2**16 - 1)), max_size=8),
)
def test_random_multicast_groups_round_trip(group_id: int, replicas: set[tuple[int, int]]) -> None:
    schema = PipelineSchema.load(MINI)
    group = MulticastGroup(group_id, replicas)
    entity = schema.encode_entity(group, P4RuntimeVersion(1, 5, 0, ""))
    assert (
        schema.decode_multicast_group(entity.packet_replication_engine_entry.multicast_group_entry)
        == group
    )


# -- reads, counters, packets, cookie ------------------------------------------------


def test_table_read_is_a_wildcard_read(schema: PipelineSchema) -> None:
    assert schema.table_read(None).table_entry == p4r.TableEntry()
    read = schema.table_read(ACL, counters=True).table_entry
    assert read.table_id == 33554435 and read.HasField("counter_data") and not read.match


def test_counter_reads_are_checked(schema: PipelineSchema) -> None:
    assert schema.counter_read("Ing.drop_reasons", None).counter_entry == p4r.CounterEntry(
        counter_id=301989889
    )
    assert schema.counter_read("Ing.drop_reasons", 15).counter_entry.index.index == 15
    with pytest.raises(P4ValueError, match=r"index 16 out of range 0\.\.15"):
        schema.counter_read("Ing.drop_reasons", 16)
    with pytest.raises(P4NameError, match="unknown counter 'drops'"):
        schema.counter_read("drops", None)
    with pytest.raises(P4ValueError, match=r"Ing\.route has no direct counter"):
        schema.direct_counter_table(ROUTE)


def test_packet_out_metadata_is_checked_and_padding_defaults_to_zero(
    schema: PipelineSchema,
) -> None:
    packet = schema.encode_packet_out(b"abc", {"egress_port": 300})
    assert packet.payload == b"abc"
    assert [(m.metadata_id, m.value) for m in packet.metadata] == [(1, b"\x01\x2c"), (2, b"\x00")]
    with pytest.raises(P4ValueError, match="'egress_port' missing"):
        schema.encode_packet_out(b"", {})
    with pytest.raises(P4NameError, match="unknown packet_out metadata 'port'"):
        schema.encode_packet_out(b"", {"port": 1, "egress_port": 1})
    with pytest.raises(P4ValueError, match=r"512.*bit<9>"):
        schema.encode_packet_out(b"", {"egress_port": 512})


def test_packet_in_metadata_is_decoded_by_name_without_padding(schema: PipelineSchema) -> None:
    msg = p4r.PacketIn(
        payload=b"xyz",
        metadata=[
            p4r.PacketMetadata(metadata_id=1, value=b"\x01\x00"),
            p4r.PacketMetadata(metadata_id=2, value=b"\x09"),
            p4r.PacketMetadata(metadata_id=3, value=b"\x00"),
        ],
    )
    assert schema.decode_packet_in(msg) == (b"xyz", {"ingress_port": 256, "reason": 9})


def test_cookie_is_finsys_p4cookie_and_covers_the_device_config() -> None:
    p4info = PipelineSchema.load(MINI).p4info
    loadable = p4i.P4Info()
    loadable.CopyFrom(p4info)
    del loadable.tables[2]  # finsy's P4Schema cannot load Ing.acl (two "dst_addr" fields)
    del loadable.direct_counters[1]  # Ing.acl_counter
    ours = PipelineSchema(loadable, b"{json}")
    assert ours.cookie == P4Schema(loadable, b"{json}").p4cookie
    assert ours.cookie != PipelineSchema(loadable, b"{other json}").cookie
    config = ours.pipeline_config()
    assert config.cookie.cookie == ours.cookie and config.p4_device_config == b"{json}"


def test_value_sets_are_checked_encoded_and_decoded(schema: PipelineSchema) -> None:
    value_set = ValueSet("Prs.tpids", [0x9100, 0x88A8, 0x9100])
    assert value_set.members == (0x88A8, 0x9100)
    update = schema.encode_update(Update(WriteOp.MODIFY, value_set))
    msg = update.entity.value_set_entry
    assert msg.value_set_id == 50331649
    assert [m.match[0].exact.value for m in msg.members] == [b"\x88\xa8", b"\x91\x00"]
    assert schema.decode_value_set(msg) == value_set
    assert schema.value_set_read("Prs.tpids").value_set_entry.value_set_id == 50331649
    with pytest.raises(P4ValueError, match="at most 2 members, got 3"):
        schema.validate(ValueSet("Prs.tpids", [1, 2, 3]))
    with pytest.raises(P4ValueError, match=r"65536.*bit<16>"):
        schema.validate(ValueSet("Prs.tpids", [0x10000]))
    with pytest.raises(P4ValueError, match="only single-field exact"):
        schema.validate(ValueSet("Prs.pairs", [1]))
    with pytest.raises(P4NameError, match="unknown value set 'tpids'"):
        schema.validate(ValueSet("tpids", [1]))
