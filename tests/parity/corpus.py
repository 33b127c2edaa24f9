"""A seeded corpus of frames: the kinds the PTF suite sends plus randomised and malformed ones.

Every frame but the truncated ones ends with an 8-byte id trailer (``MAGIC``, its sequence
number, a check word), so that outputs can be matched to inputs by their tail: the NVE only ever
rewrites headers, never the payload behind them. The trailer is part of the frame, so both
targets see the same bytes.

Frames a veth cannot carry are never generated (see ``wire_deliverable``).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

from parity import scenario as S

MAGIC = b"\xa5\x5a"
TRAILER_LEN = 8
MIN_FRAME = 14          # AF_PACKET refuses shorter frames on Ethernet devices
MIN_TAGGED_FRAME = 20   # the kernel drops 802.1Q/802.1ad frames shorter than this on receive
TPIDS = (0x8100, 0x88A8)
UNKNOWN_MAC = "52:54:00:00:99:99"
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"


@dataclass(frozen=True)
class Frame:
    """One input: the ingress port, the bytes, and the generator family (for reports).

    A packet-out enters at the CPU port with ``egress_port`` as its metadata.
    """

    port: int
    data: bytes
    kind: str
    egress_port: int | None = None


def _check_word(seq: int) -> int:
    return (seq * 0x9E37 ^ 0xBEEF) & 0xFFFF


def trailer(seq: int) -> bytes:
    """The id trailer of frame ``seq``."""
    return MAGIC + struct.pack("!IH", seq, _check_word(seq))


def frame_id(data: bytes) -> int | None:
    """The sequence number in ``data``'s trailer, or None when it has no intact trailer."""
    if len(data) < TRAILER_LEN or data[-TRAILER_LEN:-6] != MAGIC:
        return None
    seq, check = struct.unpack("!IH", data[-6:])
    return seq if check == _check_word(seq) else None


def wire_deliverable(data: bytes) -> bool:
    """Whether a veth carries ``data`` unchanged: Linux refuses to send frames shorter than an
    Ethernet header and drops received VLAN-tagged frames too short to hold a tag and a type."""
    if len(data) < MIN_FRAME:
        return False
    return len(data) >= MIN_TAGGED_FRAME or int.from_bytes(data[12:14], "big") not in TPIDS


