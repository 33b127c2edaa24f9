"""The controller's configuration file (TOML): switches, VNs with their policy, hypervisors.

Every value is checked when the file is loaded; ConfigError names the key that is wrong.
See README ("Policy file") for a commented example.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import NveError

MAX_VNI = (1 << 24) - 1
MAX_PCP = 7
MAX_DSCP = 63
DEFAULT_CPU_PORT = 255
DEFAULT_PCP_TO_DSCP = {0: 0, 1: 8, 2: 16, 3: 24, 4: 32, 5: 46, 6: 48, 7: 56}


class ConfigError(NveError):
    """The configuration file is missing, unreadable or wrong; the message names the key."""


def parse_mac(text: str, where: str) -> int:
    """'02:00:00:00:00:01' -> int; ConfigError naming `where` when malformed."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ConfigError(f"{where}: {text!r} is not a MAC address like 02:00:00:00:00:01")
    try:
        return int("".join(parts), 16)
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a MAC address") from None


def format_mac(value: int) -> str:
    """int -> '02:00:00:00:00:01'."""
    raw = f"{value:012x}"
    return ":".join(raw[i:i + 2] for i in range(0, 12, 2))


def parse_ipv4(text: str, where: str) -> int:
    """'10.0.0.1' -> int; ConfigError naming `where` when malformed."""
    try:
        return int(ipaddress.IPv4Address(text))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise ConfigError(f"{where}: {text!r} is not an IPv4 address") from None


def parse_ipv4_net(text: str, where: str) -> ipaddress.IPv4Network:
    """'10.0.0.0/24' -> IPv4Network (host bits must be zero)."""
    try:
        return ipaddress.IPv4Network(text)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: {text!r} is not an IPv4 prefix like 10.0.0.0/24") from None


@dataclass(frozen=True, slots=True)
class UnderlayRoute:
    """Remote VTEPs in `prefix` are reached through `port` via the next hop's MAC."""

    prefix: ipaddress.IPv4Network
    port: int
    next_hop_mac: int


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    """One NVE switch the controller programs."""

    name: str
    grpc_addr: str
    device_id: int
    vtep_ip: int
    router_mac: int
    access_ports: tuple[int, ...]
    network_ports: tuple[int, ...]
    routes: tuple[UnderlayRoute, ...]
    cpu_port: int = DEFAULT_CPU_PORT

    def route_for(self, vtep_ip: int) -> UnderlayRoute | None:
        """The longest-prefix route toward a remote VTEP, as the data plane will choose it."""
        address = ipaddress.IPv4Address(vtep_ip)
        matching = [r for r in self.routes if address in r.prefix]
        return max(matching, key=lambda r: r.prefix.prefixlen, default=None)


@dataclass(frozen=True, slots=True)
class AclRule:
    """One ACL rule of a VN; None fields match anything."""

    priority: int
    action: str                      # "permit" | "deny"
    direction: str | None = None     # "from_vap" | "to_vap" | None (both)
    eth_type: int | None = None
    ipv4_src: ipaddress.IPv4Network | None = None
    ipv4_dst: ipaddress.IPv4Network | None = None
    ip_proto: int | None = None
    l4_sport: int | None = None
    l4_dport: int | None = None


@dataclass(frozen=True, slots=True)
class VnConfig:
    """A virtual network: its VNI, its ACL policy and the PCP of each VM class."""

    name: str
    vni: int
    default_action: str
    acl: tuple[AclRule, ...]
    pcp_classes: Mapping[str, int]
    default_pcp: int


@dataclass(frozen=True, slots=True)
class HypervisorConfig:
    """A hypervisor (its certificate's common name), where it is attached, what it may join."""

    name: str
    switch: str
    ports: tuple[int, ...]
    vns: frozenset[str]


