"""The configuration file: a good one loads, each kind of mistake is named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from controlplane.config import ConfigError, config_from_dict, load_config

EXAMPLE = Path(__file__).parent / "data" / "controller" / "two_nves.toml"


def raw() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def test_example_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert [s.name for s in cfg.switches] == ["nve1", "nve2"]
    nve1 = cfg.switch("nve1")
    assert nve1.vtep_ip == 0x0A000101 and nve1.network_ports == (4,)
    assert nve1.route_for(0x0A000201).port == 4
    assert nve1.route_for(0x0B000001) is None
    assert cfg.vn_by_name("blue").pcp_classes == {"gold": 5, "bronze": 1}
    assert cfg.hypervisor("hv3").vns == frozenset({"red"})
    assert cfg.pcp_to_dscp[5] == 46 and cfg.pcp_to_dscp[0] == 0
    assert cfg.database == EXAMPLE.parent / "nve.db"
    assert cfg.operators == frozenset({"admin"})


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: r["switch"][0].update(vtep_ip="10.0.1"), "vtep_ip"),
    (lambda r: r["switch"][0].update(router_mac="02:00:00:00:01"), "router_mac"),
    (lambda r: r["switch"][0].update(network_ports=[1]), "both access and network"),
    (lambda r: r["switch"][1].update(name="nve1"), "same name"),
    (lambda r: r["vn"][0].update(vni=1 << 24), "outside"),
    (lambda r: r["vn"][1].update(vni=5001), "same vni"),
    (lambda r: r["vn"][0]["acl"][0].update(action="drop"), "permit' or 'deny"),
    (lambda r: r["hypervisor"][0].update(vns=["purple"]), "unknown VNs"),
    (lambda r: r["hypervisor"][0].update(ports=[4]), "not access ports"),
    (lambda r: r["hypervisor"][0].update(switch="nve9"), "unknown switch"),
    (lambda r: r["qos"]["pcp_to_dscp"].update({"5": 0}), "ambiguous"),
    (lambda r: r["switch"][0]["route"][0].update(port=2), "not a network port"),
    (lambda r: r["controller"].update(aging_time=0), "aging_time"),
])
def test_mistakes_are_named(mutate, message: str) -> None:
    data = raw()
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")
