"""Write RPC of the softswitch P4Runtime server: updates, validation, per-update errors."""

from __future__ import annotations

import pytest
from finsy import P4ClientError
from finsy.proto import p4r, rpc_code
from test_softswitch_server_support import (
    A_DROP,
    A_FLOOD,
    A_NOACTION,
    A_SET_PORT,
    A_TO_CPU,
    C_PORT,
    DELETE,
    INSERT,
    MODIFY,
    T_ACL,
    T_CONST,
    T_FWD,
    T_ROUTES,
    VS_TPIDS,
    action,
    exact,
    fake_switch,
    fwd_entry,
    primary_with_pipeline,
    update,
)

Code = rpc_code


def acl_entry(priority: int = 10, *matches: p4r.FieldMatch) -> p4r.TableEntry:
    return p4r.TableEntry(table_id=T_ACL, match=matches, priority=priority, action=action(A_DROP))


def ternary(field_id: int, value: bytes, mask: bytes) -> p4r.FieldMatch:
    return p4r.FieldMatch(field_id=field_id, ternary=p4r.FieldMatch.Ternary(value=value, mask=mask))


def lpm(value: bytes, prefix_len: int) -> p4r.FieldMatch:
    return p4r.FieldMatch(field_id=1, lpm=p4r.FieldMatch.LPM(value=value, prefix_len=prefix_len))


def route(value: bytes, prefix_len: int, port: bytes = b"\x03") -> p4r.TableEntry:
    return p4r.TableEntry(
        table_id=T_ROUTES, match=[lpm(value, prefix_len)], action=action(A_SET_PORT, port)
    )


def group(group_id: int, *replicas: tuple[int, int]) -> p4r.PacketReplicationEngineEntry:
    entry = p4r.MulticastGroupEntry(multicast_group_id=group_id)
    for port, instance in replicas:
        entry.replicas.add(port=port.to_bytes(1, "big"), instance=instance)
    return p4r.PacketReplicationEngineEntry(multicast_group_entry=entry)


async def test_insert_modify_delete_table_entry() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        await ctl.write(update(MODIFY, table_entry=fwd_entry(1, 3)))
        [found] = await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))
        assert found.table_entry.action == action(A_SET_PORT, b"\x03")
        await ctl.write(
            update(DELETE, table_entry=p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")]))
        )
        assert await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD))) == []


async def test_per_update_errors_with_ok_for_good_updates() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        errors = await ctl.write_errors(
            update(INSERT, table_entry=fwd_entry(1, 2)),
            update(INSERT, table_entry=fwd_entry(2, 3)),
            update(MODIFY, table_entry=fwd_entry(3, 3)),
            update(DELETE, table_entry=fwd_entry(4)),
            update(INSERT, table_entry=p4r.TableEntry(table_id=0x02FFFFFF)),
        )
        assert errors == {
            0: Code.ALREADY_EXISTS,
            2: Code.NOT_FOUND,
            3: Code.NOT_FOUND,
            4: Code.INVALID_ARGUMENT,
        }
        assert len(await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))) == 2


async def test_status_details_has_one_error_per_update() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        with pytest.raises(P4ClientError) as info:
            await ctl.write(
                update(INSERT, table_entry=fwd_entry(1, 2)),
                update(INSERT, table_entry=fwd_entry(1, 2)),
            )
        assert info.value.code.name == "UNKNOWN"
        assert list(info.value.details) == [1]
        assert info.value.details[1].canonical_code.name == "ALREADY_EXISTS"


