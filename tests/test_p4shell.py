"""p4runtime-shell, in its own .venv-p4shell, reads back what our P4RuntimeClient wrote.

The softswitch runs in-process on a free loopback port. Our client (election id 10, primary)
pushes the pipeline and writes one entry to every table it may write; p4runtime-shell then
connects with its tools/p4shell.py defaults (election id 0,1: a backup, which may read) without
pushing the pipeline again, reads every such table with ``table_entry[...].read()``, and must
print exactly those entries. Our client stays primary throughout: the two do not fight.

The program is p4src/build/nve.* once compiled, else the hand-written test program of
test_softswitch_server_realprog.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import test_softswitch_server_realprog as realprog

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import (
    Entry,
    Exact,
    Lpm,
    MatchValue,
    Optional,
    Range,
    Ternary,
    Update,
    WriteOp,
)
from controlplane.p4rt.p4info import ActionScope, MatchFieldInfo, MatchKind, P4InfoIndex
from controlplane.p4rt.schema import PipelineSchema
from softswitch.ports import MemoryPorts
from softswitch.server import SoftSwitch

ROOT = Path(__file__).resolve().parent.parent
NVE_P4INFO = ROOT / "p4src/build/nve.p4info.txtpb"
NVE_JSON = ROOT / "p4src/build/nve.json"
DEVICE_ID = 1
OUR_ELECTION_ID = 10
SHELL_TIMEOUT = 60.0
ENTRY_PREFIX = "ENTRY "
SAMPLES_PER_TABLE = 2

SHELL_SCRIPT = f"""\
import json, sys
import p4runtime_sh.shell as sh

FIELDS = {{"exact": ("value",), "lpm": ("value", "prefix_len"), "ternary": ("value", "mask"),
          "range": ("low", "high"), "optional": ("value",)}}

def number(value):
    return value if isinstance(value, int) else int.from_bytes(value, "big")

def describe(table, msg):
    match = {{}}
    for field in msg.match:
        kind = field.WhichOneof("field_match_type")
        values = [number(getattr(getattr(field, kind), name)) for name in FIELDS[kind]]
        match[sh.context.get_mf_name(table, field.field_id)] = [kind, *values]
    action = sh.context.get_name_from_id(msg.action.action.action_id)
    params = {{sh.context.get_param_name(action, p.param_id): number(p.value)
              for p in msg.action.action.params}}
    return {{"table": table, "match": match, "action": action, "params": params,
            "priority": msg.priority}}

grpc_addr, device_id, election_id, tables = (
    sys.argv[1], int(sys.argv[2]), tuple(map(int, sys.argv[3].split(","))), sys.argv[4:])
sh.setup(device_id=device_id, grpc_addr=grpc_addr, election_id=election_id, config=None,
         verbose=False)
table_entry = sh.P4RuntimeEntityBuilder(sh.P4Type.table, sh.P4RuntimeEntity.table_entry,
                                        sh.TableEntry)
try:
    for table in tables:
        for entry in table_entry[table].read():
            print({ENTRY_PREFIX!r} + json.dumps(describe(table, entry.msg())), flush=True)
finally:
    sh.teardown()
