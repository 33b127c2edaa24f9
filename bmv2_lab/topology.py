"""The namespace topology (root): which namespaces, which veth pairs, addresses and the kernel
VTEP. Every namespace is recorded in the state file before it is created; every link is created
inside lab namespaces (`ip -n NS link add ... peer ... netns OTHER`), so nothing ever appears in
the host's own namespace and deleting the namespaces removes every link.

Interfaces:  nveN: acc1 acc2 (to hypervisors), net (to the router)   hvN: uplink (to its NVE port),
v-VM (a VM's vNIC; bmv2_lab.vswitch tags between the two)   vm-X: eth0 (bridge) with
port vnic-HV per hypervisor   khost: eth0   router: nve1 nve2
kvtep   kvtep: eth0, vx5001 + br0 + host (the host behind the kernel VTEP).
"""

from __future__ import annotations

from collections.abc import Callable

from bmv2_lab import netns, spec
from bmv2_lab.state import LabState

UNDERLAY_MTU = "9000"     # room for VXLAN's 50 bytes around a 1500-byte tenant frame
ACCESS_MTU = "9000"
VXLAN_DEV = f"vx{spec.VNS[spec.KERNEL_VTEP.vn]}"

Progress = Callable[[str], None]


def roles() -> list[str]:
    """Every namespace role of the lab, in creation order."""
    return (["router", "kvtep", "khost"] + [n.name for n in spec.NVES]
            + [h.name for h in spec.HYPERVISORS] + [f"vm-{v.name}" for v in spec.VMS])


def ns_name(lab: str, role: str) -> str:
    """The namespace of `role` in lab `lab` (e.g. nvelab-hv1)."""
    return f"{lab}-{role}"


def all_names(lab: str) -> list[str]:
    """Every namespace lab `lab` can have: what `down` removes even without a state file."""
    return [ns_name(lab, role) for role in roles()]


def nve_interfaces() -> dict[int, str]:
    """Switch port -> interface inside an NVE's namespace."""
    ports = {p: f"acc{p}" for p in spec.NVES[0].access_ports}
    ports[spec.NETWORK_PORT] = "net"
    return ports


def build(state: LabState, progress: Progress) -> None:
    """Create the namespaces and links of the lab described by `state` (name, mode netns)."""
    lab = state.name
    names = [ns_name(lab, r) for r in roles()]
    for ns in names:
        if netns.exists(ns):
            raise netns.NetnsError(f"namespace {ns} already exists: `python -m bmv2_lab down` "
                                   "first (it only removes this lab's namespaces)")
    progress(f"creating {len(names)} network namespaces ({lab}-*)")
    for ns in names:
        state.namespaces.append(ns)
        state.save()                          # written ahead: down finds it after any crash
        netns.add(ns)
    _underlay(lab, progress)
    _access(lab, progress)
    _kernel_vtep(lab, progress)


def _underlay(lab: str, progress: Progress) -> None:
    progress("underlay: router between "
             + ", ".join([n.subnet for n in spec.NVES] + [spec.KERNEL_VTEP.subnet]))
    router = ns_name(lab, "router")
    with netns.enter(router):
        netns.write_sysctl("net/ipv4/ip_forward", "1")
    for n in spec.NVES:
        nve_ns = ns_name(lab, n.name)
        netns.ip(nve_ns, "link", "add", "net", "mtu", UNDERLAY_MTU, "address", n.router_mac,
                 "type", "veth", "peer", "name", n.name, "mtu", UNDERLAY_MTU,
                 "address", n.gateway_mac, "netns", router)
        netns.ip(nve_ns, "link", "set", "net", "up")
        prefixlen = n.subnet.split("/")[1]
        netns.ip_batch(router, [
            f"address add {n.gateway_ip}/{prefixlen} dev {n.name}",
            f"link set {n.name} up",
            # The NVE answers no ARP for its VTEP address: the router knows its MAC statically.
            f"neigh replace {n.vtep_ip} lladdr {n.router_mac} dev {n.name} nud permanent",
        ])


