"""A configuration and traffic mix for the team's NVE program (p4src/build/nve.json), expressed
both as simple_switch_CLI commands and as engine API calls, for the differential check."""

from __future__ import annotations

import random
import struct

MAC_A1 = 0x00000000AA01  # VM behind access port 1, VLAN 10 (VAP 5)
MAC_A3 = 0x00000000AA03  # VM behind access port 3, untagged (VAP 6)
MAC_R = 0x00000000BB01  # VM behind remote VTEP 10.0.0.2
NH_SRC, NH_DST = 0x00000000CC01, 0x00000000CC02
VNI = 1000
LOCAL_VTEP, REMOTE_VTEP = 0x0A000001, 0x0A000002


def _mac(v: int) -> str:
    return ":".join(f"{b:02x}" for b in v.to_bytes(6, "big"))


def _ip(v: int) -> str:
    return ".".join(str(b) for b in v.to_bytes(4, "big"))


W = " ".join(["0&&&0"] * 8)
CLI = [
    "table_add NveIngress.port_role.port_role NveIngress.port_role.access_port 1 =>",
    "table_add NveIngress.port_role.port_role NveIngress.port_role.network_port 2 =>",
    "table_add NveIngress.port_role.port_role NveIngress.port_role.access_port 3 =>",
    "table_add NveIngress.port_role.port_role NveIngress.port_role.access_port 4 =>",
    "table_add NveIngress.vap.port_vlan_to_vni NveIngress.vap.set_vap 1 10 => 5 1000 3",
    "table_add NveIngress.vap.port_vlan_to_vni NveIngress.vap.set_vap 3 0 => 6 1000 0",
    "table_add NveIngress.vap.port_vlan_to_vni NveIngress.vap.set_vap_inactive 4 0 => 7",
    f"table_add NveIngress.vap.vap_src_mac NveIngress.vap.allow_source 5 {_mac(MAC_A1)} =>",
    f"table_add NveIngress.vap.vap_src_mac NveIngress.vap.allow_source 6 {_mac(MAC_A3)} =>",
    "table_add NveIngress.vn.vn NveIngress.vn.set_flood_group 1000 => 1",
    f"table_add NveIngress.acl.acl NveIngress.acl.permit {W} => 10",
    "table_add NveIngress.acl.acl NveIngress.acl.deny 0&&&0 0&&&0 0x0800&&&0xffff 0&&&0 0&&&0 17&&&0xff 0&&&0 "
    "53&&&0xffff => 1",
    f"table_add NveIngress.fdb.fdb NveIngress.fdb.forward_local 1000 {_mac(MAC_A3)} => 3 0 6",
    f"table_add NveIngress.fdb.fdb NveIngress.fdb.forward_local 1000 {_mac(MAC_A1)} => 1 10 5",
    f"table_add NveIngress.fdb.fdb NveIngress.fdb.forward_remote 1000 {_mac(MAC_R)} => {_ip(REMOTE_VTEP)}",
    f"table_add NveIngress.fdb.underlay_route NveIngress.fdb.set_nexthop 10.0.0.0/8 => 2 {_ip(LOCAL_VTEP)} "
    f"{_mac(NH_SRC)} {_mac(NH_DST)}",
    f"table_add NveIngress.tunnel_decap.local_vtep NveIngress.tunnel_decap.accept_vxlan {_ip(LOCAL_VTEP)} =>",
    "table_add NveIngress.tunnel_decap.dscp_to_pcp NveIngress.tunnel_decap.set_pcp 10 => 5",
    "table_add NveIngress.punt.punt NveIngress.punt.punt_to_cpu 0x0806 =>",
    "table_add NveEgress.replica.flood_replica NveEgress.replica.replica_to_vap 1 => 10 5",
    "table_add NveEgress.replica.flood_replica NveEgress.replica.replica_to_vap 3 => 0 6",
    f"table_add NveEgress.replica.flood_replica NveEgress.replica.replica_to_vtep 2 => {_ip(REMOTE_VTEP)} "
    f"{_ip(LOCAL_VTEP)} {_mac(NH_SRC)} {_mac(NH_DST)}",
    "table_add NveEgress.pcp_marking.pcp_to_dscp NveEgress.pcp_marking.set_dscp 3 => 10",
    "mc_mgrp_create 1",
    "mc_node_create 1 1",
    "mc_node_create 2 2",
    "mc_node_create 3 3",
    "mc_node_associate 1 0",
    "mc_node_associate 1 1",
    "mc_node_associate 1 2",
]
GROUPS = {1: [(1, 1), (2, 2), (3, 3)]}


