"""Read RPC of the softswitch P4Runtime server: wildcards, filters, counters, errors."""

from __future__ import annotations

import pytest
from finsy import P4ClientError
from finsy.proto import p4r
from test_softswitch_server_support import (
    A_DROP,
    A_SET_PORT,
    A_TO_CPU,
    C_PORT,
    DC_FWD,
    INSERT,
    T_ACL,
    T_CONST,
    T_FWD,
    action,
    exact,
    fake_switch,
    fwd_entry,
    memory_ports,
    primary_with_pipeline,
    update,
)


def entity(**kwargs: object) -> p4r.Entity:
    return p4r.Entity(table_entry=p4r.TableEntry(**kwargs))  # type: ignore[arg-type]


async def test_wildcard_reads_all_tables_and_one_table() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        acl = p4r.TableEntry(table_id=T_ACL, priority=3, action=action(A_DROP))
        await ctl.write(
            update(INSERT, table_entry=fwd_entry(1, 2)),
            update(INSERT, table_entry=fwd_entry(2)),
            update(INSERT, table_entry=acl),
        )
        everything = await ctl.read(entity())
        assert [e.table_entry.table_id for e in everything] == [T_FWD, T_FWD, T_ACL, T_CONST]
        assert [e.table_entry for e in await ctl.read(entity(table_id=T_FWD))] == [
            fwd_entry(1, 2),
            fwd_entry(2),
        ]


async def test_const_entries_read_as_const() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        [found] = await ctl.read(entity(table_id=T_CONST))
        assert found.table_entry.is_const
        assert found.table_entry.action == action(A_DROP)


async def test_exact_key_lookup() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(
            update(INSERT, table_entry=fwd_entry(1, 2)), update(INSERT, table_entry=fwd_entry(2, 3))
        )
        found = await ctl.read(entity(table_id=T_FWD, match=[exact(1, b"\x02")]))
        assert [e.table_entry for e in found] == [fwd_entry(2, 3)]
        assert await ctl.read(entity(table_id=T_FWD, match=[exact(1, b"\x03")])) == []


async def test_filters_on_action_priority_and_metadata() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(
            update(INSERT, table_entry=fwd_entry(1, 2, controller_metadata=11, metadata=b"a")),
            update(INSERT, table_entry=fwd_entry(2, controller_metadata=12)),
            update(
                INSERT,
                table_entry=p4r.TableEntry(table_id=T_ACL, priority=3, action=action(A_DROP)),
            ),
            update(
                INSERT,
                table_entry=p4r.TableEntry(table_id=T_ACL, priority=4, action=action(A_DROP)),
            ),
        )
        by_action = await ctl.read(entity(table_id=T_FWD, action=action(A_TO_CPU)))
        assert [e.table_entry.controller_metadata for e in by_action] == [12]
        by_cookie = await ctl.read(entity(table_id=T_FWD, controller_metadata=11))
        assert [e.table_entry.metadata for e in by_cookie] == [b"a"]
        by_metadata = await ctl.read(entity(table_id=T_FWD, metadata=b"a"))
        assert len(by_metadata) == 1
        by_priority = await ctl.read(entity(table_id=T_ACL, priority=4))
        assert [e.table_entry.priority for e in by_priority] == [4]


async def test_default_entries() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        defaults = await ctl.read(entity(is_default_action=True))
        assert len(defaults) == 4
        assert all(e.table_entry.is_default_action for e in defaults)
        [fwd_default] = await ctl.read(entity(table_id=T_FWD, is_default_action=True))
        assert fwd_default.table_entry.action.action.action_id != 0


async def test_counter_data_on_table_entries_counts_packets() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        ports = memory_ports(switch)
        ports.inject(1, bytes(60))
        ports.inject(1, bytes(70))
        await switch.settle()
        assert len(ports.take(2)) == 2
        [found] = await ctl.read(entity(table_id=T_FWD, counter_data=p4r.CounterData()))
        assert found.table_entry.counter_data == p4r.CounterData(packet_count=2, byte_count=130)
        [plain] = await ctl.read(entity(table_id=T_FWD))
        assert not plain.table_entry.HasField("counter_data")
        direct = await ctl.read(
            p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(table_entry=p4r.TableEntry()))
        )
        assert [e.direct_counter_entry.data.packet_count for e in direct] == [2]
        assert direct[0].direct_counter_entry.table_entry.table_id == T_FWD
        counters = await ctl.read(p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT)))
        assert len(counters) == 16
        assert counters[1].counter_entry.data == p4r.CounterData(packet_count=2, byte_count=130)
        all_counters = await ctl.read(p4r.Entity(counter_entry=p4r.CounterEntry()))
        assert all_counters == counters


async def test_read_errors_are_per_request() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        with pytest.raises(P4ClientError) as info:
            await ctl.read(
                entity(table_id=T_FWD),
                entity(table_id=0x02FFFFFF),
                p4r.Entity(
                    counter_entry=p4r.CounterEntry(counter_id=C_PORT, index=p4r.Index(index=99))
                ),
                p4r.Entity(register_entry=p4r.RegisterEntry(register_id=5)),
                p4r.Entity(),
            )
        assert info.value.code.name == "UNKNOWN"
        codes = {index: error.canonical_code.name for index, error in info.value.details.items()}
        assert codes == {
            1: "INVALID_ARGUMENT",
            2: "OUT_OF_RANGE",
            3: "UNIMPLEMENTED",
            4: "INVALID_ARGUMENT",
        }


async def test_wildcard_reads_of_kinds_the_target_lacks_find_nothing() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        clones = p4r.PacketReplicationEngineEntry(clone_session_entry=p4r.CloneSessionEntry())
        found = await ctl.read(
            p4r.Entity(packet_replication_engine_entry=clones),
            p4r.Entity(action_profile_member=p4r.ActionProfileMember()),
            p4r.Entity(action_profile_group=p4r.ActionProfileGroup()),
            p4r.Entity(meter_entry=p4r.MeterEntry()),
            p4r.Entity(register_entry=p4r.RegisterEntry()),
        )
        assert found == []


async def test_direct_counter_read_of_missing_entry_is_not_found() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        key = p4r.TableEntry(table_id=T_FWD, match=[exact(1, b"\x05")])
        with pytest.raises(P4ClientError) as info:
            await ctl.read(p4r.Entity(direct_counter_entry=p4r.DirectCounterEntry(table_entry=key)))
        assert info.value.details[0].canonical_code.name == "NOT_FOUND"


async def test_large_reads_are_streamed_in_chunks() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        request = p4r.ReadRequest(
            entities=[p4r.Entity(counter_entry=p4r.CounterEntry(counter_id=C_PORT))] * 70
        )
        responses = [response async for response in ctl.client.request_iter(request)]
        assert len(responses) == 2
        assert sum(len(response.entities) for response in responses) == 70 * 16


async def test_unknown_direct_counter_id_in_p4info_is_fine() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch):
        assert DC_FWD in switch.device.require_pipeline().schema.direct_counters
        assert A_SET_PORT in switch.device.require_pipeline().schema.actions
