"""`[store]` in the controller's configuration, and the two-controller example files."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.config import ConfigError, config_from_dict, load_config
from controlplane.store.etcd import EtcdMapping
from controlplane.store.mapping import InProcessMapping, open_mapping

DATA = Path(__file__).parent / "data"
BASE = load_config(DATA / "controller" / "two_nves.toml")


def with_store(store: dict, base: Path = Path("/etc/nve")) -> object:
    raw = {"switch": [{"name": "nve1", "grpc_addr": "127.0.0.1:9559", "vtep_ip": "10.0.1.1",
                       "router_mac": "02:00:00:00:01:01", "access_ports": [1],
                       "network_ports": [4]}],
           "store": store}
    return config_from_dict(raw, base=base).store


def test_default_is_local() -> None:
    assert BASE.store.kind == "local"
    assert isinstance(open_mapping(BASE), InProcessMapping)


def test_etcd_store() -> None:
    store = with_store({"kind": "etcd", "endpoints": ["10.1.0.1:2379", "https://10.1.0.2:2379"],
                        "lease_ttl": 7, "controller_id": "rack-12", "ca": "pki/etcd-ca.pem",
                        "cert": "pki/ctl.pem", "key": "pki/ctl.key"})
    assert store.endpoints == ("10.1.0.1:2379", "https://10.1.0.2:2379")
    assert (store.lease_ttl, store.controller_id, store.prefix) == (7, "rack-12", "/nve/v1/")
    assert store.ca == Path("/etc/nve/pki/etcd-ca.pem")
    assert store.key == Path("/etc/nve/pki/ctl.key")
    defaults = with_store({"kind": "etcd"})
    assert defaults.endpoints == ("127.0.0.1:2379",) and defaults.controller_id == "nve1"


@pytest.mark.parametrize(("store", "message"), [
    ({"kind": "zookeeper"}, "store.kind"),
    ({"kind": "etcd", "endpoints": []}, "store.endpoints"),
    ({"kind": "etcd", "endpoints": [""]}, "store.endpoints"),
    ({"kind": "etcd", "lease_ttl": 1}, "store.lease_ttl"),
    ({"kind": "etcd", "prefix": "/nve"}, "store.prefix"),
    ({"kind": "etcd", "request_timeout": 0}, "store.request_timeout"),
    ({"kind": "etcd", "cert": "c.pem"}, "cert and key"),
])
def test_bad_store(store: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_store(store)


def test_two_controller_example() -> None:
    ctl1 = load_config(DATA / "etcd" / "ctl1.toml")
    ctl2 = load_config(DATA / "etcd" / "ctl2.toml")
    assert [s.name for s in ctl1.switches] == ["nve1"]
    assert [s.name for s in ctl2.switches] == ["nve2"]
    assert (ctl1.store.controller_id, ctl2.store.controller_id) == ("ctl1", "ctl2")
    assert ctl1.store.endpoints == ctl2.store.endpoints == ("127.0.0.1:2379",)
    # Each reaches the other's VTEP: remote locations from etcd get a route.
    assert ctl1.switches[0].route_for(ctl2.switches[0].vtep_ip) is not None
    assert ctl2.switches[0].route_for(ctl1.switches[0].vtep_ip) is not None
    mapping = open_mapping(ctl1)
    assert isinstance(mapping, EtcdMapping) and mapping.controller_id == "ctl1"
