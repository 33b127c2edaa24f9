"""nvectl in-process (main(argv)) against a fake controller: output, JSON and exit statuses."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.lifecycle import Event
from controlplane.pki import init_pki
from controlplane.signalling.messages import Answer, FailReason, VmRefRequest, VmRequest, VnSelector

sys.path.insert(0, str(Path(__file__).parent / "data" / "signalling"))
from fake_nve import (  # noqa: E402
    COUNTER_VIEWS,
    NOTIFICATIONS,
    PORT_VIEWS,
    TABLE_VIEW,
    VM_ID,
    VM_VIEWS,
    VN_VIEWS,
    FakeNveApi,
    ThreadedServer,
    free_port,
    tls_files,
    tls_material,
)

Capture = pytest.CaptureFixture[str]
PROPERTIES = ["--vni", "5001", "--mac", "52:54:00:12:34:56", "--nve", "nve1", "--port", "1"]


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(FakeNveApi()) as server:
        yield server


def run(server: ThreadedServer, *argv: str, identity: str | None = "hv1") -> int:
    """nvectl ARGV --insecure [--as IDENTITY] --server ADDRESS."""
    lab = ["--insecure", "--server", server.address, *(["--as", identity] if identity else [])]
    return main([*argv, *lab])


def test_associate_prints_the_answer_as_a_table(server: ThreadedServer, capsys: Capture) -> None:
    assert (
        run(
            server,
            "vm",
            "associate",
            VM_ID,
            *PROPERTIES,
            "--ipv4",
            "10.0.0.5",
            "--ipv6",
            "2001:db8::5",
            "--mac",
            "52:54:00:12:34:57",
            "--vid",
            "100",
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines() == [
        "RESULT   STATE       VID  PCP",
        "SUCCESS  associated  100    3",
    ]
    assert server.api.calls == [
        (
            "signal",
            "hv1",
            VmRequest(
                event=Event.ASSOCIATE,
                vm_id=VM_ID,
                vn=VnSelector(vni=5001),
                macs=(0x525400123456, 0x525400123457),
                ipv4=(0x0A000005,),
                ipv6=("2001:db8::5",),
                nve="nve1",
                port=1,
                requested_vid=100,
            ),
        )
    ]


def test_pre_associate_by_vn_name_with_class_and_reservation(server: ThreadedServer) -> None:
    argv = [
        "vm",
        "pre-associate",
        VM_ID,
        "--vn",
        "blue",
        "--mac",
        "52:54:00:12:34:56",
        "--nve",
        "nve1",
        "--port",
        "0",
        "--class",
        "gold",
        "--reserve",
    ]
    assert run(server, *argv) == 0
    request = server.api.calls[0][2]
    assert (request.event, request.vn, request.vm_class, request.reserve_resources) == (
        Event.PRE_ASSOCIATE,
        VnSelector(name="blue"),
        "gold",
        True,
    )


@pytest.mark.parametrize(
    ("flag", "event"),
    [
        ("--associate", Event.IMMIGRATE_ASSOCIATE),
        ("--pre-associate", Event.IMMIGRATE_PRE_ASSOCIATE),
    ],
)
def test_immigrate(server: ThreadedServer, flag: str, event: Event) -> None:
    assert run(server, "vm", "immigrate", flag, VM_ID, *PROPERTIES) == 0
    assert server.api.calls[0][2].event is event


@pytest.mark.parametrize(
    ("action", "event"),
    [
        ("suspend", Event.SUSPEND),
        ("resume", Event.RESUME),
        ("emigrate", Event.EMIGRATE),
        ("terminate", Event.TERMINATE),
        ("keepalive", Event.KEEPALIVE),
    ],
)
def test_vm_ref_actions(server: ThreadedServer, action: str, event: Event) -> None:
    assert run(server, "vm", action, VM_ID.upper()) == 0
    assert server.api.calls == [("signal", "hv1", VmRefRequest(event, VM_ID))]


def test_answer_as_json(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "vm", "keepalive", VM_ID, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "result": "SUCCESS",
        "reason": None,
        "detail": "",
        "vid": 100,
        "pcp": 3,
        "state": "associated",
    }


def test_fail_exits_1_with_reason_and_detail_on_stderr(
    server: ThreadedServer, capsys: Capture
) -> None:
    server.api.answer = Answer(FailReason.NON_SUFFICIENT_RESOURCES, "no free VID on nve1 port 1")
    assert run(server, "vm", "associate", VM_ID, *PROPERTIES) == 1
    captured = capsys.readouterr()
    assert captured.err == "nvectl: FAIL (non-sufficient resources): no free VID on nve1 port 1\n"
    assert run(server, "vm", "associate", VM_ID, *PROPERTIES, "--json") == 1
    answer = json.loads(capsys.readouterr().out)
    assert (answer["result"], answer["reason"]) == ("FAIL", "NON_SUFFICIENT_RESOURCES")


def test_missing_identity_is_refused(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "vm", "terminate", VM_ID, identity=None) == 1
    assert (
        capsys.readouterr().err == "nvectl: FAIL (failed authorization): no hypervisor identity\n"
    )


def test_set_vid_and_migrate(server: ThreadedServer) -> None:
    assert run(server, "vm", "set-vid", VM_ID, "120") == 0
    assert run(server, "migrate", VM_ID, "--to", "nve2") == 0
    assert run(server, "migrate", VM_ID, "--to", "nve2", "--port", "3") == 0
    assert server.api.calls == [
        ("set_vid", VM_ID, 120),
        ("migrate", VM_ID, "nve2", 0),
        ("migrate", VM_ID, "nve2", 3),
    ]


def _columns_align(text: str, header: str, cell: str) -> None:
    """The column `header` starts where `cell` does on the first data row."""
    lines = text.splitlines()
    assert lines[0].index(header) == lines[1].index(cell), text


def test_show_vms(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "show", "vms") == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == [
        "VM",
        "HYPERVISOR",
        "NVE",
        "PORT",
        "VN",
        "VNI",
        "VID",
        "PCP",
        "VAP",
        "STATE",
        "ORIGIN",
        "IDLE",
        "MACS",
        "IPS",
    ]
    assert len(lines) == 1 + len(VM_VIEWS)
    _columns_align(text, "HYPERVISOR", "hv1")
    _columns_align(text, "STATE", "associated")
    assert "52:54:00:00:00:02,52:54:00:00:00:03" in lines[2]
    assert lines[2].rstrip().endswith("-")  # no IPs
    assert run(server, "show", "vms", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        {**asdict(view), "macs": list(view.macs), "ips": list(view.ips)} for view in VM_VIEWS
    ]


def test_show_vns_ports_counters(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "show", "vns") == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["VN", "VNI", "DEFAULT", "ACL", "RULES", "VMS", "NVES"]
    assert "nve1,nve2" in text
    assert run(server, "show", "ports", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [asdict(view) for view in PORT_VIEWS]
    assert run(server, "show", "counters", "--nve", "nve1") == 0
    text = capsys.readouterr().out
    _columns_align(text, "LABEL", "ingress drops")
    assert len(text.splitlines()) == 1 + len(COUNTER_VIEWS)
    assert run(server, "show", "vns", "--json") == 0
    assert [vn["name"] for vn in json.loads(capsys.readouterr().out)] == [v.name for v in VN_VIEWS]


def test_show_tables(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "show", "tables", "acl", "--nve", "nve1") == 0
    entries, usage = capsys.readouterr().out.split("\n\n")
    assert entries.splitlines()[0].split() == [
        "TABLE",
        "MATCH",
        "PRIORITY",
        "ACTION",
        "PARAMS",
        "PACKETS",
        "BYTES",
    ]
    assert usage.splitlines() == [
        "TABLE             ENTRIES  CAPACITY",
        "acl                     0       512",
        "fdb_local               1      4096",
        "port_vlan_to_vni        1      1024",
    ]
    assert server.api.calls == [("read_tables", "nve1", "acl")]
    assert run(server, "show", "tables", "--nve", "nve1", "--json") == 0
    dump = json.loads(capsys.readouterr().out)
    assert dump["entries"] == [asdict(row) for row in TABLE_VIEW.rows]
    assert (dump["occupancy"], dump["capacity"]) == (TABLE_VIEW.occupancy, TABLE_VIEW.capacity)


def test_refused_read_exits_1(server: ThreadedServer, capsys: Capture) -> None:
    assert run(server, "show", "counters", "--nve", "nve9") == 1
    assert capsys.readouterr().err == "nvectl: invalid argument: unknown NVE 'nve9'\n"


def test_notifications_table_and_json(server: ThreadedServer, capsys: Capture) -> None:
    server.publish("hv1", *NOTIFICATIONS, None)
    assert run(server, "notifications") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"VM{' ' * 34}  KIND            DETAIL",
        f"{VM_ID}  vid changed     vid 100 -> 120",
        f"{VM_ID}  aged out        -",
        f"{VM_ID}  policy changed  pcp 5: class gold",
        f"{VM_ID}  displaced       now on nve2",
    ]
    server.publish("hv1", NOTIFICATIONS[0], None)
    assert run(server, "notifications", "--json") == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {
            "kind": "vid_changed",
            "vm_id": VM_ID,
            "old_vid": 100,
            "new_vid": 120,
            "pcp": 0,
            "detail": "",
            "new_nve": "",
        },
    ]


def test_unreachable_controller_exits_3(capsys: Capture) -> None:
    address = f"127.0.0.1:{free_port()}"
    assert main(["show", "vms", "--insecure", "--server", address]) == 3
    assert capsys.readouterr().err.startswith(f"nvectl: cannot reach the controller at {address}:")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "vm",
                "associate",
                VM_ID,
                "--vni",
                "5001",
                "--mac",
                "52:54:00:12:34",
                "--nve",
                "n",
                "--port",
                "1",
            ],
            "argument --mac: MAC '52:54:00:12:34' is not of the form",
        ),
        (["vm", "associate", "vm1", *PROPERTIES], "argument VM_ID: vm_id 'vm1' is not a UUID"),
        (
            ["vm", "associate", VM_ID, *PROPERTIES, "--vid", "4095"],
            "argument --vid: requested VID 4095 is outside 0..4094",
        ),
        (["vm", "associate", VM_ID, *PROPERTIES, "--vn", "blue"], "not allowed with argument"),
        (
            [
                "vm",
                "associate",
                VM_ID,
                "--vni",
                "0",
                "--mac",
                "52:54:00:12:34:56",
                "--nve",
                "n",
                "--port",
                "1",
            ],
            "argument --vni: VNI 0 is outside",
        ),
        (["vm", "immigrate", VM_ID, *PROPERTIES], "one of the arguments --associate"),
        (["vm", "set-vid", VM_ID, "-1"], "argument VID"),
        (["show", "tables"], "the following arguments are required: --nve"),
        (["show", "vms"], "mutual TLS needs --ca, --cert and --key"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NVE_CA", "NVE_CERT", "NVE_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_unreadable_tls_file_exits_2(tmp_path: Path, capsys: Capture) -> None:
    missing = str(tmp_path / "ca.pem")
    assert main(["show", "vms", "--ca", missing, "--cert", missing, "--key", missing]) == 2
    assert capsys.readouterr().err.startswith(f"nvectl: cannot read the CA certificate {missing}")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, ["hv1"], ["admin"], ["localhost"])
    return directory


@pytest.fixture
def tls_server(pki: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(FakeNveApi(), tls_material(pki, "server"), frozenset({"admin"})) as server:
        yield server


def _tls_args(pki: Path, name: str) -> list[str]:
    ca, cert, key = tls_files(pki, name)
    return ["--ca", str(ca), "--cert", str(cert), "--key", str(key)]


def test_mtls_operator(tls_server: ThreadedServer, pki: Path, capsys: Capture) -> None:
    argv = ["show", "vms", "--json", "--server", tls_server.address, *_tls_args(pki, "admin")]
    assert main(argv) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(VM_VIEWS)


def test_mtls_hypervisor_from_environment(
    tls_server: ThreadedServer, pki: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    ca, cert, key = tls_files(pki, "hv1")
    monkeypatch.setenv("NVE_CA", str(ca))
    monkeypatch.setenv("NVE_CERT", str(cert))
    monkeypatch.setenv("NVE_KEY", str(key))
    monkeypatch.setenv("NVE_SERVER", tls_server.address)
    assert main(["vm", "suspend", VM_ID]) == 0
    assert tls_server.api.calls == [("signal", "hv1", VmRefRequest(Event.SUSPEND, VM_ID))]
    assert main(["show", "vms"]) == 1
    assert capsys.readouterr().err == "nvectl: permission denied: 'hv1' is not an operator\n"