@dataclass(frozen=True, slots=True)
class StaticHost:
    """A host behind a VTEP we do not control (e.g. a Linux VXLAN device)."""

    vn: str
    mac: int
    vtep_ip: int


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """mTLS material for the signalling and operator APIs; `insecure` turns TLS off (labs only)."""

    insecure: bool
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where VM locations are shared (`[store]`): "local" keeps them in this controller (one
    controller for every NVE); "etcd" shares them between controllers through an etcd cluster."""

    kind: str = "local"
    endpoints: tuple[str, ...] = ()   # etcd client URLs: "host:port" or "http(s)://host:port"
    lease_ttl: int = 5                # seconds our VMs outlive us in etcd
    controller_id: str = ""           # unique per controller; default: its switch names
    prefix: str = "/nve/v1/"          # key prefix shared by every controller of the fabric
    request_timeout: float = 2.0      # seconds one etcd request may take (per endpoint)
    connect_timeout: float = 10.0     # seconds to wait for etcd at start before going on
    ca: Path | None = None            # TLS toward etcd (https endpoints): CA, client cert, key
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Everything the controller process needs."""

    switches: tuple[SwitchConfig, ...]
    vns: tuple[VnConfig, ...]
    hypervisors: tuple[HypervisorConfig, ...]
    static_hosts: tuple[StaticHost, ...] = ()
    pcp_to_dscp: Mapping[int, int] = field(default_factory=lambda: dict(DEFAULT_PCP_TO_DSCP))
    aging_time: float = 30.0
    signalling_addr: str = "127.0.0.1:50051"
    metrics_addr: str | None = None
    database: Path = Path("run/nve.db")
    tls: TlsConfig = TlsConfig(insecure=True)
    operators: frozenset[str] = frozenset()   # certificate names allowed to use the operator API
    store: StoreConfig = StoreConfig()        # where VM locations are shared (local or etcd)

    def switch(self, name: str) -> SwitchConfig:
        """The switch called `name`; ConfigError when there is none."""
        for sw in self.switches:
            if sw.name == name:
                return sw
        raise ConfigError(f"unknown switch {name!r}; known: {[s.name for s in self.switches]}")

    def vn_by_name(self, name: str) -> VnConfig | None:
        """The VN called `name`, if configured."""
        return next((vn for vn in self.vns if vn.name == name), None)

    def vn_by_vni(self, vni: int) -> VnConfig | None:
        """The VN with VNI `vni`, if configured."""
        return next((vn for vn in self.vns if vn.vni == vni), None)

    def hypervisor(self, name: str) -> HypervisorConfig | None:
        """The hypervisor whose identity is `name`, if configured."""
        return next((hv for hv in self.hypervisors if hv.name == name), None)


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = ...) -> Any:
    """table[key] checked against `kind`; ConfigError naming where.key otherwise."""
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ConfigError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, "
                          f"got {value!r}")
    return value


def _int_in(table: Mapping[str, Any], key: str, low: int, high: int, where: str,
            default: Any = ...) -> Any:
    """An int key within [low, high]."""
    value = _get(table, key, int, where, default)
    if value is not None and value is not default and not low <= value <= high:
        raise ConfigError(f"{where}.{key}: {value} is outside {low}..{high}")
    return value


def _ports(values: Any, where: str) -> tuple[int, ...]:
    if not isinstance(values, list) or not all(isinstance(v, int) and 0 <= v < 511 for v in values):
        raise ConfigError(f"{where}: expected a list of port numbers 0..510, got {values!r}")
    return tuple(values)


def _switch(raw: Mapping[str, Any], index: int) -> SwitchConfig:
    where = f"switch[{index}]"
    name = _get(raw, "name", str, where)
    where = f"switch {name!r}"
    routes = tuple(
        UnderlayRoute(
            prefix=parse_ipv4_net(_get(r, "prefix", str, f"{where}.route[{i}]"),
                                  f"{where}.route[{i}].prefix"),
            port=_int_in(r, "port", 0, 510, f"{where}.route[{i}]"),
            next_hop_mac=parse_mac(_get(r, "next_hop_mac", str, f"{where}.route[{i}]"),
                                   f"{where}.route[{i}].next_hop_mac"))
        for i, r in enumerate(_get(raw, "route", list, where, [])))
    switch = SwitchConfig(
        name=name,
        grpc_addr=_get(raw, "grpc_addr", str, where),
        device_id=_int_in(raw, "device_id", 0, 2**64 - 1, where, 1),
        vtep_ip=parse_ipv4(_get(raw, "vtep_ip", str, where), f"{where}.vtep_ip"),
        router_mac=parse_mac(_get(raw, "router_mac", str, where), f"{where}.router_mac"),
        access_ports=_ports(_get(raw, "access_ports", list, where), f"{where}.access_ports"),
        network_ports=_ports(_get(raw, "network_ports", list, where), f"{where}.network_ports"),
        routes=routes,
        cpu_port=_int_in(raw, "cpu_port", 1, 510, where, DEFAULT_CPU_PORT),
    )
    overlap = set(switch.access_ports) & set(switch.network_ports)
    if overlap:
        raise ConfigError(f"{where}: ports {sorted(overlap)} are both access and network ports")
    for route in routes:
        if route.port not in switch.network_ports:
            raise ConfigError(f"{where}: route {route.prefix} uses port {route.port}, "
                              "which is not a network port")
    return switch