def setup(sw) -> None:
    """The same configuration through the engine API."""
    from softswitch.engine import Exact, Lpm, TableEntry, Ternary

    def add(table, match, action, args=(), prio=0):
        sw.table(table).insert(TableEntry(tuple(match), prio, action, tuple(args)))

    for port in (1, 3, 4):
        add("NveIngress.port_role.port_role", [Exact(port)], "NveIngress.port_role.access_port")
    add("NveIngress.port_role.port_role", [Exact(2)], "NveIngress.port_role.network_port")
    add("NveIngress.vap.port_vlan_to_vni", [Exact(1), Exact(10)], "NveIngress.vap.set_vap", (5, VNI, 3))
    add("NveIngress.vap.port_vlan_to_vni", [Exact(3), Exact(0)], "NveIngress.vap.set_vap", (6, VNI, 0))
    add("NveIngress.vap.port_vlan_to_vni", [Exact(4), Exact(0)], "NveIngress.vap.set_vap_inactive", (7,))
    add("NveIngress.vap.vap_src_mac", [Exact(5), Exact(MAC_A1)], "NveIngress.vap.allow_source")
    add("NveIngress.vap.vap_src_mac", [Exact(6), Exact(MAC_A3)], "NveIngress.vap.allow_source")
    add("NveIngress.vn.vn", [Exact(VNI)], "NveIngress.vn.set_flood_group", (1,))
    # bmv2 CLI priorities: lower wins; contract: higher wins
    add("NveIngress.acl.acl", [Ternary(0, 0)] * 8, "NveIngress.acl.permit", prio=1000 - 10)
    add("NveIngress.acl.acl", [Ternary(0, 0), Ternary(0, 0), Ternary(0x0800, 0xFFFF), Ternary(0, 0), Ternary(0, 0),
                               Ternary(17, 0xFF), Ternary(0, 0), Ternary(53, 0xFFFF)], "NveIngress.acl.deny",
        prio=1000 - 1)
    add("NveIngress.fdb.fdb", [Exact(VNI), Exact(MAC_A3)], "NveIngress.fdb.forward_local", (3, 0, 6))
    add("NveIngress.fdb.fdb", [Exact(VNI), Exact(MAC_A1)], "NveIngress.fdb.forward_local", (1, 10, 5))
    add("NveIngress.fdb.fdb", [Exact(VNI), Exact(MAC_R)], "NveIngress.fdb.forward_remote", (REMOTE_VTEP,))
    add("NveIngress.fdb.underlay_route", [Lpm(0x0A000000, 8)], "NveIngress.fdb.set_nexthop",
        (2, LOCAL_VTEP, NH_SRC, NH_DST))
    add("NveIngress.tunnel_decap.local_vtep", [Exact(LOCAL_VTEP)], "NveIngress.tunnel_decap.accept_vxlan")
    add("NveIngress.tunnel_decap.dscp_to_pcp", [Exact(10)], "NveIngress.tunnel_decap.set_pcp", (5,))
    add("NveIngress.punt.punt", [Exact(0x0806)], "NveIngress.punt.punt_to_cpu")
    add("NveEgress.replica.flood_replica", [Exact(1)], "NveEgress.replica.replica_to_vap", (10, 5))
    add("NveEgress.replica.flood_replica", [Exact(3)], "NveEgress.replica.replica_to_vap", (0, 6))
    add("NveEgress.replica.flood_replica", [Exact(2)], "NveEgress.replica.replica_to_vtep",
        (REMOTE_VTEP, LOCAL_VTEP, NH_SRC, NH_DST))
    add("NveEgress.pcp_marking.pcp_to_dscp", [Exact(3)], "NveEgress.pcp_marking.set_dscp", (10,))