"""
"""Runs in .venv-p4shell: reads the named tables, prints one JSON line per entry."""


def load_p4shell_tool() -> ModuleType:
    """tools/p4shell.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("p4shell_tool", ROOT / "tools" / "p4shell.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


p4shell = load_p4shell_tool()


@dataclasses.dataclass(frozen=True)
class Program:
    """A pipeline to push, and the CPU port it was compiled for."""

    p4info: Path
    config: Path
    cpu_port: int


@pytest.fixture(scope="session")
def shell_python() -> Path:
    """The interpreter of .venv-p4shell (created on first use)."""
    try:
        return p4shell.ensure_venv()
    except p4shell.P4ShellError as exc:
        pytest.skip(f"cannot install {p4shell.REQUIREMENT} here: {exc}")


@pytest.fixture
def program(tmp_path: Path) -> Program:
    """The NVE program once compiled, else the hand-written realprog test program."""
    if NVE_P4INFO.is_file() and NVE_JSON.is_file():
        return Program(NVE_P4INFO, NVE_JSON, 255)
    p4info, config = tmp_path / "realprog.p4info.txtpb", tmp_path / "realprog.json"
    p4info.write_text(realprog.P4INFO_TEXT)
    config.write_text(json.dumps(realprog.program()))
    return Program(p4info, config, realprog.CPU_PORT)


@pytest.fixture
async def switch(program: Program) -> AsyncIterator[SoftSwitch]:
    """A softswitch without a pipeline, serving on a free loopback port."""
    ports = MemoryPorts([1, 2, 3, 4, 5])
    async with SoftSwitch(
        ports=ports, device_id=DEVICE_ID, cpu_port=program.cpu_port, grpc_addr="127.0.0.1:0"
    ) as sw:
        yield sw


def sample_match(field: MatchFieldInfo, value: int) -> MatchValue:
    """A non-wildcard match on ``value`` for a field of any supported kind."""
    match field.kind:
        case MatchKind.EXACT:
            return Exact(value)
        case MatchKind.LPM:
            return Lpm(value, field.bitwidth)
        case MatchKind.TERNARY:
            return Ternary(value, (1 << field.bitwidth) - 1)
        case MatchKind.RANGE:
            return Range(value, value)
        case MatchKind.OPTIONAL:
            return Optional(value)
    raise ValueError(f"unsupported match kind of {field.name}")


def sample_entries(index: P4InfoIndex) -> list[Entry]:
    """Entries for each table a controller may write (keyed, not const, direct actions).

    Entry ``v`` (1 and 2, where every field is wide enough) matches ``v`` on every field and
    gives ``v`` to every parameter of the table's first action.
    """
    entries = []
    for table in index.tables:
        actions = [name for name, scope in table.action_scopes.items()
                   if scope is not ActionScope.DEFAULT_ONLY]
        fields = list(table.fields)
        if table.is_const or table.has_action_profile or not actions or not fields:
            continue
        if any(field.kind is None for field in fields):
            continue
        params = index.actions.lookup(actions[0]).params
        narrowest = min(field.bitwidth for field in [*fields, *params])
        for value in range(1, min(SAMPLES_PER_TABLE, (1 << narrowest) - 1) + 1):
            entries.append(Entry(
                table.name, {field.name: sample_match(field, value) for field in fields},
                actions[0], {param.name: value for param in params},
                priority=value if table.needs_priority else 0,
            ))
    return entries


def as_printed(entry: Entry) -> dict[str, Any]:
    """``entry`` in the shape the shell script prints."""
    return {
        "table": entry.table,
        "match": {name: [type(value).__name__.lower(), *dataclasses.astuple(value)]
                  for name, value in entry.match},
        "action": entry.action,
        "params": dict(entry.params),
        "priority": entry.priority,
    }


async def read_with_shell(
    python: Path, grpc_addr: str, tables: list[str]
) -> tuple[list[dict[str, Any]], str]:
    """Entries p4runtime-shell reads from ``tables``, and everything it wrote (for messages)."""
    election_id = p4shell.build_parser().get_default("election_id")
    process = await asyncio.create_subprocess_exec(
        str(python), "-c", SHELL_SCRIPT, grpc_addr, str(DEVICE_ID), election_id, *tables,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SHELL_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"p4runtime-shell script failed:\n{text}"
    entries = [json.loads(line[len(ENTRY_PREFIX):]) for line in text.splitlines()
               if line.startswith(ENTRY_PREFIX)]
    return entries, text


def canonical(entries: list[dict[str, Any]]) -> list[str]:
    """Printed entries as sorted JSON strings, for an order-free comparison."""
    return sorted(json.dumps(entry, sort_keys=True) for entry in entries)


def test_default_election_id_is_below_ours() -> None:
    """The shell's default election id (0,1) makes it a backup next to our controller."""
    high, low = map(int, p4shell.build_parser().get_default("election_id").split(","))
    assert (high << 64) + low < OUR_ELECTION_ID


async def test_shell_reads_back_our_entries(
    shell_python: Path, switch: SoftSwitch, program: Program
) -> None:
    grpc_addr = f"127.0.0.1:{switch.grpc_port}"
    entries = sample_entries(PipelineSchema.load(program.p4info, program.config).index)
    assert entries, "the program has no table to write"
    async with P4RuntimeClient() as client:
        await client.connect(grpc_addr, DEVICE_ID, OUR_ELECTION_ID)
        assert await client.set_pipeline(program.p4info, program.config)
        await client.write([Update(WriteOp.INSERT, entry) for entry in entries])

        tables = sorted({entry.table for entry in entries})
        printed, output = await read_with_shell(shell_python, grpc_addr, tables)

        assert canonical(printed) == canonical([as_printed(e) for e in entries]), output
        assert client.is_primary, "p4runtime-shell took over as primary"
        assert await client.get_pipeline_cookie() == client.schema.cookie, "pipeline re-pushed"
        await client.write([Update(WriteOp.DELETE, entry) for entry in entries])
        assert await client.read_table_entries() == []


def test_shell_command_pushes_only_when_asked(tmp_path: Path) -> None:
    """tools/p4shell.py hands --config to the shell only when it decided to push."""
    args = p4shell.build_parser().parse_args(["--grpc-addr", "127.0.0.1:1", "--config", "a,b"])
    python = tmp_path / "python"
    pushed = p4shell.shell_command(python, args, True, ["-v"])
    assert pushed == [str(python), "-m", "p4runtime_sh", "--grpc-addr", "127.0.0.1:1",
                      "--device-id", "1", "--election-id", "0,1", "--config", "a,b", "-v"]
    assert "--config" not in p4shell.shell_command(python, args, False, [])


async def test_probe_sees_pipeline_only_after_push(
    shell_python: Path, switch: SoftSwitch, program: Program
) -> None:
    """The --push auto probe of tools/p4shell.py, run in .venv-p4shell, against the switch."""
    grpc_addr = f"127.0.0.1:{switch.grpc_port}"
    probe = p4shell.device_has_pipeline
    assert not await asyncio.to_thread(probe, shell_python, grpc_addr, DEVICE_ID)
    async with P4RuntimeClient() as client:
        await client.connect(grpc_addr, DEVICE_ID, OUR_ELECTION_ID)
        await client.set_pipeline(program.p4info, program.config)
    assert await asyncio.to_thread(probe, shell_python, grpc_addr, DEVICE_ID)
    with pytest.raises(p4shell.P4ShellError, match="NOT_FOUND"):
        await asyncio.to_thread(probe, shell_python, grpc_addr, DEVICE_ID + 1)
