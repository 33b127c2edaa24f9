"""Capabilities and Set/GetForwardingPipelineConfig of the softswitch P4Runtime server."""

from __future__ import annotations

import json

import pytest
from finsy import P4ClientError
from finsy.proto import p4r
from test_softswitch_server_support import (
    FAKE_ENGINE,
    FAKE_PROGRAM,
    INSERT,
    T_FWD,
    controller,
    fake_config,
    fake_switch,
    fwd_entry,
    primary_with_pipeline,
    update,
)

from softswitch.server import SoftSwitch

SetAction = p4r.SetForwardingPipelineConfigRequest
ResponseType = p4r.GetForwardingPipelineConfigRequest


async def test_capabilities_reports_version() -> None:
    async with fake_switch() as switch, controller(switch, arbitrate=False) as ctl:
        reply = await ctl.client.request(p4r.CapabilitiesRequest())
        assert reply.p4runtime_api_version.startswith("1.")


async def test_no_pipeline_is_failed_precondition() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        with pytest.raises(P4ClientError) as info:
            await ctl.client.request(p4r.GetForwardingPipelineConfigRequest(device_id=0))
        assert info.value.is_pipeline_missing
        with pytest.raises(P4ClientError) as info:
            await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        assert info.value.code.name == "FAILED_PRECONDITION"
        with pytest.raises(P4ClientError) as info:
            await ctl.read(p4r.Entity(table_entry=p4r.TableEntry()))
        assert info.value.code.name == "FAILED_PRECONDITION"


async def test_get_pipeline_response_types_and_cookie() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        expected = fake_config()
        get = ctl.client.request
        full = (await get(p4r.GetForwardingPipelineConfigRequest(device_id=0))).config
        assert full == expected
        cookie = await get(
            p4r.GetForwardingPipelineConfigRequest(response_type=ResponseType.COOKIE_ONLY)
        )
        assert cookie.config == p4r.ForwardingPipelineConfig(cookie=expected.cookie)
        p4info = await get(
            p4r.GetForwardingPipelineConfigRequest(response_type=ResponseType.P4INFO_AND_COOKIE)
        )
        assert p4info.config.p4info == expected.p4info
        assert not p4info.config.p4_device_config
        assert p4info.config.cookie.cookie == 7
        device = await get(
            p4r.GetForwardingPipelineConfigRequest(
                response_type=ResponseType.DEVICE_CONFIG_AND_COOKIE
            )
        )
        assert device.config.p4_device_config == expected.p4_device_config
        assert not device.config.HasField("p4info")


async def test_pipeline_without_cookie_returns_no_cookie() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        await ctl.set_pipeline(fake_config(cookie=None))
        reply = await ctl.client.request(p4r.GetForwardingPipelineConfigRequest())
        assert not reply.config.HasField("cookie")


async def test_verify_does_not_install() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        await ctl.set_pipeline(action=SetAction.VERIFY)
        with pytest.raises(P4ClientError) as info:
            await ctl.client.request(p4r.GetForwardingPipelineConfigRequest())
        assert info.value.is_pipeline_missing


async def test_verify_and_save_then_commit() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        await ctl.set_pipeline(action=SetAction.VERIFY_AND_SAVE)
        assert switch.datapath.switch is None
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        await ctl.set_pipeline(None, action=SetAction.COMMIT)
        assert switch.datapath.switch is switch.device.require_pipeline().switch
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(None, action=SetAction.COMMIT)
        assert info.value.code.name == "NOT_FOUND"


async def test_commit_with_config_is_invalid() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        await ctl.set_pipeline(action=SetAction.VERIFY_AND_SAVE)
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(fake_config(), action=SetAction.COMMIT)
        assert info.value.code.name == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("program", "fragment"),
    [
        ({"fake_program": {**FAKE_PROGRAM["fake_program"], "unsupported": "clone3"}}, "clone3"),
        ({"something": "else"}, "invalid device config"),
        ({"fake_program": {**FAKE_PROGRAM["fake_program"], "tables": []}}, "ingress.fwd"),
    ],
)
async def test_unrealizable_config_is_invalid_argument(program: dict, fragment: str) -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        config = fake_config()
        config.p4_device_config = json.dumps(program).encode()
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(config)
        assert info.value.code.name == "INVALID_ARGUMENT"
        assert fragment in info.value.message


