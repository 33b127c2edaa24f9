"""bmv2_lab without a lab: the probe's arithmetic, the picture, the generated controller config
and the state file."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bmv2_lab import probe, spec
from bmv2_lab.plot import migration_png
from bmv2_lab.probe import ProbeResult
from bmv2_lab.state import LabState, ProcessRecord, daemons_of, spawn, stop_process
from controlplane.config import config_from_dict, load_config


def result_missing(missing: set[int], sent: int = 100, rate: int = 1000) -> ProbeResult:
    return ProbeResult(rate, 10.0, sent, [(s, 10.0 + s / rate + 0.0005)
                                          for s in range(sent) if s not in missing])


def test_loss_window_is_the_longest_run_of_missing_packets() -> None:
    r = result_missing({5, 6, 7, 40, 41, 42, 43, 44, 45, 46, 90})
    assert r.longest_gap() == (40, 7)
    assert r.loss_window_ms == 7.0
    assert r.lost == 11
    assert r.gap_times() == pytest.approx((10.0395, 10.0475))


def test_loss_at_the_edges_counts_and_nothing_lost_is_zero() -> None:
    assert result_missing(set(range(12))).longest_gap() == (0, 12)
    assert result_missing(set(range(95, 100))).loss_window_ms == 5.0
    nothing = result_missing(set())
    assert (nothing.longest_gap(), nothing.loss_window_ms, nothing.lost) == ((0, 0), 0.0, 0)
    assert result_missing(set(), rate=500).period_ms == 2.0
    assert result_missing(set(range(100))).loss_window_ms == 100.0      # nothing arrived


def test_duplicates_and_strays_do_not_hide_loss() -> None:
    r = result_missing({3, 4})
    r.received += [(1, 10.2), (1, 10.3), (probe.END_SEQ, 10.4)]
    assert (r.lost, r.longest_gap()) == (2, (3, 2))


def test_per_ms_bins_and_json_round_trip() -> None:
    r = result_missing({10, 11})
    times, counts = r.per_ms()
    assert counts[9] == 1 and counts[10] == 0 and counts[11] == 0 and sum(counts) == 98
    assert times[:3] == [0.0, 1.0, 2.0]
    again = ProbeResult.from_json(r.to_json())
    assert again.received == r.received and again.loss_window_ms == r.loss_window_ms


def test_payload_round_trip_and_send_schedule() -> None:
    assert probe.parse(probe.payload(42, time.monotonic())) == 42
    assert probe.parse(b"something else entirely") is None
    sent: list[bytes] = []
    started = time.monotonic()
    t0, count = probe.send_loop(sent.append, rate=1000, duration=0.05)
    assert count == 50 and [probe.parse(p) for p in sent] == list(range(50))
    assert 0.045 <= time.monotonic() - started < 0.5 and t0 >= started


def test_picture_is_a_png(tmp_path: Path) -> None:
    r = result_missing({50, 51, 52})
    png = migration_png(r, [("Immigration(Asso) nve2: switch-over", 10.049),
                            ("VM resumed behind hv2", 10.053)], tmp_path / "m.png", "unit")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize("kernel_vtep", [False, True])
def test_controller_config_is_valid(kernel_vtep: bool, tmp_path: Path) -> None:
    switches = {n.name: f"unix:/tmp/{n.name}.sock" for n in spec.NVES}
    for acl in (False, True):
        path = tmp_path / "c.toml"
        path.write_text(spec.controller_config(switches=switches,
                                               signalling_addr="127.0.0.1:50051",
                                               database=str(tmp_path / "nve.db"),
                                               kernel_vtep=kernel_vtep, acl=acl))
        cfg = load_config(path)
        assert [s.grpc_addr for s in cfg.switches] == list(switches.values())
        blue = cfg.vn_by_name("blue")
        assert blue is not None and len(blue.acl) == (1 if acl else 0)
        assert len(cfg.static_hosts) == (1 if kernel_vtep else 0)
        assert {h.name for h in cfg.hypervisors} == {h.name for h in spec.HYPERVISORS}
        for hv in spec.HYPERVISORS:
            assert cfg.hypervisor(hv.name).ports == (hv.port,)   # type: ignore[union-attr]
        nve1 = cfg.switch("nve1")
        assert {str(r.prefix) for r in nve1.routes} == (
            {"10.0.2.0/24", "10.0.3.0/24"} if kernel_vtep else {"10.0.2.0/24"})
    assert config_from_dict  # the same checks as nvectl serve


def test_state_file_round_trip_and_process_records(tmp_path: Path) -> None:
    state = LabState(name="x", mode="loopback", target="embedded", run_dir=str(tmp_path))
    record = spawn([sys.executable, "-c", "import time; time.sleep(60)",
                    str(tmp_path / "x.sock"), "bmv2_lab.hostcmd"], tmp_path / "logs" / "sleep.log")
    try:
        state.processes["sleeper"] = record
        state.save()
        loaded = LabState.load(tmp_path)
        assert loaded is not None and loaded.processes["sleeper"] == record
        deadline = time.monotonic() + 5      # its command line appears once exec() finishes
        while daemons_of(tmp_path) == [] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [p.pid for p in daemons_of(tmp_path)] == [record.pid]
    finally:
        stop_process(record)
    assert daemons_of(tmp_path) == []
    stop_process(ProcessRecord(record.pid, record.start_time, []))   # gone: nothing happens
    (tmp_path / "state.json").write_text("{not json")
    assert LabState.load(tmp_path) is None