async def test_table_full_is_resource_exhausted() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        updates = [update(INSERT, table_entry=fwd_entry(port, 1)) for port in range(1, 7)]
        errors = await ctl.write_errors(*updates)
        assert errors == {4: Code.RESOURCE_EXHAUSTED, 5: Code.RESOURCE_EXHAUSTED}


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        # missing exact field
        (p4r.TableEntry(table_id=T_FWD, action=action(A_TO_CPU)), Code.INVALID_ARGUMENT),
        # unknown field id
        (
            p4r.TableEntry(
                table_id=T_FWD,
                match=[exact(1, b"\x01"), exact(2, b"\x01")],
                action=action(A_TO_CPU),
            ),
            Code.INVALID_ARGUMENT,
        ),
        # duplicate field
        (
            p4r.TableEntry(
                table_id=T_FWD,
                match=[exact(1, b"\x01"), exact(1, b"\x01")],
                action=action(A_TO_CPU),
            ),
            Code.INVALID_ARGUMENT,
        ),
        # value too wide for bit<9>
        (
            p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x02\x00")], action=action(A_TO_CPU)),
            Code.INVALID_ARGUMENT,
        ),
        # empty bytestring
        (
            p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"")], action=action(A_TO_CPU)),
            Code.INVALID_ARGUMENT,
        ),
        # wrong match kind
        (
            p4r.TableEntry(
                table_id=T_FWD, match=[ternary(1, b"\x01", b"\x01")], action=action(A_TO_CPU)
            ),
            Code.INVALID_ARGUMENT,
        ),
        # priority on an exact table
        (fwd_entry(1, 2, priority=3), Code.INVALID_ARGUMENT),
        # no action on insert
        (p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")]), Code.INVALID_ARGUMENT),
        # action not in table
        (
            p4r.TableEntry(table_id=T_ACL, priority=1, action=action(A_SET_PORT, b"\x01")),
            Code.INVALID_ARGUMENT,
        ),
        # unknown action id
        (
            p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")], action=action(0x01FFFFFF)),
            Code.INVALID_ARGUMENT,
        ),
        # missing parameter / too wide parameter / extra parameter
        (
            p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")], action=action(A_SET_PORT)),
            Code.INVALID_ARGUMENT,
        ),
        (
            p4r.TableEntry(
                table_id=T_FWD, match=[exact(1, b"\x01")], action=action(A_SET_PORT, b"\x02\x00")
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            p4r.TableEntry(
                table_id=T_FWD,
                match=[exact(1, b"\x01")],
                action=action(A_SET_PORT, b"\x01", b"\x01"),
            ),
            Code.INVALID_ARGUMENT,
        ),
        # DEFAULT_ONLY action in an entry
        (
            p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")], action=action(A_NOACTION)),
            Code.PERMISSION_DENIED,
        ),
        # ternary: missing priority, value outside mask, zero mask
        (acl_entry(0, ternary(1, b"\x01", b"\x01")), Code.INVALID_ARGUMENT),
        (acl_entry(5, ternary(1, b"\x03", b"\x01")), Code.INVALID_ARGUMENT),
        (acl_entry(5, ternary(1, b"\x00", b"\x00")), Code.INVALID_ARGUMENT),
        # lpm: host bits set, prefix 0, prefix too long
        (route(b"\x0a\x00\x00\x01", 24), Code.INVALID_ARGUMENT),
        (route(b"\x00", 0), Code.INVALID_ARGUMENT),
        (route(b"\x0a\x00\x00\x00", 33), Code.INVALID_ARGUMENT),
        # range low > high, full range
        (
            acl_entry(
                5, p4r.FieldMatch(field_id=2, range=p4r.FieldMatch.Range(low=b"\x09", high=b"\x08"))
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            acl_entry(
                5,
                p4r.FieldMatch(
                    field_id=2, range=p4r.FieldMatch.Range(low=b"\x00", high=b"\xff\xff")
                ),
            ),
            Code.INVALID_ARGUMENT,
        ),
        # is_const set by the client, idle timeout, meter config
        (fwd_entry(1, 2, is_const=True), Code.INVALID_ARGUMENT),
        (fwd_entry(1, 2, idle_timeout_ns=1000), Code.INVALID_ARGUMENT),
        # counter data on a table without direct counter
        (
            p4r.TableEntry(
                table_id=T_ACL,
                priority=5,
                action=action(A_DROP),
                counter_data=p4r.CounterData(packet_count=1),
            ),
            Code.INVALID_ARGUMENT,
        ),
        # const table
        (
            p4r.TableEntry(table_id=T_CONST, match=[exact(1, b"\x02")], action=action(A_DROP)),
            Code.PERMISSION_DENIED,
        ),
    ],
)
async def test_invalid_insert(entry: p4r.TableEntry, code: int) -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        assert await ctl.write_errors(update(INSERT, table_entry=entry)) == {0: code}


async def test_non_canonical_bytestrings_are_accepted_and_read_back_canonical() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        entry = p4r.TableEntry(
            table_id=T_FWD,
            match=[exact(1, b"\x00\x00\x01")],
            action=action(A_SET_PORT, b"\x00\x02"),
        )
        await ctl.write(update(INSERT, table_entry=entry))
        [found] = await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))
        assert found.table_entry.match[0].exact.value == b"\x01"
        assert found.table_entry.action.action.params[0].value == b"\x02"


