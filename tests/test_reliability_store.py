"""Store trouble: the SQLite file locked by someone else, the disk full.

Each answers FAIL BUSY with a detail saying what is wrong, rolls the switches back (nothing
half-installed: every table read back equals what the stored records want), keeps every
acknowledged record, and serves again once the trouble is gone.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.config import load_config
from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import NveClient
from controlplane.signalling.messages import FailReason, VmRefRequest, VmRequest, VnSelector
from softswitch.ports import MemoryPorts
from softswitch.server.runtime import SoftSwitch

sys.path.insert(0, str(Path(__file__).parent / "data" / "reliability"))
sys.path.insert(0, str(Path(__file__).parent))
import rlab
from controller_lab import lab


def associate(n: int, hv: str = "hv1", nve: str = "nve1") -> VmRequest:
    return VmRequest(Event.ASSOCIATE, f"5707e000-0000-4000-8000-{n:012x}", VnSelector(name="blue"),
                     macs=(0x525400200000 + n,), nve=nve, port=1)


def addresses(net) -> dict[str, str]:
    return {sw.name: sw.grpc_addr for sw in net.cfg.switches}


async def assert_consistent(net, acked: set[str]) -> None:
    """Tables == stored records == the controller's records; every acknowledged VM stored."""
    records, problems = await rlab.compare_with_store(net.cfg, net.cfg.database, addresses(net))
    assert not problems, problems
    assert {(r.vm_id, r.hypervisor) for r in records} == set(net.service.records)
    assert acked <= {r.vm_id for r in records}


async def test_locked_database_answers_busy_and_loses_nothing(tmp_path: Path) -> None:
    acked: set[str] = set()
    async with lab(tmp_path) as net:
        async with net.running_controller(), net.client("hv1") as hv1, net.client("hv2") as hv2:
            for n in range(3):
                assert (await hv1.signal(associate(n))).success
                acked.add(associate(n).vm_id)
            before = {name: await rlab.read_switch(a) for name, a in addresses(net).items()}
            holder = sqlite3.connect(net.cfg.database, timeout=0, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")                # another process holds the lock
            try:
                locked = await hv2.signal(associate(10, "hv2", "nve2"))
                assert locked.reason is FailReason.BUSY, locked
                assert "locked" in locked.detail and str(net.cfg.database) in locked.detail
                # Even a keep-alive (a store write, no table write) says so.
                alive = await hv1.signal(VmRefRequest(Event.KEEPALIVE, associate(0).vm_id))
                assert alive.reason is FailReason.BUSY and "locked" in alive.detail, alive
                after = {name: await rlab.read_switch(a) for name, a in addresses(net).items()}
                assert after == before                        # both switches rolled back
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            await assert_consistent(net, acked)
            again = await hv2.signal(associate(10, "hv2", "nve2"))
            assert again.success, again
            acked.add(associate(10).vm_id)
        async with net.running_controller():                   # restart: all of it is there
            await assert_consistent(net, acked)


async def test_full_database_answers_busy_and_loses_nothing(tmp_path: Path) -> None:
    """The disk is full (simulated: SQLite may not grow the file by one more page)."""
    acked: set[str] = set()
    async with lab(tmp_path) as net:
        async with net.running_controller(), net.client("hv1") as hv1:
            assert (await hv1.signal(associate(0))).success
            acked.add(associate(0).vm_id)
            db = net.service.store._db                        # the controller's own connection
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
            full = None
            for n in range(1, 200):
                answer = await hv1.signal(associate(n))
                if not answer.success:
                    full = answer
                    break
                acked.add(associate(n).vm_id)
            assert full is not None, "the database never filled up"
            assert full.reason is FailReason.BUSY and "full" in full.detail, full
            await assert_consistent(net, acked)
            assert associate(n).vm_id not in {vm.vm_id for vm in await net.service.list_vms()}
            db.execute("PRAGMA max_page_count = 1073741823")     # space again
            assert (await hv1.signal(associate(n))).success
            acked.add(associate(n).vm_id)
            await assert_consistent(net, acked)
        async with net.running_controller():
            await assert_consistent(net, acked)


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs in a private mount namespace"
    if shutil.which("unshare") is None:
        return "util-linux 'unshare' not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], check=False,
                           capture_output=True)
    return None if probe.returncode == 0 else f"unshare -m refused: {probe.stderr.decode()}"


UNSHARE = _can_unshare()


def copy(database: Path, directory: Path) -> Path:
    """A copy of a (quiet) WAL database seen through /proc/PID/root: SQLite resolves that
    symbolic link to our own mount namespace, so it cannot open the file in place."""
    target = directory / f"copy-{len(list(directory.glob('copy-*')))}"
    target.mkdir()
    for suffix in ("", "-wal"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            shutil.copyfile(source, target / source.name)
    return target / database.name


@pytest.mark.skipif(UNSHARE is not None, reason=UNSHARE or "")
async def test_disk_full_on_a_real_tmpfs(tmp_path: Path) -> None:
    """The controller's database on a 1 MiB tmpfs of its own (private mount namespace), filled
    up behind its back: FAIL BUSY 'database or disk is full', nothing half-installed."""
    switches = {name: SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                                 grpc_addr="127.0.0.1:0") for name in ("nve1", "nve2")}
    for sw in switches.values():
        await sw.start()
    addrs = {name: f"127.0.0.1:{sw.grpc_port}" for name, sw in switches.items()}
    disk = tmp_path / "disk"
    disk.mkdir()
    port = rlab.free_port()
    config = rlab.render_config(tmp_path, addrs["nve1"], addrs["nve2"], port, disk / "nve.db")
    cfg = load_config(config)
    serve = rlab.controller_child(config, tmp_path / "controller.log")
    child = rlab.Child(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f'mount -t tmpfs -o size=1m nve-disk "{disk}" && exec "$@"', "sh",
                        *serve.argv], serve.log).start()
    acked: set[str] = set()
    try:
        await rlab.wait_listening(port, child)
        inside = Path(f"/proc/{child.pid}/root") / disk.relative_to("/")   # the tmpfs, from here
        database = inside / "nve.db"
        async with NveClient(f"127.0.0.1:{port}", None, "hv1") as hv1:
            for n in range(5):
                assert (await hv1.signal(associate(n))).success
                acked.add(associate(n).vm_id)
            with open(inside / "filler", "wb") as filler:       # fill the disk
                try:
                    while True:
                        filler.write(b"\0" * 65536)
                        filler.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            full = None
            for n in range(5, 300):
                answer = await hv1.signal(associate(n))
                if not answer.success:
                    full = answer
                    break
                acked.add(associate(n).vm_id)
            assert full is not None, "the tmpfs never filled up"
            assert full.reason is FailReason.BUSY and "full" in full.detail, full
            records, problems = await rlab.compare_with_store(cfg, copy(database, tmp_path), addrs)
            assert not problems, problems
            assert acked == {r.vm_id for r in records}
            (inside / "filler").unlink()
            assert (await hv1.signal(associate(n))).success
            acked.add(associate(n).vm_id)
            records, problems = await rlab.compare_with_store(cfg, copy(database, tmp_path), addrs)
            assert not problems, problems
            assert acked == {r.vm_id for r in records}
        print(f"\ntmpfs full after {len(acked) - 1} VMs: FAIL BUSY ({full.detail}); "
              "nothing half-installed, nothing acknowledged lost")
    finally:
        child.stop()
        for sw in switches.values():
            await sw.stop()