def _csum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b + b"\x00" * (len(b) % 2)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ipv4(r: random.Random, src: int, dst: int, proto: int, payload: bytes, ihl: int = 5, dscp: int = 0,
           bad: bool = False) -> bytes:
    opts = bytes(r.randrange(256) for _ in range((ihl - 5) * 4))
    h = bytearray(struct.pack("!BBHHHBBHII", 0x40 | ihl, dscp << 2, 20 + len(opts) + len(payload),
                              r.randrange(65536), 0x4000 if r.random() < 0.9 else 0x2001, r.choice([1, 64]),
                              proto, 0, src, dst) + opts)
    c = _csum(bytes(h)) ^ (1 if bad else 0)
    h[10:12] = struct.pack("!H", c)
    return bytes(h) + payload


def _tenant(r: random.Random, src_mac: int, vlan: int | None) -> bytes:
    dst = r.choice([MAC_A1, MAC_A3, MAC_R, 0xFFFFFFFFFFFF, 0x00000000DD01])
    kind = r.random()
    if kind < 0.7:
        proto = r.choice([6, 17])
        l4 = struct.pack("!HH", r.randrange(1024, 65536), r.choice([53, 80, 443])) + bytes(r.randrange(0, 20))
        body = _ipv4(r, 0xC0A80000 | r.randrange(256), 0xC0A80000 | r.randrange(256), proto, l4,
                     ihl=r.choice([5, 5, 5, 6, 8]), bad=r.random() < 0.05)
        et = 0x0800
    elif kind < 0.85:
        et, body = 0x0806, bytes(28)
    else:
        et, body = r.choice([0x86DD, 0x88CC, 0x1234]), bytes(r.randrange(0, 30))
    eth = dst.to_bytes(6, "big") + src_mac.to_bytes(6, "big")
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, (r.randrange(8) << 13) | vlan)
    return eth + et.to_bytes(2, "big") + body


def gen_packets(n: int, seed: int = 1) -> list[tuple[int, bytes]]:
    """Access, network (VXLAN), CPU (packet_out) and junk frames."""
    r = random.Random(seed)
    out: list[tuple[int, bytes]] = []
    for _ in range(n):
        k = r.random()
        if k < 0.35:
            f = _tenant(r, r.choice([MAC_A1, MAC_A1, MAC_A1, 0x00000000EE01]), r.choice([10, 10, 11]))
            port = 1
        elif k < 0.55:
            f = _tenant(r, r.choice([MAC_A3, MAC_A3, 0x00000000EE03]), None)
            port = r.choice([3, 3, 4])
        elif k < 0.85:
            inner = _tenant(r, MAC_R, None)
            vni = VNI if r.random() < 0.85 else 999
            vx = struct.pack("!BBHI", 0x08, 0, 0, vni << 8)
            udp = struct.pack("!HHHH", r.randrange(49152, 65536), r.choice([4789, 4789, 53]), 8 + len(vx) + len(inner), 0)
            ip = _ipv4(r, REMOTE_VTEP, r.choice([LOCAL_VTEP, LOCAL_VTEP, 0x0A000009]), 17, udp + vx + inner,
                       dscp=r.choice([0, 10]), bad=r.random() < 0.05)
            f = NH_SRC.to_bytes(6, "big") + NH_DST.to_bytes(6, "big") + b"\x08\x00" + ip
            port = 2
        elif k < 0.93:
            out_port = r.choice([1, 2, 3])
            f = struct.pack("!H", out_port << 7) + _tenant(r, MAC_A1, None)
            port = 255
        else:
            f = bytes(r.randrange(256) for _ in range(r.randrange(0, 60)))
            port = r.choice([1, 2, 3])
        if r.random() < 0.05:
            f = f[: r.randrange(len(f) + 1)]
        out.append((port, f))
    return out