async def test_ternary_range_optional_entries_and_dont_care() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        full = acl_entry(
            20,
            ternary(1, b"\x01\x00", b"\xff\x00"),
            p4r.FieldMatch(
                field_id=2, range=p4r.FieldMatch.Range(low=b"\x08\x00", high=b"\x08\xff")
            ),
            p4r.FieldMatch(field_id=3, optional=p4r.FieldMatch.Optional(value=b"\x0a")),
        )
        wildcard = acl_entry(1)
        await ctl.write(update(INSERT, table_entry=full), update(INSERT, table_entry=wildcard))
        found = await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_ACL)))
        assert [entity.table_entry for entity in found] == [full, wildcard]
        # Same match, other priority: a different entry.
        await ctl.write(update(INSERT, table_entry=acl_entry(2)))


async def test_lpm_entries() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(
            update(INSERT, table_entry=route(b"\x0a\x00\x00\x00", 8)),
            update(INSERT, table_entry=route(b"\x0a\x01\x00\x00", 16)),
        )
        found = await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_ROUTES)))
        assert [e.table_entry.match[0].lpm.prefix_len for e in found] == [8, 16]


async def test_default_entry_modify_and_reset() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        default = p4r.TableEntry(table_id=T_FWD, is_default_action=True, action=action(A_TO_CPU))
        await ctl.write(update(MODIFY, table_entry=default))
        query = p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD, is_default_action=True))
        assert (await ctl.read(query))[0].table_entry == default
        await ctl.write(
            update(MODIFY, table_entry=p4r.TableEntry(table_id=T_FWD, is_default_action=True))
        )
        assert (await ctl.read(query))[0].table_entry.action == action(A_NOACTION)


@pytest.mark.parametrize(
    ("kind", "entry", "code"),
    [
        (
            INSERT,
            p4r.TableEntry(table_id=T_FWD, is_default_action=True, action=action(A_DROP)),
            Code.INVALID_ARGUMENT,
        ),
        (DELETE, p4r.TableEntry(table_id=T_FWD, is_default_action=True), Code.INVALID_ARGUMENT),
        (
            MODIFY,
            p4r.TableEntry(
                table_id=T_FWD,
                is_default_action=True,
                match=[exact(1, b"\x01")],
                action=action(A_DROP),
            ),
            Code.INVALID_ARGUMENT,
        ),
        (
            MODIFY,
            p4r.TableEntry(table_id=T_CONST, is_default_action=True, action=action(A_DROP)),
            Code.PERMISSION_DENIED,
        ),
        # TABLE_ONLY action as default
        (
            MODIFY,
            p4r.TableEntry(
                table_id=T_ROUTES, is_default_action=True, action=action(A_SET_PORT, b"\x01")
            ),
            Code.PERMISSION_DENIED,
        ),
    ],
)
async def test_invalid_default_entry_updates(kind: int, entry: p4r.TableEntry, code: int) -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        assert await ctl.write_errors(update(kind, table_entry=entry)) == {0: code}


async def test_const_table_refuses_updates() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        const_entry = p4r.TableEntry(
            table_id=T_CONST, match=[exact(1, b"\x01")], action=action(A_DROP)
        )
        errors = await ctl.write_errors(
            update(MODIFY, table_entry=const_entry),
            update(DELETE, table_entry=const_entry),
        )
        assert errors == {0: Code.PERMISSION_DENIED, 1: Code.PERMISSION_DENIED}


async def test_counter_entry_modify() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        data = p4r.CounterData(packet_count=4, byte_count=400)
        await ctl.write(
            update(
                MODIFY,
                counter_entry=p4r.CounterEntry(
                    counter_id=C_PORT, index=p4r.Index(index=3), data=data
                ),
            )
        )
        [found] = await ctl.read(
            p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT, index=p4r.Index(index=3)))
        )
        assert found.counter_entry.data == data
        # No index: every cell.
        await ctl.write(
            update(
                MODIFY, counter_entry=p4r.CounterEntry(counter_id=C_PORT, data=p4r.CounterData())
            )
        )
        found = await ctl.read(p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT)))
        assert all(entity.counter_entry.data == p4r.CounterData() for entity in found)


async def test_counter_entry_errors() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        data = p4r.CounterData(packet_count=1)
        errors = await ctl.write_errors(
            update(
                INSERT,
                counter_entry=p4r.CounterEntry(
                    counter_id=C_PORT, index=p4r.Index(index=1), data=data
                ),
            ),
            update(
                MODIFY,
                counter_entry=p4r.CounterEntry(
                    counter_id=C_PORT, index=p4r.Index(index=16), data=data
                ),
            ),
            update(
                MODIFY,
                counter_entry=p4r.CounterEntry(
                    counter_id=C_PORT, index=p4r.Index(index=-1), data=data
                ),
            ),
            update(MODIFY, counter_entry=p4r.CounterEntry(counter_id=0x12FFFFFF, data=data)),
        )
        assert errors == {
            0: Code.INVALID_ARGUMENT,
            1: Code.OUT_OF_RANGE,
            2: Code.INVALID_ARGUMENT,
            3: Code.INVALID_ARGUMENT,
        }


