"""SQLite persistence and VID / VAP id allocation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controlplane.lifecycle import Phase, State
from controlplane.model import Origin, VmRecord
from controlplane.resources import choose_vap_id, choose_vid
from controlplane.signalling.messages import FailReason, Refused
from controlplane.store.sqlite import StoreError, VmStore


def record(vm: int, *, port: int = 1, vid: int = 10, vap_id: int = 1, switch: str = "nve1",
           hypervisor: str = "hv1") -> VmRecord:
    return VmRecord(vm_id=f"00000000-0000-0000-0000-{vm:012d}", hypervisor=hypervisor,
                    switch=switch, port=port, vni=5001, macs=(0x525400000000 + vm,),
                    ipv4=(0xC0A80A00 + vm,), ipv6=("2001:db8::1",), vid=vid, pcp=3, vap_id=vap_id,
                    phase=Phase(State.ASSOCIATED, emigrated=vm % 2 == 0), last_seen=100.5,
                    origin=Origin.VDP, vm_class="gold")


def test_round_trip_and_delete(tmp_path: Path) -> None:
    store = VmStore(tmp_path / "db" / "nve.db")
    a, b = record(1), record(2, vid=11, vap_id=2)
    store.commit([a, b], [])
    store.close()
    reopened = VmStore(tmp_path / "db" / "nve.db")
    assert reopened.load() == [a, b]
    reopened.commit([], [(a.vm_id, a.hypervisor)])
    assert reopened.load() == [b]


def test_failed_commit_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nve.db"
    store = VmStore(path)
    store.commit([record(1)], [])
    other = VmStore(path)
    other._db.execute("BEGIN EXCLUSIVE")     # another writer holds the lock
    with pytest.raises(StoreError, match="cannot write"):
        store.commit([record(2, vid=11, vap_id=2)], [(record(1).vm_id, "hv1")])
    other._db.execute("ROLLBACK")
    assert store.load() == [record(1)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="cannot open database"):
            VmStore(tmp_path / "nve.db")
    finally:
        tmp_path.chmod(0o700)


def test_vid_choice() -> None:
    records = [record(1, vid=2), record(3, vid=3, vap_id=2), record(5, port=2, vid=4, vap_id=3)]
    vm = "00000000-0000-0000-0000-000000000009"
    assert choose_vid(records, "nve1", 1, vm, requested=0, current=None) == 4
    assert choose_vid(records, "nve1", 2, vm, requested=0, current=None) == 2
    assert choose_vid(records, "nve1", 1, vm, requested=100, current=None) == 100
    assert choose_vid(records, "nve1", 1, vm, requested=0, current=77) == 77
    with pytest.raises(Refused) as info:
        choose_vid(records, "nve1", 1, vm, requested=3, current=None)
    assert info.value.reason is FailReason.CONFLICT_POLICIES and "used by VM" in info.value.detail
    with pytest.raises(Refused, match="reserved"):
        choose_vid(records, "nve1", 1, vm, requested=1, current=None)


def test_vid_pool_exhausted() -> None:
    full = [record(i, vid=v, vap_id=i + 1) for i, v in enumerate(range(2, 4095))]
    with pytest.raises(Refused) as info:
        choose_vid(full, "nve1", 1, "00000000-0000-0000-0000-999999999999", 0, None)
    assert info.value.reason is FailReason.NON_SUFFICIENT_RESOURCES


def test_vap_ids() -> None:
    records = [record(1, vap_id=1), record(2, vap_id=2), record(3, vap_id=4, switch="nve2")]
    assert choose_vap_id(records, "nve1", limit=8192) == 3
    assert choose_vap_id(records, "nve2", limit=8192) == 1
    with pytest.raises(Refused) as info:
        choose_vap_id(records, "nve1", limit=3)
    assert info.value.reason is FailReason.NON_SUFFICIENT_RESOURCES