def _access(lab: str, progress: Progress) -> None:
    progress("access: 2 hypervisors per NVE, one VM namespace each")
    for hv in spec.HYPERVISORS:
        hv_ns = ns_name(lab, hv.name)
        netns.ip(ns_name(lab, hv.nve), "link", "add", f"acc{hv.port}", "mtu", ACCESS_MTU,
                 "type", "veth", "peer", "name", "uplink", "mtu", ACCESS_MTU, "netns", hv_ns)
        netns.ip(ns_name(lab, hv.nve), "link", "set", f"acc{hv.port}", "up")
        netns.ip(hv_ns, "link", "set", "uplink", "up")
    for vm in spec.VMS:
        vm_ns = ns_name(lab, f"vm-{vm.name}")
        # The VM's NIC: eth0, a bridge with no MAC learning (every frame goes to each vNIC
        # port; only the hypervisor running the VM forwards it) and one vNIC port per
        # hypervisor the VM is plugged into.
        netns.ip_batch(vm_ns, [
            f"link add eth0 address {vm.mac} type bridge ageing_time 0",
            f"address add {vm.ip}/{spec.TENANT_PREFIXLEN} dev eth0",
            "link set eth0 up",
        ])
        with netns.enter(vm_ns):
            netns.disable_offloads("eth0")
        plug_vnic(lab, vm.name, vm.hv)


def _kernel_vtep(lab: str, progress: Progress) -> None:
    kv = spec.KERNEL_VTEP
    progress(f"kernel VTEP {kv.vtep_ip}: Linux VXLAN device {VXLAN_DEV} (VNI "
             f"{spec.VNS[kv.vn]}), host {kv.host_ip} behind it")
    router, kvtep, khost = (ns_name(lab, r) for r in ("router", "kvtep", "khost"))
    prefixlen = kv.subnet.split("/")[1]
    netns.ip(router, "link", "add", "kvtep", "mtu", UNDERLAY_MTU,
             "address", spec.KERNEL_VTEP_GATEWAY_MAC, "type", "veth",
             "peer", "name", "eth0", "mtu", UNDERLAY_MTU, "netns", kvtep)
    netns.ip_batch(router, [f"address add {kv.gateway_ip}/{prefixlen} dev kvtep",
                            "link set kvtep up"])
    vni = spec.VNS[kv.vn]
    netns.ip_batch(kvtep, [
        f"address add {kv.vtep_ip}/{prefixlen} dev eth0",
        "link set eth0 up",
        f"route add default via {kv.gateway_ip}",
        (f"link add {VXLAN_DEV} mtu 1500 type vxlan id {vni} local {kv.vtep_ip} "
         f"dstport {spec.VXLAN_PORT} dev eth0"),
        "link add br0 type bridge",
        f"link set {VXLAN_DEV} master br0 up",
        "link set br0 up",
    ])
    # Head-end replication of BUM frames to both NVEs; unicast MACs are learned from the
    # VXLAN frames the NVEs send (the kernel's default learning).
    for n in spec.NVES:
        netns.run(["bridge", "-n", kvtep, "fdb", "append", "00:00:00:00:00:00",
                   "dev", VXLAN_DEV, "dst", n.vtep_ip])
    netns.ip(kvtep, "link", "add", "host", "type", "veth", "peer", "name", "eth0",
             "address", kv.host_mac, "netns", khost)
    netns.ip(kvtep, "link", "set", "host", "master", "br0", "up")
    netns.ip_batch(khost, [f"address add {kv.host_ip}/{spec.TENANT_PREFIXLEN} dev eth0",
                           "link set eth0 up"])
    with netns.enter(khost):
        netns.disable_offloads("eth0")


def plug_vnic(lab: str, vm: str, hv: str) -> None:
    """Plug a vNIC of VM `vm` into hypervisor `hv`: a veth from `v-VM` in the hypervisor's
    namespace to port `vnic-HV` of the VM's eth0. Idempotent. The hypervisor's virtual switch
    forwards through it only once told the VM runs there."""
    vm_ns, hv_ns = ns_name(lab, f"vm-{vm}"), ns_name(lab, hv)
    if f" v-{vm}@" in netns.ip(hv_ns, "-o", "link", "show").stdout:
        return
    netns.ip(hv_ns, "link", "add", f"v-{vm}", "type", "veth", "peer", "name", f"vnic-{hv}",
             "netns", vm_ns)
    with netns.enter(vm_ns):
        netns.disable_offloads(f"vnic-{hv}")
    netns.ip_batch(vm_ns, [f"link set vnic-{hv} master eth0 up",
                           f"link set vnic-{hv} type bridge_slave learning off"])
    netns.ip(hv_ns, "link", "set", f"v-{vm}", "up")


def unplug_vnic(lab: str, vm: str, hv: str) -> None:
    """Remove VM `vm`'s vNIC from hypervisor `hv` (both ends of the veth go)."""
    netns.ip(ns_name(lab, hv), "link", "del", f"v-{vm}", check=False)
