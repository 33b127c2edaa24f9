"""nvectl as a separate process (python -m controlplane.cli): exit statuses and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "signalling"))
from fake_nve import NOTIFICATIONS, VM_ID, VM_VIEWS, FakeNveApi, ThreadedServer, free_port  # noqa: E402

NVECTL = [sys.executable, "-m", "controlplane.cli"]


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(FakeNveApi()) as server:
        yield server


def nvectl(*argv: str, server: str) -> subprocess.CompletedProcess[str]:
    """Run nvectl to completion against `server` (no TLS)."""
    env = {**os.environ, "NVE_SERVER": server}
    return subprocess.run(
        [*NVECTL, *argv, "--insecure"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_vms_json(server: ThreadedServer) -> None:
    done = nvectl("show", "vms", "--json", server=server.address)
    assert (done.returncode, done.stderr) == (0, "")
    assert [vm["vm_id"] for vm in json.loads(done.stdout)] == [view.vm_id for view in VM_VIEWS]


def test_fail_exit_status(server: ThreadedServer) -> None:
    done = nvectl("vm", "resume", VM_ID, server=server.address)  # no --as: no identity
    assert done.returncode == 1
    assert "FAIL (failed authorization): no hypervisor identity" in done.stderr


def test_usage_exit_status(server: ThreadedServer) -> None:
    done = nvectl("vm", "resume", "not-a-uuid", server=server.address)
    assert done.returncode == 2
    assert "vm_id 'not-a-uuid' is not a UUID" in done.stderr


def test_unreachable_exit_status() -> None:
    done = nvectl("show", "ports", server=f"127.0.0.1:{free_port()}")
    assert done.returncode == 3
    assert "cannot reach the controller" in done.stderr


def test_notifications_until_interrupted(server: ThreadedServer) -> None:
    env = {**os.environ, "NVE_SERVER": server.address}
    argv = [*NVECTL, "notifications", "--json", "--insecure", "--as", "hv1"]
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert server.api.subscribed.wait(timeout=30)
        server.publish("hv1", NOTIFICATIONS[1])
        assert process.stdout is not None
        line = process.stdout.readline()
        assert json.loads(line)["kind"] == "aged_out"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
