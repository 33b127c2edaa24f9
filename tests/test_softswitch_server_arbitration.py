"""Client arbitration on the StreamChannel of the softswitch P4Runtime server."""

from __future__ import annotations

import pytest
from finsy import P4ClientError
from finsy.proto import U128, p4r, rpc_code
from test_softswitch_server_support import (
    INSERT,
    T_FWD,
    Controller,
    controller,
    fake_switch,
    fwd_entry,
    update,
)

OK, ALREADY_EXISTS, NOT_FOUND = rpc_code.OK, rpc_code.ALREADY_EXISTS, rpc_code.NOT_FOUND


async def test_single_controller_becomes_primary() -> None:
    async with fake_switch() as switch, controller(switch, arbitrate=False) as ctl:
        answer = await ctl.arbitrate(5)
        assert answer.status.code == OK
        assert U128.decode(answer.election_id) == 5
        assert answer.device_id == 0


async def test_higher_election_id_takes_over_and_all_are_notified() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5) as first,
        controller(switch, arbitrate=False) as second,
    ):
        answer = await second.arbitrate(9)
        assert answer.status.code == OK
        notice = (await first.receive("arbitration")).arbitration
        assert notice.status.code == ALREADY_EXISTS
        assert U128.decode(notice.election_id) == 9


async def test_lower_election_id_is_backup_and_only_it_is_told() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5),
        controller(switch, arbitrate=False) as backup,
    ):
        answer = await backup.arbitrate(3)
        assert answer.status.code == ALREADY_EXISTS
        assert U128.decode(answer.election_id) == 5


async def test_duplicate_election_id_terminates_stream() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5),
        controller(switch, arbitrate=False) as other,
    ):
        with pytest.raises(P4ClientError) as info:
            await other.arbitrate(5)
        assert info.value.code.name == "INVALID_ARGUMENT"
        assert info.value.is_election_id_used


async def test_wrong_device_id_terminates_stream() -> None:
    async with fake_switch() as switch, controller(switch, arbitrate=False) as ctl:
        ctl.device_id = 3
        with pytest.raises(P4ClientError) as info:
            await ctl.arbitrate(1)
        assert info.value.code.name == "NOT_FOUND"


async def test_changing_device_id_later_is_failed_precondition() -> None:
    async with fake_switch() as switch, controller(switch, 1) as ctl:
        ctl.device_id = 3
        with pytest.raises(P4ClientError) as info:
            await ctl.arbitrate(1)
        assert info.value.code.name == "FAILED_PRECONDITION"


async def test_role_is_not_supported() -> None:
    async with fake_switch() as switch, controller(switch, arbitrate=False) as ctl:
        request = p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(
                device_id=0, role=p4r.Role(name="ops"), election_id=U128.encode(1)
            )
        )
        await ctl.client.send(request)
        with pytest.raises(P4ClientError) as info:
            await ctl.client.receive()
        assert info.value.code.name == "NOT_FOUND"


async def test_primary_disconnect_notifies_backups_who_must_bid_to_take_over() -> None:
    async with fake_switch() as switch, controller(switch, 3) as low, controller(switch, 4) as mid:
        assert (await low.receive("arbitration")).arbitration.status.code == ALREADY_EXISTS
        primary = Controller(switch, 8)
        await primary.open()
        await primary.arbitrate()
        for backup in (low, mid):
            notice = (await backup.receive("arbitration")).arbitration
            assert (notice.status.code, U128.decode(notice.election_id)) == (ALREADY_EXISTS, 8)
        await primary.close()
        for backup in (low, mid):
            notice = (await backup.receive("arbitration")).arbitration
            assert (notice.status.code, U128.decode(notice.election_id)) == (NOT_FOUND, 8)
        with pytest.raises(P4ClientError) as info:
            await mid.set_pipeline()
        assert info.value.code.name == "PERMISSION_DENIED"
        # A backup becomes primary by bidding the highest election id seen.
        answer = await mid.arbitrate(8)
        assert (answer.status.code, U128.decode(answer.election_id)) == (OK, 8)
        assert (await low.receive("arbitration")).arbitration.status.code == ALREADY_EXISTS
        await mid.set_pipeline()


async def test_primary_stepping_down_notifies_everyone() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 3) as backup,
        controller(switch, arbitrate=False) as primary,
    ):
        await primary.arbitrate(8)
        await backup.receive("arbitration")
        answer = await primary.arbitrate(2)
        assert (answer.status.code, U128.decode(answer.election_id)) == (NOT_FOUND, 8)
        assert (await backup.receive("arbitration")).arbitration.status.code == NOT_FOUND


async def test_last_primary_leaving_leaves_unset_backups_without_primary() -> None:
    async with fake_switch() as switch, controller(switch, None) as standby:
        primary = Controller(switch, 8)
        await primary.open()
        await primary.arbitrate()
        await standby.receive("arbitration")
        await primary.close()
        notice = (await standby.receive("arbitration")).arbitration
        assert (notice.status.code, U128.decode(notice.election_id)) == (NOT_FOUND, 8)


async def test_election_id_zero_is_a_valid_election_id() -> None:
    async with fake_switch() as switch, controller(switch, 0) as ctl:
        await ctl.set_pipeline()


async def test_unset_election_id_never_becomes_primary() -> None:
    async with fake_switch() as switch, controller(switch, None, arbitrate=False) as ctl:
        answer = await ctl.arbitrate()
        assert answer.status.code == NOT_FOUND
        assert not answer.HasField("election_id")
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline()
        assert info.value.code.name == "PERMISSION_DENIED"


async def test_write_permission_denied_unless_primary() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5) as primary,
        controller(switch, 3) as backup,
    ):
        await primary.set_pipeline()
        entry = update(INSERT, table_entry=fwd_entry(1, 2))
        with pytest.raises(P4ClientError) as info:
            await backup.write(entry)
        assert info.value.code.name == "PERMISSION_DENIED"
        backup.election_id = None
        with pytest.raises(P4ClientError) as info:
            await backup.write(entry)
        assert info.value.code.name == "PERMISSION_DENIED"
        await primary.write(entry)


async def test_write_without_any_stream_is_permission_denied() -> None:
    async with fake_switch() as switch, controller(switch, 5, arbitrate=False) as ctl:
        with pytest.raises(P4ClientError) as info:
            await ctl.set_pipeline()
        assert info.value.code.name == "PERMISSION_DENIED"


async def test_read_needs_no_arbitration() -> None:
    async with (
        fake_switch() as switch,
        controller(switch, 5) as primary,
        controller(switch, arbitrate=False) as reader,
    ):
        await primary.set_pipeline()
        await primary.write(update(INSERT, table_entry=fwd_entry(1, 2)))
        found = await reader.read(p4r.Entity(table_entry=p4r.TableEntry(table_id=T_FWD)))
        assert len(found) == 1
