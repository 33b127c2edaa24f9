"""Our etcd v3 API subset: the committed stubs are current, load under our protobuf, and speak
etcd's wire format (names and field numbers of etcd v3.4; interoperates with etcdctl)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.store.etcd_proto import kv_pb2, rpc_pb2

sys.path.insert(0, str(Path(__file__).parent / "data" / "etcd"))
from etcdlab import EtcdCluster, requires_etcd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOOLS_VERSION = "1.81.1"


@pytest.mark.skipif(importlib.metadata.version("grpcio-tools") != TOOLS_VERSION,
                    reason=f"the stubs are generated with grpcio-tools {TOOLS_VERSION}")
def test_generated_code_is_current() -> None:
    done = subprocess.run([sys.executable, "tools/gen_etcd_proto.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_wire_names_and_numbers_are_etcds() -> None:
    services = {s.full_name: [m.name for m in s.methods]
                for s in rpc_pb2.DESCRIPTOR.services_by_name.values()}
    assert services["etcdserverpb.KV"] == ["Range", "Put", "DeleteRange", "Txn", "Compact"]
    assert services["etcdserverpb.Watch"] == ["Watch"]
    assert "LeaseKeepAlive" in services["etcdserverpb.Lease"]
    numbers = {
        (kv_pb2.KeyValue, "mod_revision"): 3, (kv_pb2.KeyValue, "lease"): 6,
        (kv_pb2.Event, "kv"): 2, (rpc_pb2.Compare, "mod_revision"): 6,
        (rpc_pb2.Compare, "range_end"): 64, (rpc_pb2.WatchResponse, "compact_revision"): 5,
        (rpc_pb2.WatchResponse, "events"): 11, (rpc_pb2.WatchCreateRequest, "start_revision"): 3,
        (rpc_pb2.LeaseKeepAliveResponse, "TTL"): 3, (rpc_pb2.TxnRequest, "failure"): 3,
    }
    for (message, field), number in numbers.items():
        assert message.DESCRIPTOR.fields_by_name[field].number == number, (message, field)


@requires_etcd
@pytest.mark.skipif(shutil.which("etcdctl") is None,
                    reason="etcdctl is not installed (Debian: apt-get install etcd-client)")
async def test_interoperates_with_etcdctl(tmp_path: Path) -> None:
    etcd = EtcdCluster(tmp_path / "etcd")
    await etcd.start()
    client = etcd.client()
    try:
        env = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
        endpoint = f"--endpoints={etcd.endpoints[0]}"
        def etcdctl(*argv: str) -> str:
            return subprocess.run(["etcdctl", endpoint, *argv], env=env, check=True,
                                  capture_output=True, text=True).stdout

        await asyncio.to_thread(etcdctl, "put", "/nve/v1/x", "from-etcdctl")
        response = await client.range(b"/nve/v1/x")
        assert response.kvs[0].value == b"from-etcdctl"
        lease = await client.grant(10)
        await client.put(b"/nve/v1/y", b"from-us", lease)
        got = await asyncio.to_thread(etcdctl, "get", "/nve/v1/y", "--print-value-only")
        assert got.strip() == "from-us"
        ttl = await asyncio.to_thread(etcdctl, "lease", "timetolive", f"{lease:016x}")
        assert f"lease {lease:016x} granted with TTL(10s)" in ttl
        assert await client.keepalive(lease) == 10
    finally:
        await client.close()
        await etcd.stop()