async def test_p4info_mismatch_names_the_object() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        config = fake_config()
        config.p4info.tables[0].match_fields[0].bitwidth = 16
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(config)
        assert info.value.code.name == "INVALID_ARGUMENT"
        assert "ingress.fwd" in info.value.message


async def test_missing_config_or_action_is_invalid() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(action=SetAction.UNSPECIFIED)
        assert info.value.code.name == "INVALID_ARGUMENT"
        config = fake_config()
        config.p4_device_config = b""
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(config)
        assert info.value.code.name == "INVALID_ARGUMENT"


async def test_set_pipeline_requires_primary() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5) as primary,
        controller(switch, 3) as backup,
    ):
        with pytest.raises(P4ClientError) as info:
            await backup.set_pipeline()
        assert info.value.code.name == "PERMISSION_DENIED"
        await primary.set_pipeline()


async def test_wrong_device_id_is_not_found() -> None:
    async with fake_switch() as switch, controller(switch) as ctl:
        with pytest.raises(P4ClientError) as info:
            await ctl.client.request(p4r.GetForwardingPipelineConfigRequest(device_id=9))
        assert info.value.code.name == "NOT_FOUND"
        ctl.device_id = 9
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline()
        assert info.value.code.name == "NOT_FOUND"


async def test_verify_and_commit_clears_state() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        await ctl.set_pipeline()
        assert await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD))) == []


async def test_reconcile_keeps_state_and_updates_cookie() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        entry = fwd_entry(1, 2, controller_metadata=5, metadata=b"m")
        entry.counter_data.packet_count = 3
        await ctl.write(update(INSERT, table_entry=entry))
        group = p4r.MulticastGroupEntry(multicast_group_id=4)
        group.replicas.add(port=b"\x02", instance=1)
        pre = p4r.PacketReplicationEngineEntry(multicast_group_entry=group)
        await ctl.write(update(INSERT, packet_replication_engine_entry=pre))

        await ctl.set_pipeline(fake_config(cookie=8), action=SetAction.RECONCILE_AND_COMMIT)

        query = p4r.TableEntry(table_id=T_FWD)
        query.counter_data.SetInParent()
        [found] = await ctl.read(p4r.Entity(table_entry=query))
        assert found.table_entry.controller_metadata == 5
        assert found.table_entry.metadata == b"m"
        assert found.table_entry.counter_data.packet_count == 3
        all_groups = p4r.PacketReplicationEngineEntry(
            multicast_group_entry=p4r.MulticastGroupEntry()
        )
        groups = await ctl.read(p4r.Entity(packet_replication_engine_entry=all_groups))
        assert groups == [p4r.Entity(packet_replication_engine_entry=pre)]
        reply = await ctl.client.request(p4r.GetForwardingPipelineConfigRequest())
        assert reply.config.cookie.cookie == 8


async def test_reconcile_refuses_incompatible_p4info() -> None:
    async with fake_switch() as switch, primary_with_pipeline(switch) as ctl:
        await ctl.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        config = fake_config(cookie=9)
        config.p4info.tables[0].preamble.id = 0x020000AA
        for counter in config.p4info.direct_counters:
            counter.direct_table_id = 0x020000AA
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline(config, action=SetAction.RECONCILE_AND_COMMIT)
        assert info.value.code.name == "INVALID_ARGUMENT"
        assert "forwarding state" in info.value.message
        reply = await ctl.client.request(p4r.GetForwardingPipelineConfigRequest())
        assert reply.config.cookie.cookie == 7
        assert len(await ctl.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))) == 1


async def test_busy_grpc_address_is_an_os_error() -> None:
    async with fake_switch() as switch:
        second = SoftSwitch(grpc_addr=f"127.0.0.1:{switch.grpc_port}", engine=FAKE_ENGINE)
        with pytest.raises(OSError):
            await second.start()
        await second.stop()
