"""gen_p4names: generated constants, --check staleness, collisions."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from finsy.proto import p4i

from controlplane.p4rt.gen_p4names import identifier, main, render
from controlplane.p4rt.p4info import load_p4info
from controlplane.p4rt.schema import PipelineSchema

ROOT = Path(__file__).parent.parent
MINI = Path(__file__).parent / "data" / "p4rt" / "mini.p4info.txtpb"
REAL = ROOT / "p4src" / "build" / "nve.p4info.txtpb"
CHECKED_IN = ROOT / "controlplane" / "p4rt" / "p4names.py"


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("generated_p4names", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "ident"),
    [
        ("fdb", "FDB"),
        ("NoAction", "NO_ACTION"),
        ("NveIngress.fdb.fdb", "NVE_INGRESS_FDB_FDB"),
        ("hdr.ethernet.dst_addr", "HDR_ETHERNET_DST_ADDR"),
        ("_pad", "PAD"),
        ("8021q", "N_8021Q"),
    ],
)
def test_identifier(name: str, ident: str) -> None:
    assert identifier(name) == ident


def test_generated_module_names_every_table_field_action_param_counter_and_metadata(
    tmp_path: Path,
) -> None:
    out = tmp_path / "p4names.py"
    assert main([str(MINI), str(out)]) == 0
    names = _import(out)
    assert names.VAP == "Ing.vap"
    assert names.VAP_HDR_VLAN_VID == "hdr.vlan.vid"
    assert names.ACL_HDR_INNER_ETHERNET_DST_ADDR == "hdr.inner_ethernet.dst_addr"
    assert names.SET_VAP == "Ing.set_vap" and names.SET_VAP_VNI == "vni"
    assert names.DROP_REASONS == "Ing.drop_reasons" and names.VAP_COUNTER == "Ing.vap_counter"
    assert names.PACKET_OUT_EGRESS_PORT == "egress_port"
    assert names.TPIDS == "Prs.tpids"
    # Every table/action constant is a name the schema accepts.
    schema = PipelineSchema.load(MINI)
    assert {names.VAP, names.ROUTE, names.ACL, names.FIXED} == set(schema.index.tables.by_name)
    assert names.PUNT in schema.index.actions.by_name


def test_check_passes_when_fresh_and_fails_when_stale_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p4names.py"
    assert main([str(MINI), str(out)]) == 0
    assert main(["--check", str(MINI), str(out)]) == 0
    out.write_text(out.read_text() + "EXTRA: str = 'x'\n")
    with pytest.raises(SystemExit) as stale:
        main(["--check", str(MINI), str(out)])
    assert stale.value.code == 1
    assert "is stale" in capsys.readouterr().err
    with pytest.raises(SystemExit) as missing:
        main(["--check", str(MINI), str(tmp_path / "absent.py")])
    assert missing.value.code == 1


def test_name_collision_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p4info = load_p4info(MINI)
    p4info.actions[0].preamble.alias = "vap_hdr.vlan_vid"  # -> VAP_HDR_VLAN_VID, a field constant
    path = tmp_path / "clash.p4info.txtpb"
    path.write_text(str(p4info))
    with pytest.raises(SystemExit) as info:
        main([str(path), str(tmp_path / "out.py")])
    assert info.value.code == 2
    assert "both map to the identifier VAP_HDR_VLAN_VID" in capsys.readouterr().err


def test_render_is_deterministic_and_independent_of_the_p4info_path() -> None:
    p4info = load_p4info(MINI)
    shuffled = p4i.P4Info()
    shuffled.CopyFrom(p4info)
    shuffled.tables.reverse()
    assert render(p4info, "x.txtpb") == render(shuffled, "x.txtpb")


def test_runs_as_a_module(tmp_path: Path) -> None:
    out = tmp_path / "p4names.py"
    cmd = [sys.executable, "-m", "controlplane.p4rt.gen_p4names", str(MINI), str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    check = subprocess.run([*cmd[:3], "--check", *cmd[3:]], cwd=ROOT, check=False)
    assert check.returncode == 0


@pytest.mark.skipif(not REAL.exists(), reason="p4src/build/nve.p4info.txtpb not built yet")
def test_checked_in_p4names_matches_the_real_p4info() -> None:
    assert main(["--check", str(REAL), str(CHECKED_IN)]) == 0
