"""One controller schema for both targets: the v1model P4Info and the TNA (Tofino) P4Info.

The controller addresses everything by P4Info name (controlplane/p4rt/p4names.py, generated from
the v1model P4Info). These tests compare the two committed P4Infos entity by entity, ids aside,
and fail on any difference not listed in ALLOWED_DIFFERENCES, the one place where the two
targets may differ. They also check that what the controller writes validates against the TNA
P4Info, that the TNA copies of shared control files differ from their originals only in their
counters, and that p4src/tna/build matches its sources (recompiled when p4test and the TNA
include files are installed: tools/p4build_tna.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from finsy.proto import p4i
from google.protobuf import text_format

from controlplane.config import ControllerConfig, load_config
from controlplane.intent import desired_state
from controlplane.intent.desired import VTEP_RID_BASE
from controlplane.lifecycle import Phase, State
from controlplane.model import Location, VmRecord
from controlplane.p4rt import p4names
from controlplane.p4rt.entries import Entry, MulticastGroup
from controlplane.p4rt.gen_p4names import render
from controlplane.p4rt.p4info import load_p4info
from controlplane.p4rt.schema import PipelineSchema
from controlplane.resources import MAX_VAP_ID

ROOT = Path(__file__).resolve().parent.parent
V1MODEL_P4INFO = ROOT / "p4src" / "build" / "nve.p4info.txtpb"
TNA_P4INFO = ROOT / "p4src" / "tna" / "build" / "nve_tna.p4info.txtpb"
BUILD_TOOL = ROOT / "tools" / "p4build_tna.py"

_SIZE = "hardware VTEP size (p4src/tna/sizes.p4, docs/tofino.md)"

ALLOWED_DIFFERENCES: dict[tuple[str, ...], str] = {
    ("pkg_info", "arch"): "the architecture each P4Info describes: v1model / tna",
    ("table", "NveIngress.vap.port_vlan_to_vni", "size"): _SIZE,
    ("table", "NveIngress.vap.vap_src_mac", "size"): _SIZE,
    ("table", "NveIngress.acl.acl", "size"): _SIZE,
    ("table", "NveIngress.fdb.fdb", "size"): _SIZE,
    ("table", "NveIngress.fdb.underlay_route", "size"): _SIZE,
    ("table", "NveEgress.replica.flood_replica", "size"): _SIZE,
    ("counter", "NveIngress.vap.vap_rx", "size"): "one cell per VAP: VAP_TABLE_SIZE",
    ("counter", "NveEgress.pcp_marking.vap_tx", "size"): "one cell per VAP: VAP_TABLE_SIZE",
}
"""Every way the TNA P4Info may differ from the v1model one: (entity kind, name, attribute).
Names, ids aside, match fields, actions, parameters, counters and controller headers are equal;
the controller reads table sizes from the P4Info it loads (controlplane.app.table_capacities)."""

_KNOWN_FIELDS = {"pkg_info", "tables", "actions", "counters", "direct_counters",
                 "controller_packet_metadata", "type_info"}

Description = dict[tuple[str, ...], object]


def describe(p4info: p4i.P4Info) -> Description:
    """Everything the controller relies on, by (kind, name, attribute); ids become names."""
    unknown = {field.name for field, _ in p4info.ListFields()} - _KNOWN_FIELDS
    assert not unknown, f"P4Info entity kinds this test does not compare yet: {sorted(unknown)}"
    actions = {a.preamble.id: a.preamble.name for a in p4info.actions}
    direct = {c.preamble.id: c.preamble.name for c in p4info.direct_counters}
    tables = {t.preamble.id: t.preamble.name for t in p4info.tables}
    out: Description = {("type_info",): p4info.type_info.SerializeToString(deterministic=True)}
    for field, value in p4info.pkg_info.ListFields():
        out[("pkg_info", field.name)] = str(value)
    for t in p4info.tables:
        key = ("table", t.preamble.name)
        out[(*key, "alias")] = t.preamble.alias
        out[(*key, "annotations")] = tuple(t.preamble.annotations)
        out[(*key, "match_fields")] = tuple(
            (f.name, f.bitwidth, f.WhichOneof("match"),
             f.match_type if f.WhichOneof("match") == "match_type" else f.other_match_type,
             f.type_name.name)
            for f in t.match_fields)
        out[(*key, "actions")] = tuple(sorted(
            (actions[ref.id], ref.scope, tuple(ref.annotations)) for ref in t.action_refs))
        out[(*key, "const_default_action")] = actions.get(t.const_default_action_id)
        out[(*key, "direct_counters")] = tuple(sorted(direct[i] for i in t.direct_resource_ids))
        out[(*key, "implementation_id")] = t.implementation_id
        out[(*key, "size")] = t.size
        out[(*key, "is_const_table")] = t.is_const_table
        out[(*key, "idle_timeout_behavior")] = t.idle_timeout_behavior
    for a in p4info.actions:
        key = ("action", a.preamble.name)
        out[(*key, "alias")] = a.preamble.alias
        out[(*key, "params")] = tuple((p.name, p.bitwidth, p.type_name.name) for p in a.params)
    for c in p4info.counters:
        key = ("counter", c.preamble.name)
        out[(*key, "alias")] = c.preamble.alias
        out[(*key, "unit")] = c.spec.unit
        out[(*key, "size")] = c.size
        out[(*key, "index_type")] = c.index_type_name.name
    for d in p4info.direct_counters:
        key = ("direct_counter", d.preamble.name)
        out[(*key, "alias")] = d.preamble.alias
        out[(*key, "unit")] = d.spec.unit
        out[(*key, "table")] = tables.get(d.direct_table_id)
    for h in p4info.controller_packet_metadata:
        out[("controller_header", h.preamble.name, "metadata")] = tuple(
            (m.name, m.bitwidth, tuple(m.annotations)) for m in h.metadata)
    return out


@pytest.fixture(scope="module")
def v1model() -> p4i.P4Info:
    return load_p4info(V1MODEL_P4INFO)


@pytest.fixture(scope="module")
def tna() -> p4i.P4Info:
    return load_p4info(TNA_P4INFO)


def test_p4infos_differ_only_where_allowed(v1model: p4i.P4Info, tna: p4i.P4Info) -> None:
    a, b = describe(v1model), describe(tna)
    differing = {path for path in a.keys() | b.keys() if a.get(path) != b.get(path)}
    unexpected = sorted(differing - ALLOWED_DIFFERENCES.keys())
    assert not unexpected, "the P4Infos differ beyond ALLOWED_DIFFERENCES:\n" + "\n".join(
        f"  {path}: v1model {a.get(path)!r}, tna {b.get(path)!r}" for path in unexpected)
    stale = sorted(ALLOWED_DIFFERENCES.keys() - differing)
    assert not stale, f"listed in ALLOWED_DIFFERENCES but equal now, remove them: {stale}"


def test_bf_p4c_p4info_differs_only_where_allowed(v1model: p4i.P4Info,
                                                  tna: p4i.P4Info) -> None:
    """The P4Info bf-p4c --p4runtime-force-std-externs wrote, given as $NVE_BF_P4C_P4INFO.

    That is the P4Info a Tofino switch must be given with the binary (its ids are bf-p4c's);
    it must describe what the committed TNA P4Info describes (docs/tofino.md).
    """
    path = os.environ.get("NVE_BF_P4C_P4INFO")
    if not path:
        pytest.skip("no bf-p4c output here: set NVE_BF_P4C_P4INFO=path/to/p4info.txt to compare")
    bf_p4c = describe(load_p4info(path))
    committed = describe(tna)
    differing = sorted(p for p in bf_p4c.keys() | committed.keys()
                       if bf_p4c.get(p) != committed.get(p))
    assert not differing, "bf-p4c's P4Info differs from p4src/tna/build's:\n" + "\n".join(
        f"  {p}: bf-p4c {bf_p4c.get(p)!r}, committed {committed.get(p)!r}" for p in differing)


def test_every_controller_name_is_in_the_tna_p4info(tna: p4i.P4Info) -> None:
    """p4names.py, the controller's view of the pipeline, is what the TNA P4Info generates too."""
    generated = render(tna, V1MODEL_P4INFO.name)
    assert generated == Path(p4names.__file__).read_text("utf-8")


def test_tna_arch_and_cpu_headers(tna: p4i.P4Info) -> None:
    assert tna.pkg_info.arch == "tna"
    headers = {h.preamble.name: [(m.name, m.bitwidth) for m in h.metadata]
               for h in tna.controller_packet_metadata}
    assert headers == {"packet_in": [("ingress_port", 9), ("_pad", 7)],
                       "packet_out": [("egress_port", 9), ("_pad", 7)]}


@pytest.mark.parametrize("path", [V1MODEL_P4INFO, TNA_P4INFO], ids=["v1model", "tna"])
def test_sizes_hold_what_the_controller_allocates(path: Path) -> None:
    """VAP ids index vap_rx/vap_tx; replica ids of remote VTEPs start above every VAP id."""
    p4info = load_p4info(path)
    tables = {t.preamble.alias: t for t in p4info.tables}
    counters = {c.preamble.alias: c.size for c in p4info.counters}
    vap_ids = min(tables["port_vlan_to_vni"].size, MAX_VAP_ID + 1)   # resources.choose_vap_id
    assert counters["vap_rx"] >= vap_ids and counters["vap_tx"] >= vap_ids
    assert MAX_VAP_ID < VTEP_RID_BASE
    (rid,) = tables["flood_replica"].match_fields
    assert VTEP_RID_BASE < 2**rid.bitwidth
    num_drop_reasons = int(re.search(r"NUM_DROP_REASONS = (\d+);",
                                     (ROOT / "p4src/include/defines.p4").read_text()).group(1))
    assert counters["ingress_drops"] == counters["egress_drops"] == num_drop_reasons


def _records() -> tuple[ControllerConfig, list[VmRecord]]:
    cfg = load_config(ROOT / "tests" / "data" / "controller" / "two_nves.toml")
    blue = cfg.vns[0].vni
    records = [
        VmRecord(vm_id=f"00000000-0000-0000-0000-{n:012d}", hypervisor="hv1", switch=switch,
                 port=port, vni=blue, macs=(0x525400000000 + n,), ipv4=(), ipv6=(), vid=10 + n,
                 pcp=5, vap_id=n, phase=Phase(state), last_seen=0.0)
        for n, switch, port, state in [(1, "nve1", 1, State.ASSOCIATED),
                                       (2, "nve1", 2, State.ASSOCIATED),
                                       (3, "nve1", 3, State.PRE_ASSOCIATED),
                                       (4, "nve2", 1, State.ASSOCIATED)]]
    return cfg, records


def _desired_entities() -> Iterator[Entry | MulticastGroup]:
    cfg, records = _records()
    locations = [Location(r.vni, mac, cfg.switch(r.switch).vtep_ip, r.vm_id, r.switch)
                 for r in records if r.active for mac in r.macs]
    for switch in cfg.switches:
        state = desired_state(cfg, switch, records, locations)
        yield from state.entries
        yield from state.groups


def test_the_controllers_entries_validate_against_the_tna_p4info() -> None:
    schema = PipelineSchema.load(TNA_P4INFO)
    entities = list(_desired_entities())
    tables = {e.table for e in entities if not isinstance(e, MulticastGroup)}
    assert len(tables) >= 10 and any(isinstance(e, MulticastGroup) for e in entities)
    for entity in entities:
        schema.validate(entity)   # raises on any name, kind or width mismatch
        schema.encode_entity(entity)
    schema.encode_packet_out(b"\0" * 60, {p4names.PACKET_OUT_EGRESS_PORT: 4})
    schema.counter_read(p4names.VAP_RX, 1)
    schema.direct_counter_table(p4names.FDB)


# -- the TNA copies of shared control files --------------------------------------------------------

def _block(text: str, opening: str) -> str:
    """The brace-delimited block that starts at the first `{` after `opening`."""
    start = text.index("{", text.index(opening))
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start + 1:end]
    raise AssertionError(f"unbalanced braces after {opening!r}")