async def test_direct_counter_entry_modify_and_errors() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        data = p4r.CounterData(packet_count=2, byte_count=128)
        key = p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x01")])
        await ctl.write(
            update(MODIFY, direct_counter_entry=p4r.DirectCounterEntry(table_entry=key, data=data))
        )
        [found] = await ctl.read(
            p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(table_entry=key))
        )
        assert found.direct_counter_entry.data == data
        missing = p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x02")])
        no_counter = p4r.TableEntry(table_id=T_ROUTES, match=[lpm(b"\x0a", 8)])
        errors = await ctl.write_errors(
            update(
                MODIFY, direct_counter_entry=p4r.DirectCounterEntry(table_entry=missing, data=data)
            ),
            update(INSERT, direct_counter_entry=p4r.DirectCounterEntry(table_entry=key, data=data)),
            update(
                MODIFY,
                direct_counter_entry=p4r.DirectCounterEntry(table_entry=no_counter, data=data),
            ),
        )
        assert errors == {0: Code.NOT_FOUND, 1: Code.INVALID_ARGUMENT, 2: Code.INVALID_ARGUMENT}


async def test_table_entry_modify_keeps_and_sets_direct_counter() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        entry = fwd_entry(1, 2, counter_data=p4r.CounterData(packet_count=5, byte_count=50))
        await ctl.write(update(INSERT, table_entry=entry))
        await ctl.write(update(MODIFY, table_entry=fwd_entry(1, 3)))
        query = p4r.TableEntry(table_id=T_FWD, counter_data=p4r.CounterData())
        [found] = await ctl.read(p4r.Entity(table_entry=query))
        assert found.table_entry.counter_data == p4r.CounterData(packet_count=5, byte_count=50)


async def test_multicast_group_lifecycle() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, packet_replication_engine_entry=group(5, (1, 0), (2, 0))))
        await ctl.write(update(MODIFY, packet_replication_engine_entry=group(5, (3, 1))))
        query = p4r.Entity(packet_replication_engine_entry=group(0))
        assert await ctl.read(query) == [
            p4r.Entity(packet_replication_engine_entry=group(5, (3, 1)))
        ]
        await ctl.write(update(DELETE, packet_replication_engine_entry=group(5)))
        assert await ctl.read(query) == []


async def test_multicast_group_errors() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, packet_replication_engine_entry=group(5, (1, 0))))
        clone = p4r.PacketReplicationEngineEntry(
            clone_session_entry=p4r.CloneSessionEntry(session_id=1)
        )
        errors = await ctl.write_errors(
            update(INSERT, packet_replication_engine_entry=group(5, (1, 0))),
            update(MODIFY, packet_replication_engine_entry=group(6, (1, 0))),
            update(DELETE, packet_replication_engine_entry=group(6)),
            update(INSERT, packet_replication_engine_entry=group(0, (1, 0))),
            update(INSERT, packet_replication_engine_entry=group(7, (1, 0), (1, 0))),
            update(INSERT, packet_replication_engine_entry=clone),
        )
        assert errors == {
            0: Code.ALREADY_EXISTS,
            1: Code.NOT_FOUND,
            2: Code.NOT_FOUND,
            3: Code.INVALID_ARGUMENT,
            4: Code.INVALID_ARGUMENT,
            5: Code.UNIMPLEMENTED,
        }


async def test_multicast_group_with_deprecated_egress_port_reads_back_the_same() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        entry = p4r.MulticastGroupEntry(multicast_group_id=3, metadata=b"meta")
        entry.replicas.add(egress_port=4, instance=2)
        pre = p4r.PacketReplicationEngineEntry(multicast_group_entry=entry)
        await ctl.write(update(INSERT, packet_replication_engine_entry=pre))
        assert await ctl.read(p4r.Entity(packet_replication_engine_entry=group(3))) == [
            p4r.Entity(packet_replication_engine_entry=pre)
        ]


def tpids(*values: bytes) -> p4r.ValueSetEntry:
    entry = p4r.ValueSetEntry(value_set_id=VS_TPIDS)
    for value in values:
        entry.members.add().match.append(exact(1, value))
    return entry


