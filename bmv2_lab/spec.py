"""What the lab is made of: NVEs, the underlay, hypervisors, VMs, the kernel VTEP, and the
controller configuration that describes them. Data only; nothing here touches the system.

    VMs (namespaces)      hypervisors (VLAN tagging)    NVEs (P4)          underlay
    a  blue 192.168.10.1 ── hv1 ── port 1 ┐
    c  red  192.168.10.11 ─ hv3 ── port 2 ┴ nve1 (VTEP 10.0.1.1) ── port 4 ┐
                                                                           router ── kvtep 10.0.3.1
    d  red  192.168.10.12 ─ hv2 ── port 1 ┐                                │   (Linux VXLAN, blue)
    b  blue 192.168.10.2 ── hv4 ── port 2 ┴ nve2 (VTEP 10.0.2.1) ── port 4 ┘     └── khost 192.168.10.9

VM a migrates from hv1 (nve1) to hv2 (nve2) in the demo.

With the etcd store the lab runs one controller per NVE (ctl1: nve1, ctl2: nve2), and they share
VM locations through one etcd.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_PORT = 255
DEVICE_ID = 1
NETWORK_PORT = 4
PROBE_PORT = 7000            # UDP port of the migration probe
OPEN_TCP_PORTS = (22, 80)    # every VM listens here (the ACL step connects to them)
VNS = {"blue": 5001, "red": 5002}
VXLAN_PORT = 4789


@dataclass(frozen=True, slots=True)
class NveSpec:
    """One NVE switch and its link into the underlay router."""

    name: str
    vtep_ip: str
    router_mac: str          # the NVE's MAC on the underlay (source of its VXLAN frames)
    subnet: str              # its underlay subnet
    gateway_ip: str          # the router's address on that subnet
    gateway_mac: str         # the router's MAC there: the NVE's next hop
    access_ports: tuple[int, ...] = (1, 2)


@dataclass(frozen=True, slots=True)
class HypervisorSpec:
    """A hypervisor: its signalling identity is its name; its uplink is one NVE access port."""

    name: str
    nve: str
    port: int


@dataclass(frozen=True, slots=True)
class VmSpec:
    """A VM: a namespace (or a fabric host) with one interface, first placed behind `hv`."""

    name: str
    uuid: str
    vn: str
    mac: str
    ip: str
    hv: str


@dataclass(frozen=True, slots=True)
class KernelVtepSpec:
    """A Linux kernel VXLAN device as a third, software VTEP, with a host behind it."""

    vtep_ip: str
    subnet: str
    gateway_ip: str
    vn: str
    host_mac: str
    host_ip: str


NVES = (
    NveSpec("nve1", "10.0.1.1", "02:00:00:00:01:01", "10.0.1.0/24", "10.0.1.254",
            "02:00:00:00:fe:01"),
    NveSpec("nve2", "10.0.2.1", "02:00:00:00:02:01", "10.0.2.0/24", "10.0.2.254",
            "02:00:00:00:fe:02"),
)
HYPERVISORS = (
    HypervisorSpec("hv1", "nve1", 1),
    HypervisorSpec("hv3", "nve1", 2),
    HypervisorSpec("hv2", "nve2", 1),
    HypervisorSpec("hv4", "nve2", 2),
)
VMS = (
    VmSpec("a", "0a000000-0000-4000-8000-00000000000a", "blue", "52:54:00:00:0a:01",
           "192.168.10.1", "hv1"),
    VmSpec("b", "0b000000-0000-4000-8000-00000000000b", "blue", "52:54:00:00:0b:01",
           "192.168.10.2", "hv4"),
    VmSpec("c", "0c000000-0000-4000-8000-00000000000c", "red", "52:54:00:00:0c:01",
           "192.168.10.11", "hv3"),
    VmSpec("d", "0d000000-0000-4000-8000-00000000000d", "red", "52:54:00:00:0d:01",
           "192.168.10.12", "hv2"),
)
KERNEL_VTEP = KernelVtepSpec("10.0.3.1", "10.0.3.0/24", "10.0.3.254", "blue",
                             "52:54:00:00:09:01", "192.168.10.9")
KERNEL_VTEP_GATEWAY_MAC = "02:00:00:00:fe:03"
TENANT_PREFIXLEN = 24
MIGRATING_VM = "a"
MIGRATION_TARGET = "hv2"
PROBE_SENDER = "b"
ETCD_CONTROLLERS = {"nve1": "ctl1", "nve2": "ctl2"}   # etcd store: NVE -> its own controller
ETCD_LEASE_TTL = 5           # s: a controller restart stays within it, a dead one's VMs age out
ACL_RULE = {"priority": 100, "action": "deny", "direction": "from_vap", "ip_proto": 6,
            "l4_dport": 22}


@dataclass(frozen=True, slots=True)
class EtcdStore:
    """The `[store]` of one controller of the etcd lab."""

    endpoint: str            # the lab's etcd, "127.0.0.1:PORT"
    controller_id: str       # ctl1, ctl2
    lease_ttl: int = ETCD_LEASE_TTL


def nve(name: str) -> NveSpec:
    """The NVE called `name`."""
    return next(n for n in NVES if n.name == name)


def hypervisor(name: str) -> HypervisorSpec:
    """The hypervisor called `name`."""
    return next(h for h in HYPERVISORS if h.name == name)


def vm(name: str) -> VmSpec:
    """The VM called `name` (KeyError-like ValueError when unknown)."""
    for spec in VMS:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown VM {name!r}; VMs: {', '.join(v.name for v in VMS)}")


def vm_by_ip(ip: str) -> VmSpec | None:
    """The VM that owns address `ip`, if any."""
    return next((v for v in VMS if v.ip == ip), None)


def controller_config(*, switches: dict[str, str], signalling_addr: str, database: str,
                      kernel_vtep: bool, acl: bool, nves: tuple[str, ...] | None = None,
                      etcd: EtcdStore | None = None) -> str:
    """The controller's TOML for this lab.

    `switches` maps each NVE to its P4Runtime address; `kernel_vtep` adds the kernel VTEP's host
    as a static host of its VN (the controller cannot learn it otherwise); `acl` adds the deny
    rule of the demo's step 3 to VN blue (policy "acl"; without it: policy "base"). `nves`: the
    switches this controller programs, with their hypervisors (default: all); `etcd`: share VM
    locations through etcd (`[store] kind = "etcd"`) instead of keeping them to itself.
    """
    managed = [n for n in NVES if nves is None or n.name in nves]
    lines = [
        ("# Generated by bmv2_lab: the lab's controller configuration "
         f"(policy {'acl' if acl else 'base'})."),
        "[controller]",
        "aging_time = 86400.0                 # the lab's hypervisor agents send no keep-alives",
        f'signalling_addr = "{signalling_addr}"',
        f'database = "{database}"',
        'operators = ["admin"]',
        "",
        "[tls]",
        "insecure = true",
        "",
    ]
    if etcd is not None:
        lines += [
            "[store]                              # VM locations shared through etcd",
            'kind = "etcd"',
            f'endpoints = ["{etcd.endpoint}"]',
            f"lease_ttl = {etcd.lease_ttl}",
            f'controller_id = "{etcd.controller_id}"',
            "request_timeout = 2.0",
            "connect_timeout = 10.0",
            "",
        ]
    remote_subnets = [n.subnet for n in NVES] + ([KERNEL_VTEP.subnet] if kernel_vtep else [])
    for spec in managed:
        routes = ", ".join(
            f'{{ prefix = "{subnet}", port = {NETWORK_PORT}, next_hop_mac = "{spec.gateway_mac}" }}'
            for subnet in remote_subnets if subnet != spec.subnet)
        lines += [
            "[[switch]]",
            f'name = "{spec.name}"',
            f'grpc_addr = "{switches[spec.name]}"',
            f"device_id = {DEVICE_ID}",
            f'vtep_ip = "{spec.vtep_ip}"',
            f'router_mac = "{spec.router_mac}"',
            f"access_ports = [{', '.join(str(p) for p in spec.access_ports)}]",
            f"network_ports = [{NETWORK_PORT}]",
            f"route = [{routes}]",
            "",
        ]
    for name, vni in VNS.items():
        lines += ["[[vn]]", f'name = "{name}"', f"vni = {vni}", 'default_action = "permit"']
        if acl and name == "blue":
            rule = ", ".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                             for k, v in ACL_RULE.items())
            lines.append(f"acl = [{{ {rule} }}]")
        lines.append("")
    for hv in (h for h in HYPERVISORS if any(n.name == h.nve for n in managed)):
        lines += ["[[hypervisor]]", f'name = "{hv.name}"', f'switch = "{hv.nve}"',
                  f"ports = [{hv.port}]", f"vns = [{', '.join(repr(v) for v in VNS)}]".replace(
                      "'", '"'), ""]
    if kernel_vtep:
        lines += ["[[static_host]]                       # behind the Linux kernel VTEP",
                  f'vn = "{KERNEL_VTEP.vn}"', f'mac = "{KERNEL_VTEP.host_mac}"',
                  f'vtep_ip = "{KERNEL_VTEP.vtep_ip}"', ""]
    return "\n".join(lines)