class Generator:
    """Builds frames from one seeded random source."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    # -- building blocks ----------------------------------------------------------------------
    def payload(self, low: int = 0, high: int = 64) -> bytes:
        """Random bytes."""
        return self.rnd.randbytes(self.rnd.randint(low, high))

    def tag(self, inner: Packet, vid: int) -> Packet:
        """``inner`` with an 802.1Q tag of ``vid`` and a random PCP/DEI (what a VM may send)."""
        eth = inner[Ether]
        tagged: Packet = (Ether(dst=eth.dst, src=eth.src)
                          / Dot1Q(vlan=vid, prio=self.rnd.randrange(8), dei=self.rnd.randrange(2),
                                  type=eth.type)
                          / eth.payload.copy())
        return tagged

    def l3(self, src_ip: str, dst_ip: str) -> Packet:
        """An IPv4 packet (mostly) or an ARP request or reply."""
        if self.rnd.random() < 0.12:
            return ARP(psrc=src_ip, pdst=dst_ip, op=self.rnd.choice([1, 2]))
        return self.ipv4(src_ip, dst_ip)

    def ipv4(self, src_ip: str, dst_ip: str) -> Packet:
        """An IPv4 TCP/UDP/ICMP packet with random ports, TOS, TTL and id."""
        ip_layer = IP(src=src_ip, dst=dst_ip, tos=self.rnd.randrange(256),
                      ttl=self.rnd.randint(1, 255), id=self.rnd.randrange(65536))
        choice = self.rnd.random()
        if choice < 0.45:
            l4: Packet = TCP(sport=self.port_number(), dport=self.port_number(),
                             flags=self.rnd.randrange(256))
        elif choice < 0.9:
            l4 = UDP(sport=self.port_number(), dport=self.port_number())
        else:
            l4 = ICMP(type=self.rnd.choice([0, 8]))
        return ip_layer / l4 / Raw(self.payload())

    def port_number(self) -> int:
        """An L4 port: often one the ACLs care about."""
        special = [S.DENIED_TCP_PORT, S.DENIED_UDP_SOURCE_PORT, 4789, 80, 443, 0, 65535]
        return self.rnd.choice(special) if self.rnd.random() < 0.3 else self.rnd.randrange(65536)

    def vm_frame(self, vm: S.Vm, dst_mac: str, dst_ip: str, src_mac: str | None = None,
                 l3: Packet | None = None) -> bytes:
        """A frame as ``vm`` sends it: tagged with its VID (untagged VAP: untagged or VID 0)."""
        src = src_mac or self.rnd.choice(vm.macs)
        inner = Ether(src=src, dst=dst_mac) / (l3 or self.l3(vm.ip, dst_ip))
        if vm.vid == 0 and self.rnd.random() < 0.7:
            return bytes(inner)
        return bytes(self.tag(inner, vm.vid))

    def vxlan(self, inner: bytes, vni: int, dst_ip: str, *, dport: int = 4789) -> bytes:
        """``inner`` in VXLAN from a remote VTEP, with a DSCP from the map or a random one."""
        dscp = self.rnd.choice([*S.DSCP_TO_PCP, 0, self.rnd.randrange(64)])
        outer = (Ether(src=S.NEXTHOP_MAC, dst=S.ROUTER_MAC)
                 / IP(src=self.rnd.choice([S.REMOTE_VTEP_IP, S.OTHER_VTEP_IP]), dst=dst_ip,
                      tos=dscp << 2 | self.rnd.randrange(4), ttl=self.rnd.randint(1, 255),
                      flags=self.rnd.choice([0, 2]), id=self.rnd.randrange(65536))
                 / UDP(sport=self.rnd.randrange(0xC000, 0x10000), dport=dport,
                       chksum=self.rnd.choice([0, None]))
                 / VXLAN(vni=vni, flags=self.rnd.choice([0x08, 0x08, 0x0C, 0x00]))
                 / Raw(inner))
        return bytes(outer)

    def any_dst(self, vni: int) -> tuple[str, str]:
        """A destination (MAC, IP) in ``vni``: local, remote, unknown, broadcast or multicast."""
        local = [(m, vm.ip) for vm in S.VMS if vm.vni == vni for m in vm.macs]
        remote = [(r.mac, r.ip) for r in S.REMOTE_VMS if r.vni == vni]
        other = [(UNKNOWN_MAC, "192.168.99.99"), (BROADCAST, "255.255.255.255"),
                 (MULTICAST, "224.0.0.251")]
        return self.rnd.choice(self.rnd.choice([local, remote or other, other]))

    # -- families like the PTF suite's ------------------------------------------------------
    def vm_traffic(self) -> Frame:
        """A VM to a local, remote, unknown, broadcast or multicast destination of its VN."""
        vm = self.rnd.choice(S.VMS)
        dst_mac, dst_ip = self.any_dst(vm.vni)
        if self.rnd.random() < 0.15:
            dst_ip = self.rnd.choice([S.RED_DENIED_HOST, "192.168.20.77", "192.168.10.3"])
        data = self.vm_frame(vm, dst_mac, dst_ip)
        if self.rnd.random() < 0.03:   # jumbo: the veths have an MTU of 9000
            data += self.rnd.randbytes(self.rnd.randint(1400, 8800))
        return Frame(vm.port, data, "vm")

    def vm_misfit(self) -> Frame:
        """Spoofed source, unknown VID, inactive VAP, or a VM talking to itself."""
        vm = self.rnd.choice(S.VMS)
        case = self.rnd.randrange(5)
        if case == 0:
            data = self.vm_frame(vm, BROADCAST, "192.168.10.255", src_mac=UNKNOWN_MAC)
        elif case == 1:
            data = self.vm_frame(S.Vm(vm.port, self.rnd.choice([99, 4095, 10, 20, 30]), 0, vm.vni,
                                      vm.macs, vm.ip), UNKNOWN_MAC, "192.168.10.9")
        elif case == 2:
            vm = S.INACTIVE_VAP
            data = self.vm_frame(vm, self.rnd.choice([BROADCAST, S.VMS[0].macs[0]]), "1.2.3.4")
        elif case == 3:   # a second tag (802.1Q or 802.1ad) inside the VM's
            data = self.vm_frame(vm, BROADCAST, "192.168.10.255")
            data = data[:16] + struct.pack("!HH", self.rnd.choice([0x8100, 0x88A8]),
                                           self.rnd.randrange(65536)) + data[16:]
        else:
            data = self.vm_frame(vm, vm.macs[0], vm.ip)
        return Frame(vm.port, data, "vm-misfit")

    def from_overlay(self) -> Frame:
        """VXLAN from the network: good or bad VNI and VTEP, any inner destination."""
        vni = self.rnd.choice([S.VNI_BLUE, S.VNI_RED, S.VNI_GREEN, S.VNI_BLUE, 7777])
        dst_mac, dst_ip = self.any_dst(vni if vni != 7777 else S.VNI_BLUE)
        src = self.rnd.choice(S.REMOTE_VMS)
        inner: Packet = Ether(src=src.mac, dst=dst_mac) / self.l3(src.ip, dst_ip)
        if self.rnd.random() < 0.15:
            inner = self.tag(inner, self.rnd.randrange(4096))
        data = bytes(inner)
        if IP in inner and self.rnd.random() < 0.1:
            data = with_ipv4_options(data, self.rnd.randbytes(4 * self.rnd.randint(1, 10)))
        vtep = self.rnd.choice([S.VTEP_IP] * 4 + [S.REMOTE_VTEP_IP, "10.0.1.2"])
        return Frame(self.rnd.choice(S.NETWORK_PORTS), self.vxlan(data, vni, vtep), "vxlan")

    def network_other(self) -> Frame:
        """Not VXLAN on a network port: other UDP ports, TCP, ARP, outer options or fragments."""
        inner = bytes(Ether(src=S.REMOTE_VMS[0].mac, dst=S.VMS[0].macs[0])
                      / self.l3("192.168.10.101", "192.168.10.1"))
        case = self.rnd.randrange(5)
        if case == 0:
            data = self.vxlan(inner, S.VNI_BLUE, S.VTEP_IP, dport=self.rnd.choice([4790, 8472]))
        elif case == 1:
            data = bytes(Ether(src=S.NEXTHOP_MAC, dst=S.ROUTER_MAC) / self.l3(S.REMOTE_VTEP_IP,
                                                                              S.VTEP_IP))
        elif case == 2:
            data = bytes(Ether(src=S.NEXTHOP_MAC, dst=BROADCAST) / ARP(pdst=S.VTEP_IP))
        elif case == 3:
            packet = Ether(self.vxlan(inner, S.VNI_BLUE, S.VTEP_IP))
            packet[IP].frag = self.rnd.randint(1, 8191)
            packet[IP].chksum = None
            data = bytes(packet)
        else:
            data = with_ipv4_options(self.vxlan(inner, S.VNI_BLUE, S.VTEP_IP),
                                     self.rnd.randbytes(4 * self.rnd.randint(1, 10)))
        return Frame(self.rnd.choice(S.NETWORK_PORTS), data, "network-other")

    def control(self) -> Frame:
        """LLDP or ECP, on any port, sometimes tagged."""
        eth_type = self.rnd.choice([S.ETH_LLDP, S.ETH_ECP])
        dst = self.rnd.choice(["01:80:c2:00:00:0e", "01:80:c2:00:00:00", BROADCAST])
        packet: Packet = Ether(src=self.rnd.choice(S.VMS).macs[0], dst=dst, type=eth_type)
        packet = packet / Raw(self.payload(0, 80))
        if self.rnd.random() < 0.3:
            packet = self.tag(packet, self.rnd.choice([10, 20, 0, 77]))
        return Frame(self.rnd.choice(S.DATA_PORTS), bytes(packet), "punt")

    def ip_options(self) -> Frame:
        """A VM's IPv4 frame with options (IHL 6..15) toward a local or remote VM."""
        vm = self.rnd.choice([vm for vm in S.VMS if vm.vni == S.VNI_BLUE])
        dst_mac, dst_ip = self.any_dst(S.VNI_BLUE)
        data = self.vm_frame(vm, dst_mac, dst_ip, l3=self.ipv4(vm.ip, dst_ip))
        options = self.rnd.randbytes(4 * self.rnd.randint(1, 10))
        return Frame(vm.port, with_ipv4_options(data, options), "ipv4-options")

    def packet_out(self) -> Frame:
        """A frame from the controller to a data port, the CPU port, a port that does not exist
        or the drop port."""
        payload = self.rnd.choice([self.vm_traffic, self.control, self.from_overlay])().data
        egress_port = self.rnd.choice([*S.DATA_PORTS, S.CPU_PORT, 7, 511])
        return Frame(S.CPU_PORT, payload, "packet-out", egress_port)

    # -- randomised families ------------------------------------------------------------------
    def mac_value(self) -> str:
        """A MAC from the scenario or a random one."""
        known = [m for vm in S.VMS for m in vm.macs] + [r.mac for r in S.REMOTE_VMS]
        known += [UNKNOWN_MAC, BROADCAST, MULTICAST, S.ROUTER_MAC]
        if self.rnd.random() < 0.7:
            return self.rnd.choice(known)
        return ":".join(f"{b:02x}" for b in self.rnd.randbytes(6))

    def raw_ipv4(self, src: int, dst: int) -> bytes:
        """An IPv4 header with random version/IHL/flags/fragment/checksum and an L4 header."""
        rnd = self.rnd
        version = 4 if rnd.random() < 0.9 else rnd.choice([0, 6, 15])
        ihl = 5 if rnd.random() < 0.6 else rnd.choice([0, 3, 4, 6, 7, 10, 15])
        options = rnd.randbytes(max(0, ihl - 5) * 4)
        proto = rnd.choice([6, 17, 6, 17, 1, 47, rnd.randrange(256)])
        frag = 0 if rnd.random() < 0.8 else rnd.randrange(8192)
        l4 = struct.pack("!HH", self.port_number(), self.port_number()) + rnd.randbytes(
            rnd.choice([4, 16]))
        total = 20 + len(options) + len(l4)
        header = bytearray(struct.pack("!BBHHHBBHII", version << 4 | ihl, rnd.randrange(256),
                                       total if rnd.random() < 0.8 else rnd.randrange(65536),
                                       rnd.randrange(65536), rnd.randrange(8) << 13 | frag,
                                       rnd.randrange(256), proto, 0, src, dst) + options)
        checksum = _ones_complement(bytes(header))
        if rnd.random() < 0.15:
            checksum ^= 1 << rnd.randrange(16)
        header[10:12] = struct.pack("!H", checksum)
        return bytes(header) + l4

    def random_frame(self) -> Frame:
        """Random VIDs, MACs, IPv4 fields and ports; on network ports sometimes in VXLAN."""
        rnd = self.rnd
        known_ips = [S.ip(vm.ip) for vm in S.VMS] + [S.ip(S.RED_DENIED_HOST)]
        src_ip = rnd.choice(known_ips) if rnd.random() < 0.5 else rnd.getrandbits(32)
        dst_ip = rnd.choice(known_ips) if rnd.random() < 0.5 else rnd.getrandbits(32)
        l3 = self.raw_ipv4(src_ip, dst_ip) if rnd.random() < 0.8 else self.payload(0, 40)
        eth_type = 0x0800 if rnd.random() < 0.8 else rnd.choice([0x0806, 0x86DD, 0x88CC,
                                                                  rnd.randrange(65536)])
        body = struct.pack("!H", eth_type) + l3 + self.payload(0, 32)
        if rnd.random() < 0.6:
            vid = rnd.choice([0, 10, 11, 20, 21, 30, 40, 41]) if rnd.random() < 0.7 \
                else rnd.randrange(4096)
            body = struct.pack("!HH", 0x8100, rnd.randrange(8) << 13 | rnd.randrange(2) << 12
                               | vid) + body
        frame = S.mac(self.mac_value()).to_bytes(6, "big") + S.mac(self.mac_value()).to_bytes(
            6, "big") + body
        port = rnd.choice(S.DATA_PORTS)
        if port in S.NETWORK_PORTS and rnd.random() < 0.7:
            vni = rnd.choice([S.VNI_BLUE, S.VNI_RED, S.VNI_GREEN, rnd.randrange(1 << 24)])
            frame = self.vxlan(frame, vni, rnd.choice([S.VTEP_IP, S.VTEP_IP, "10.0.1.9"]))
        return Frame(port, frame, "random")

    def garbage(self) -> Frame:
        """Random bytes behind an Ethernet header with any ethertype."""
        eth_type = self.rnd.choice([0x0800, 0x8100, 0x88A8, 0x0806, self.rnd.randrange(65536)])
        data = (S.mac(self.mac_value()).to_bytes(6, "big") + self.rnd.randbytes(6)
                + struct.pack("!H", eth_type) + self.payload(6, 100))
        return Frame(self.rnd.choice(S.DATA_PORTS), data, "garbage")