async def test_value_set_modify_and_errors() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(MODIFY, value_set_entry=tpids(b"\x88\xa8", b"\x91\x00")))
        found = await ctl.read(p4r.Entity(value_set_entry=p4r.ValueSetEntry(value_set_id=VS_TPIDS)))
        assert found == [p4r.Entity(value_set_entry=tpids(b"\x88\xa8", b"\x91\x00"))]
        errors = await ctl.write_errors(
            update(MODIFY, value_set_entry=tpids(b"\x01", b"\x02", b"\x03")),
            update(MODIFY, value_set_entry=tpids(b"\x01", b"\x01")),
            update(INSERT, value_set_entry=tpids(b"\x01")),
            update(MODIFY, value_set_entry=tpids(b"\x01\x00\x00")),
        )
        assert errors == {
            0: Code.RESOURCE_EXHAUSTED,
            1: Code.ALREADY_EXISTS,
            2: Code.INVALID_ARGUMENT,
            3: Code.INVALID_ARGUMENT,
        }
        await ctl.write(update(MODIFY, value_set_entry=tpids()))
        found = await ctl.read(p4r.Entity(value_set_entry=p4r.ValueSetEntry()))
        assert found == [p4r.Entity(value_set_entry=tpids())]


@pytest.mark.parametrize(
    "atomicity", [p4r.WriteRequest.ROLLBACK_ON_ERROR, p4r.WriteRequest.DATAPLANE_ATOMIC]
)
async def test_rollback_on_error_undoes_the_batch(atomicity: int) -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(
            update(
                INSERT, table_entry=fwd_entry(1, 2, counter_data=p4r.CounterData(packet_count=9))
            ),
            update(INSERT, packet_replication_engine_entry=group(1, (1, 0))),
            update(MODIFY, value_set_entry=tpids(b"\x88\xa8")),
        )
        before = await ctl.read(
            p4r.Entity(table_entry=p4r.TableEntry(counter_data=p4r.CounterData())),
            p4r.Entity(packet_replication_engine_entry=group(0)),
            p4r.Entity(value_set_entry=p4r.ValueSetEntry()),
            p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT, index=p4r.Index(index=1))),
        )
        errors = await ctl.write_errors(
            update(INSERT, table_entry=fwd_entry(2, 3)),
            update(MODIFY, table_entry=fwd_entry(1, 4)),
            update(DELETE, table_entry=fwd_entry(1)),
            update(MODIFY, packet_replication_engine_entry=group(1, (2, 0))),
            update(MODIFY, value_set_entry=tpids(b"\x81\x00")),
            update(
                MODIFY,
                counter_entry=p4r.CounterEntry(
                    counter_id=C_PORT, data=p4r.CounterData(packet_count=1)
                ),
            ),
            update(
                MODIFY,
                table_entry=p4r.TableEntry(
                    table_id=T_FWD, is_default_action=True, action=action(A_DROP)
                ),
            ),
            update(INSERT, table_entry=fwd_entry(1, 2)),
            update(INSERT, table_entry=fwd_entry(3, 2)),
            update(INSERT, table_entry=fwd_entry(3, 2)),
            atomicity=atomicity,
        )
        assert errors == {i: Code.ABORTED for i in range(9)} | {9: Code.ALREADY_EXISTS}
        after = await ctl.read(
            p4r.Entity(table_entry=p4r.TableEntry(counter_data=p4r.CounterData())),
            p4r.Entity(packet_replication_engine_entry=group(0)),
            p4r.Entity(value_set_entry=p4r.ValueSetEntry()),
            p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT, index=p4r.Index(index=1))),
        )
        assert after == before
        default = await ctl.read(
            p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD, is_default_action=True))
        )
        assert default[0].table_entry.action == action(A_NOACTION)


async def test_unsupported_entities_are_unimplemented() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        errors = await ctl.write_errors(
            update(INSERT, register_entry=p4r.RegisterEntry(register_id=1)),
            update(INSERT, meter_entry=p4r.MeterEntry(meter_id=1)),
            p4r.Update(type=INSERT),
            p4r.Update(entity=p4r.Entity(table_entry=fwd_entry(1, 2))),
        )
        assert errors == {
            0: Code.UNIMPLEMENTED,
            1: Code.UNIMPLEMENTED,
            2: Code.INVALID_ARGUMENT,
            3: Code.INVALID_ARGUMENT,
        }


async def test_flood_action_param_and_group() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        entry = p4r.TableEntry(
            table_id=T_FWD, match=[exact(1, b"\x01")], action=action(A_FLOOD, b"\x00\x07")
        )
        await ctl.write(update(INSERT, table_entry=entry))
        [found] = await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))
        assert found.table_entry.action.action.params[0].value == b"\x07"