def _acl_rule(raw: Mapping[str, Any], where: str) -> AclRule:
    action = _get(raw, "action", str, where)
    if action not in ("permit", "deny"):
        raise ConfigError(f"{where}.action: expected 'permit' or 'deny', got {action!r}")
    direction = _get(raw, "direction", str, where, None)
    if direction not in (None, "from_vap", "to_vap"):
        raise ConfigError(f"{where}.direction: expected 'from_vap' or 'to_vap', got {direction!r}")
    src = _get(raw, "ipv4_src", str, where, None)
    dst = _get(raw, "ipv4_dst", str, where, None)
    return AclRule(
        priority=_int_in(raw, "priority", 1, 1_000_000, where),
        action=action,
        direction=direction,
        eth_type=_int_in(raw, "eth_type", 0, 0xFFFF, where, None),
        ipv4_src=parse_ipv4_net(src, f"{where}.ipv4_src") if src is not None else None,
        ipv4_dst=parse_ipv4_net(dst, f"{where}.ipv4_dst") if dst is not None else None,
        ip_proto=_int_in(raw, "ip_proto", 0, 255, where, None),
        l4_sport=_int_in(raw, "l4_sport", 0, 0xFFFF, where, None),
        l4_dport=_int_in(raw, "l4_dport", 0, 0xFFFF, where, None),
    )


def _vn(raw: Mapping[str, Any], index: int) -> VnConfig:
    name = _get(raw, "name", str, f"vn[{index}]")
    where = f"vn {name!r}"
    default_action = _get(raw, "default_action", str, where, "permit")
    if default_action not in ("permit", "deny"):
        raise ConfigError(f"{where}.default_action: expected 'permit' or 'deny'")
    classes = _get(raw, "pcp", dict, where, {})
    for cls, pcp in classes.items():
        if not isinstance(pcp, int) or not 0 <= pcp <= MAX_PCP:
            raise ConfigError(f"{where}.pcp.{cls}: expected a PCP 0..7, got {pcp!r}")
    rules = tuple(_acl_rule(r, f"{where}.acl[{i}]")
                  for i, r in enumerate(_get(raw, "acl", list, where, [])))
    return VnConfig(
        name=name,
        vni=_int_in(raw, "vni", 1, MAX_VNI, where),
        default_action=default_action,
        acl=rules,
        pcp_classes=dict(classes),
        default_pcp=_int_in(raw, "default_pcp", 0, MAX_PCP, where, 0),
    )


def _hypervisor(raw: Mapping[str, Any], index: int) -> HypervisorConfig:
    name = _get(raw, "name", str, f"hypervisor[{index}]")
    where = f"hypervisor {name!r}"
    vns = _get(raw, "vns", list, where)
    if not all(isinstance(v, str) for v in vns):
        raise ConfigError(f"{where}.vns: expected a list of VN names")
    return HypervisorConfig(name=name, switch=_get(raw, "switch", str, where),
                            ports=_ports(_get(raw, "ports", list, where), f"{where}.ports"),
                            vns=frozenset(vns))


def _tls(raw: Mapping[str, Any], base: Path) -> TlsConfig:
    where = "tls"
    if _get(raw, "insecure", bool, where, False):
        return TlsConfig(insecure=True)
    paths = {k: base / _get(raw, k, str, where) for k in ("ca", "cert", "key")}
    return TlsConfig(insecure=False, **paths)


def _store(raw: Mapping[str, Any], base: Path, switches: list[SwitchConfig]) -> StoreConfig:
    where = "store"
    kind = _get(raw, "kind", str, where, "local")
    if kind not in ("local", "etcd"):
        raise ConfigError(f"{where}.kind: expected 'local' or 'etcd', got {kind!r}")
    endpoints = _get(raw, "endpoints", list, where, ["127.0.0.1:2379"] if kind == "etcd" else [])
    if not all(isinstance(e, str) and e for e in endpoints):
        raise ConfigError(f"{where}.endpoints: expected a list of \"host:port\" strings")
    if kind == "etcd" and not endpoints:
        raise ConfigError(f"{where}.endpoints: etcd needs at least one endpoint")
    ttl = _int_in(raw, "lease_ttl", 2, 3600, where, 5)
    prefix = _get(raw, "prefix", str, where, "/nve/v1/")
    if not prefix.endswith("/"):
        raise ConfigError(f"{where}.prefix: must end with '/', got {prefix!r}")
    timeouts = []
    for name, default in (("request_timeout", 2.0), ("connect_timeout", 10.0)):
        value = _get(raw, name, (int, float), where, default)
        if value <= 0:
            raise ConfigError(f"{where}.{name}: must be > 0 seconds")
        timeouts.append(float(value))
    ca, cert, key = (base / _get(raw, k, str, where) if k in raw else None
                     for k in ("ca", "cert", "key"))
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}: cert and key go together")
    return StoreConfig(
        kind=kind, endpoints=tuple(endpoints), lease_ttl=ttl,
        controller_id=_get(raw, "controller_id", str, where, "+".join(s.name for s in switches)),
        prefix=prefix, request_timeout=timeouts[0], connect_timeout=timeouts[1], ca=ca,
        cert=cert, key=key)