def test_tna_direct_counters_count_in_every_table_entry_action() -> None:
    """TNA counts a direct counter only in actions calling count(); v1model counts every hit."""
    checked = 0
    for copy in sorted((ROOT / "p4src/include/control").glob("*.p4")):
        text = copy.read_text()
        for table in re.findall(r"^\s*table (\w+) \{", text, re.MULTILINE):
            body = _block(text, f"table {table} {{")
            counter = re.search(r"counters = (\w+);", body)
            if counter is None:
                continue
            entry_actions = re.findall(r"^\s*(\w+);$", _block(body, "actions ="), re.MULTILINE)
            assert entry_actions, f"{copy.name}: table {table} has no entry action"
            for action in entry_actions:
                assert f"{counter.group(1)}.count();" in _block(text, f"action {action}("), \
                    f"{copy.name}: action {action} of table {table} does not count"
                checked += 1
    assert checked == 9   # every entry action of the six tables with a direct counter


# -- the committed TNA artifacts -------------------------------------------------------------------


def _build_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("p4build_tna", BUILD_TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tna_p4info_source_hash_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = _build_tool()
    monkeypatch.chdir(ROOT)
    recorded = (ROOT / "p4src/tna/build/SOURCE_SHA256").read_text().strip()
    assert recorded == tool.source_hash(), \
        "p4src/tna or a shared file it includes changed: run python tools/p4build_tna.py compile"


def test_p4test_accepts_the_tna_program_and_reproduces_its_p4info() -> None:
    reasons = _build_tool().missing_prerequisites()
    if reasons:
        pytest.skip("; ".join(reasons))
    proc = subprocess.run([sys.executable, str(BUILD_TOOL), "check"], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recompiled P4Info is identical" in proc.stdout


def test_text_format_round_trip(tna: p4i.P4Info) -> None:
    """The committed file is plain P4Info text: what a P4Runtime server will be given."""
    assert text_format.Parse(TNA_P4INFO.read_text(), p4i.P4Info()) == tna