def with_ipv4_options(frame: bytes, options: bytes) -> bytes:
    """``frame`` (Ethernet, an optional 802.1Q tag, IPv4) with ``options`` appended to its IPv4
    header; IHL, total length and checksum follow."""
    offset = 18 if frame[12:14] == b"\x81\x00" else 14
    header = bytearray(frame[offset:offset + 20] + options)
    header[0] = 0x40 | len(header) // 4
    header[2:4] = struct.pack("!H", int.from_bytes(header[2:4], "big") + len(options))
    header[10:12] = b"\x00\x00"
    header[10:12] = struct.pack("!H", _ones_complement(bytes(header)))
    return frame[:offset] + bytes(header) + frame[offset + 20:]


def _ones_complement(data: bytes) -> int:
    """The IPv4 header checksum of ``data`` (checksum field zero)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


FAMILIES: tuple[tuple[str, float], ...] = (
    ("vm_traffic", 0.30), ("vm_misfit", 0.07), ("from_overlay", 0.20), ("network_other", 0.04),
    ("control", 0.04), ("ip_options", 0.05), ("random_frame", 0.20), ("garbage", 0.08),
    ("packet_out", 0.02),
)
TRUNCATED_SHARE = 0.06


def truncate(rnd: random.Random, data: bytes) -> bytes:
    """``data`` cut at a random length a veth still carries (at least ``MIN_FRAME`` bytes)."""
    cut = data[:rnd.randint(MIN_FRAME, max(MIN_FRAME, len(data) - 1))]
    if not wire_deliverable(cut):
        cut = data[:MIN_TAGGED_FRAME]
    return cut


def build_corpus(seed: int, count: int) -> list[Frame]:
    """``count`` frames, reproducible from ``seed``; frame i carries id i unless truncated."""
    gen = Generator(seed)
    names = [name for name, _ in FAMILIES]
    weights = [weight for _, weight in FAMILIES]
    makers: dict[str, Callable[[], Frame]] = {name: getattr(gen, name) for name in names}
    corpus: list[Frame] = []
    for seq in range(count):
        frame = makers[gen.rnd.choices(names, weights)[0]]()
        data = frame.data + trailer(seq)
        kind = frame.kind
        if gen.rnd.random() < TRUNCATED_SHARE:
            data, kind = truncate(gen.rnd, data), f"{kind}/truncated"
        corpus.append(Frame(frame.port, data, kind, frame.egress_port))
    return corpus