def _unique(items: list[Any], attr: str, kind: str) -> None:
    seen: set[Any] = set()
    for item in items:
        value = getattr(item, attr)
        if value in seen:
            raise ConfigError(f"two {kind}s have the same {attr} {value!r}")
        seen.add(value)


def config_from_dict(raw: Mapping[str, Any], base: Path = Path(".")) -> ControllerConfig:
    """Build and cross-check a ControllerConfig; relative paths are taken from `base`."""
    switches = [_switch(s, i) for i, s in enumerate(_get(raw, "switch", list, "config"))]
    vns = [_vn(v, i) for i, v in enumerate(_get(raw, "vn", list, "config", []))]
    hypervisors = [_hypervisor(h, i) for i, h in enumerate(_get(raw, "hypervisor", list, "config", []))]
    _unique(switches, "name", "switch")
    _unique(switches, "vtep_ip", "switch")
    _unique(vns, "name", "VN")
    _unique(vns, "vni", "VN")
    _unique(hypervisors, "name", "hypervisor")
    switch_names = {s.name for s in switches}
    vn_names = {v.name for v in vns}
    for hv in hypervisors:
        if hv.switch not in switch_names:
            raise ConfigError(f"hypervisor {hv.name!r}: unknown switch {hv.switch!r}")
        unknown = sorted(hv.vns - vn_names)
        if unknown:
            raise ConfigError(f"hypervisor {hv.name!r}: unknown VNs {unknown}")
        sw = next(s for s in switches if s.name == hv.switch)
        stray = sorted(set(hv.ports) - set(sw.access_ports))
        if stray:
            raise ConfigError(f"hypervisor {hv.name!r}: ports {stray} are not access ports "
                              f"of switch {sw.name!r}")
    hosts = []
    for i, h in enumerate(_get(raw, "static_host", list, "config", [])):
        where = f"static_host[{i}]"
        vn = _get(h, "vn", str, where)
        if vn not in vn_names:
            raise ConfigError(f"{where}: unknown VN {vn!r}")
        hosts.append(StaticHost(vn=vn, mac=parse_mac(_get(h, "mac", str, where), f"{where}.mac"),
                                vtep_ip=parse_ipv4(_get(h, "vtep_ip", str, where),
                                                   f"{where}.vtep_ip")))
    qos = _get(raw, "qos", dict, "config", {})
    pcp_to_dscp = dict(DEFAULT_PCP_TO_DSCP)
    for pcp_text, dscp in _get(qos, "pcp_to_dscp", dict, "qos", {}).items():
        if not pcp_text.isdigit() or int(pcp_text) > MAX_PCP:
            raise ConfigError(f"qos.pcp_to_dscp: key {pcp_text!r} is not a PCP 0..7")
        if not isinstance(dscp, int) or not 0 <= dscp <= MAX_DSCP:
            raise ConfigError(f"qos.pcp_to_dscp.{pcp_text}: {dscp!r} is not a DSCP 0..63")
        pcp_to_dscp[int(pcp_text)] = dscp
    if len(set(pcp_to_dscp.values())) != len(pcp_to_dscp):
        raise ConfigError("qos.pcp_to_dscp: two PCPs map to one DSCP; the reverse map would be "
                          "ambiguous")
    ctl = _get(raw, "controller", dict, "config", {})
    aging = _get(ctl, "aging_time", (int, float), "controller", 30.0)
    if aging <= 0:
        raise ConfigError("controller.aging_time: must be > 0 seconds")
    return ControllerConfig(
        switches=tuple(switches), vns=tuple(vns), hypervisors=tuple(hypervisors),
        static_hosts=tuple(hosts), pcp_to_dscp=pcp_to_dscp, aging_time=float(aging),
        signalling_addr=_get(ctl, "signalling_addr", str, "controller", "127.0.0.1:50051"),
        metrics_addr=_get(ctl, "metrics_addr", str, "controller", None),
        database=base / _get(ctl, "database", str, "controller", "run/nve.db"),
        tls=_tls(_get(raw, "tls", dict, "config", {"insecure": True}), base),
        operators=frozenset(_get(ctl, "operators", list, "controller", [])),
        store=_store(_get(raw, "store", dict, "config", {}), base, switches),
    )


def load_config(path: Path | str) -> ControllerConfig:
    """Read and check a TOML configuration file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config_from_dict(raw, base=path.parent)
