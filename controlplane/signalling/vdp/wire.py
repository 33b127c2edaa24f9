"""Wire formats of the EVB bridge side: Ethernet, LLDPDUs with the EVB TLV, ECPDUs, VDP TLVs.

IEEE 802.1Qbg-2012 (the ratified standard, "vdp22" in lldpad), as summarised in the appendix of
draft-gu-nvo3-tes-nve-mechanism-01:

* LLDP (ethertype 0x88CC, to the nearest-customer-bridge address) carries the EVB TLV:
  organisationally specific TLV, OUI 00-80-C2, subtype 0x0D, five octets of bridge status, station
  status, R/RTE, EVB mode/ROL/RWD and ROL/RKA.
* ECP (ethertype 0x8940): 4-bit version (1), 2-bit operation (REQ 0, ACK 1), 10-bit subtype
  (1 = VDP) and a 16-bit sequence number, then the upper-layer payload.
* VDP payload: TLVs with a 7-bit type and a 9-bit length. The VSI Manager ID TLV (type 5, 16
  octets) comes first and once; then VSI TLVs (types 1-4: pre-associate, pre-associate with
  resource reservation, associate, de-associate): status (1), VSI type id (3), type version (1),
  VSI ID format (1), VSI ID (16), filter info format (1), entry count (2), entries. An End TLV
  (type 0, length 0) or the end of the data closes the list.

Pure functions on bytes. Decoding is strict: anything malformed raises VdpCodecError with a text
that says what and where, except a VSI TLV whose framing is sound but whose content is not: that
decodes to BadVsiTlv, so the bridge can answer it "invalid format" as VDP allows. Encoding a
decoded value gives the same bytes back (End TLV and Ethernet padding aside).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from controlplane.signalling.messages import SignallingError

ETHERTYPE_LLDP = 0x88CC
ETHERTYPE_ECP = 0x8940
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})
NEAREST_CUSTOMER_BRIDGE = bytes.fromhex("0180c2000000")
ETH_HEADER_LEN = 14
ETH_MIN_LEN = 60                 # without FCS; shorter frames are padded with zeros

OUI_IEEE_8021 = bytes.fromhex("0080c2")
EVB_SUBTYPE = 0x0D

ECP_VERSION = 1
ECP_SUBTYPE_VDP = 1
ECP_HEADER_LEN = 4

MANAGER_ID_LEN = 16
VSI_ID_LEN = 16
VSI_FIXED_LEN = 25               # status .. entry count
MAX_TLV_LEN = 0x1FF              # 9-bit length field


class VdpCodecError(SignallingError):
    """A frame that cannot be decoded; the text names the field and the problem."""


# -- Ethernet ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EthernetFrame:
    """An untagged Ethernet II frame."""

    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes

    def encode(self) -> bytes:
        """The frame's bytes, padded with zeros to the Ethernet minimum of 60."""
        frame = self.dst + self.src + self.ethertype.to_bytes(2, "big") + self.payload
        return frame.ljust(ETH_MIN_LEN, b"\0")


def decode_ethernet(frame: bytes) -> EthernetFrame:
    """Split an Ethernet II frame; a VLAN-tagged or truncated frame is an error."""
    if len(frame) < ETH_HEADER_LEN:
        raise VdpCodecError(f"Ethernet frame of {len(frame)} bytes is shorter than its header")
    ethertype = int.from_bytes(frame[12:14], "big")
    if ethertype in VLAN_ETHERTYPES:
        raise VdpCodecError(f"tagged control frame (TPID {ethertype:#06x}): EVB S-channels are "
                            "not supported; LLDP and ECP must be untagged")
    return EthernetFrame(frame[0:6], frame[6:12], ethertype, frame[14:])


def mac_text(mac: bytes) -> str:
    """6 bytes -> '52:54:00:12:34:56'."""
    return ":".join(f"{b:02x}" for b in mac)


# -- LLDP -------------------------------------------------------------------------------------


class LldpTlvType(enum.IntEnum):
    """LLDP TLV types (IEEE 802.1AB) the bridge reads or writes."""

    END = 0
    CHASSIS_ID = 1
    PORT_ID = 2
    TTL = 3
    PORT_DESCRIPTION = 4
    SYSTEM_NAME = 5
    ORG_SPECIFIC = 127


class ChassisIdSubtype(enum.IntEnum):
    """Chassis ID subtypes used here."""

    MAC_ADDRESS = 4
    LOCAL = 7


class PortIdSubtype(enum.IntEnum):
    """Port ID subtypes used here."""

    MAC_ADDRESS = 3
    INTERFACE_NAME = 5
    LOCAL = 7


@dataclass(frozen=True, slots=True)
class LldpTlv:
    """One optional LLDP TLV, kept as type and value."""

    type: int
    value: bytes

    def encode(self) -> bytes:
        """Header (7-bit type, 9-bit length) and value."""
        return _tlv_header(self.type, len(self.value)) + self.value


@dataclass(frozen=True, slots=True)
class Lldpdu:
    """An LLDPDU: the three mandatory TLVs and the optional ones in order."""

    chassis_subtype: int
    chassis_id: bytes
    port_subtype: int
    port_id: bytes
    ttl: int
    tlvs: tuple[LldpTlv, ...] = ()

    def encode(self) -> bytes:
        """The LLDPDU's bytes, End TLV included."""
        parts = [
            LldpTlv(LldpTlvType.CHASSIS_ID, bytes([self.chassis_subtype]) + self.chassis_id),
            LldpTlv(LldpTlvType.PORT_ID, bytes([self.port_subtype]) + self.port_id),
            LldpTlv(LldpTlvType.TTL, self.ttl.to_bytes(2, "big")),
            *self.tlvs,
        ]
        return b"".join(t.encode() for t in parts) + _tlv_header(LldpTlvType.END, 0)

    def evb(self) -> EvbTlv | None:
        """The EVB TLV (IEEE 802.1Qbg-2012), if the LLDPDU carries one."""
        for tlv in self.tlvs:
            if tlv.type == LldpTlvType.ORG_SPECIFIC and tlv.value[:4] == EVB_PREFIX:
                return EvbTlv.from_info(tlv.value)
        return None

    @property
    def msap(self) -> tuple[int, bytes, int, bytes]:
        """The MSAP identifier: who sent this LLDPDU."""
        return (self.chassis_subtype, self.chassis_id, self.port_subtype, self.port_id)


def decode_lldpdu(data: bytes) -> Lldpdu:
    """An LLDPDU from the payload of an 0x88CC frame (IEEE 802.1AB rules, strictly)."""
    tlvs = list(_split_tlvs(data, "LLDP"))
    if len(tlvs) < 3:
        raise VdpCodecError(f"LLDPDU has {len(tlvs)} TLVs; Chassis ID, Port ID and TTL are "
                            "mandatory")
    (t1, chassis), (t2, port), (t3, ttl) = tlvs[:3]
    if (t1, t2, t3) != (LldpTlvType.CHASSIS_ID, LldpTlvType.PORT_ID, LldpTlvType.TTL):
        raise VdpCodecError(f"LLDPDU starts with TLV types {t1}, {t2}, {t3}; expected 1, 2, 3 "
                            "(Chassis ID, Port ID, TTL)")
    for name, value in (("Chassis ID", chassis), ("Port ID", port)):
        if not 2 <= len(value) <= 256:
            raise VdpCodecError(f"LLDP {name} TLV has length {len(value)}; expected 2..256")
    if len(ttl) != 2:
        raise VdpCodecError(f"LLDP TTL TLV has length {len(ttl)}; expected 2")
    optional = []
    for kind, value in tlvs[3:]:
        if kind in (LldpTlvType.CHASSIS_ID, LldpTlvType.PORT_ID, LldpTlvType.TTL):
            raise VdpCodecError(f"LLDPDU repeats mandatory TLV type {kind}")
        if kind == LldpTlvType.ORG_SPECIFIC and len(value) < 4:
            raise VdpCodecError(f"LLDP organisationally specific TLV has length {len(value)}; "
                                "it needs at least an OUI and a subtype (4)")
        optional.append(LldpTlv(kind, value))
    pdu = Lldpdu(chassis[0], chassis[1:], port[0], port[1:], int.from_bytes(ttl, "big"),
                 tuple(optional))
    pdu.evb()  # a malformed EVB TLV makes the whole LLDPDU invalid
    return pdu


# -- the EVB TLV ------------------------------------------------------------------------------

EVB_PREFIX = OUI_IEEE_8021 + bytes([EVB_SUBTYPE])
EVB_INFO_LEN = 9


class EvbMode(enum.IntEnum):
    """Who sends the EVB TLV."""

    NOT_SUPPORTED = 0
    BRIDGE = 1
    STATION = 2
    RESERVED = 3


class BridgeStatus(enum.IntFlag):
    """Bits of the EVB TLV's bridge status octet."""

    RRCTR = 0x1      # reflective relay control (on)
    RRCAP = 0x2      # reflective relay capable
    BGID = 0x4       # group ids supported


class StationStatus(enum.IntFlag):
    """Bits of the EVB TLV's station status octet (low two bits: reflective relay status)."""

    RRSTAT_MASK = 0x3
    RRREQ = 0x4      # station requests reflective relay
    SGID = 0x8       # group ids supported


@dataclass(frozen=True, slots=True)
class EvbTlv:
    """The EVB TLV's fields. Exponents e give times of 10 us * 2**e (IEEE 802.1Qbg 6.6.2)."""

    mode: int
    bridge_status: int = 0
    station_status: int = 0
    retries: int = 3            # R: ECP retransmissions (0..7)
    rte: int = 8                # ECP retransmission timer exponent (0..31)
    rwd: int = 20               # VDP resource wait delay exponent (0..31)
    rwd_remote: bool = False    # ROL bit next to RWD: the value is the peer's
    rka: int = 20               # VDP reinit keep-alive exponent (0..31)
    rka_remote: bool = False    # ROL bit next to RKA

    def info(self) -> bytes:
        """The TLV's information string (OUI, subtype and five octets)."""
        return EVB_PREFIX + bytes([
            self.bridge_status & 0x07,
            self.station_status & 0x0F,
            (self.retries & 0x7) << 5 | (self.rte & 0x1F),
            (self.mode & 0x3) << 6 | int(self.rwd_remote) << 5 | (self.rwd & 0x1F),
            int(self.rka_remote) << 5 | (self.rka & 0x1F),
        ])

    def tlv(self) -> LldpTlv:
        """As an LLDP organisationally specific TLV."""
        return LldpTlv(LldpTlvType.ORG_SPECIFIC, self.info())

    @classmethod
    def from_info(cls, info: bytes) -> EvbTlv:
        """Decode the information string; reserved bits are ignored as IEEE 802.1Qbg asks."""
        if len(info) != EVB_INFO_LEN or info[:4] != EVB_PREFIX:
            raise VdpCodecError(f"EVB TLV has {len(info)} octets (with OUI and subtype); "
                                f"expected {EVB_INFO_LEN}")
        bridge, station, r_rte, mode_rwd, rka = info[4:]
        return cls(mode=mode_rwd >> 6, bridge_status=bridge & 0x07,
                   station_status=station & 0x0F, retries=r_rte >> 5, rte=r_rte & 0x1F,
                   rwd=mode_rwd & 0x1F, rwd_remote=bool(mode_rwd & 0x20), rka=rka & 0x1F,
                   rka_remote=bool(rka & 0x20))


def exponent_seconds(exponent: int) -> float:
    """10 us * 2**exponent, the unit of every EVB timer."""
    return (1 << exponent) * 10e-6


# -- ECP --------------------------------------------------------------------------------------


class EcpOp(enum.IntEnum):
    """ECPDU operation."""

    REQUEST = 0
    ACK = 1


@dataclass(frozen=True, slots=True)
class Ecpdu:
    """One ECP data unit: header fields and the upper-layer payload."""

    op: EcpOp
    seqno: int
    payload: bytes = b""
    subtype: int = ECP_SUBTYPE_VDP
    version: int = ECP_VERSION

    def encode(self) -> bytes:
        """The ECPDU's bytes (the Ethernet payload)."""
        word = (self.version & 0xF) << 12 | (self.op & 0x3) << 10 | (self.subtype & 0x3FF)
        return word.to_bytes(2, "big") + (self.seqno & 0xFFFF).to_bytes(2, "big") + self.payload

    def ack(self) -> Ecpdu:
        """The acknowledgement of this request: same version and subtype, same seqno."""
        return Ecpdu(EcpOp.ACK, self.seqno, b"", self.subtype, self.version)


def decode_ecpdu(data: bytes) -> Ecpdu:
    """An ECPDU from the payload of an 0x8940 frame."""
    if len(data) < ECP_HEADER_LEN:
        raise VdpCodecError(f"ECPDU of {len(data)} bytes is shorter than the ECP header (4)")
    word = int.from_bytes(data[0:2], "big")
    version, op, subtype = word >> 12, (word >> 10) & 0x3, word & 0x3FF
    seqno = int.from_bytes(data[2:4], "big")
    if version != ECP_VERSION:
        raise VdpCodecError(f"ECP version {version} (seqno {seqno}); only version 1 is known")
    if op not in (EcpOp.REQUEST, EcpOp.ACK):
        raise VdpCodecError(f"ECP operation {op} (seqno {seqno}) is reserved")
    return Ecpdu(EcpOp(op), seqno, data[ECP_HEADER_LEN:], subtype, version)


# -- VDP --------------------------------------------------------------------------------------


class VdpTlvType(enum.IntEnum):
    """VDP TLV types."""

    END = 0
    PRE_ASSOCIATE = 1
    PRE_ASSOCIATE_RR = 2       # with resource reservation
    ASSOCIATE = 3
    DE_ASSOCIATE = 4
    MANAGER_ID = 5
    ORG_SPECIFIC = 127


VSI_TLV_TYPES = frozenset({VdpTlvType.PRE_ASSOCIATE, VdpTlvType.PRE_ASSOCIATE_RR,
                           VdpTlvType.ASSOCIATE, VdpTlvType.DE_ASSOCIATE})


class VsiIdFormat(enum.IntEnum):
    """How the 16-octet VSI ID is to be read."""

    IPV4 = 1
    IPV6 = 2
    MAC = 3
    LOCAL = 4
    UUID = 5


class FilterFormat(enum.IntEnum):
    """Filter info formats and the size of one entry."""

    VID = 1
    MAC_VID = 2
    GROUP_VID = 3
    GROUP_MAC_VID = 4

    @property
    def entry_size(self) -> int:
        """Octets per filter entry."""
        return {1: 2, 2: 8, 3: 6, 4: 12}[self.value]

    @property
    def has_mac(self) -> bool:
        """Entries carry a MAC address."""
        return self in (FilterFormat.MAC_VID, FilterFormat.GROUP_MAC_VID)

    @property
    def has_group(self) -> bool:
        """Entries carry a 32-bit group id."""
        return self in (FilterFormat.GROUP_VID, FilterFormat.GROUP_MAC_VID)


class VsiStatus(enum.IntFlag):
    """Bits of a VSI TLV's status octet.

    Request: M (migrating to this bridge) and S (suspended / migrating away). Response: the
    response bit (lldpad: "ACK bit"), the keep bit (the refused request left the previous state
    in force), the hard bit, and a 4-bit VdpError in the low nibble.
    """

    M = 0x10
    S = 0x20
    HARD = 0x10
    KEEP = 0x20
    RESPONSE = 0x40
    RESERVED = 0x80
    ERROR_MASK = 0x0F


class VdpError(enum.IntEnum):
    """Error types of a VSI TLV response (IEEE 802.1Qbg-2012 41.2.x)."""

    SUCCESS = 0
    INVALID_FORMAT = 1
    INSUFFICIENT_RESOURCES = 2
    UNABLE_TO_CONTACT_VSI_MANAGER = 3
    OTHER_FAILURE = 4
    INVALID_VID_GROUP_MAC = 5


@dataclass(frozen=True, slots=True)
class FilterEntry:
    """One filter entry: PS bit, PCP and VID, with a MAC and/or a group id by format."""

    vid: int
    pcp: int = 0
    ps: bool = False
    mac: bytes | None = None
    group_id: int | None = None

    @property
    def tci(self) -> int:
        """The 16-bit PS/PCP/VID field."""
        return int(self.ps) << 15 | (self.pcp & 0x7) << 12 | (self.vid & 0xFFF)

    def encode(self, fmt: FilterFormat) -> bytes:
        """This entry in format `fmt`."""
        out = b""
        if fmt.has_group:
            out += (self.group_id or 0).to_bytes(4, "big")
        if fmt.has_mac:
            out += self.mac or bytes(6)
        return out + self.tci.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class VsiTlv:
    """A well-formed VSI TLV (pre-associate, pre-associate with RR, associate, de-associate)."""

    mode: VdpTlvType
    status: int
    type_id: int
    type_version: int
    id_format: VsiIdFormat
    vsi_id: bytes
    filter_format: FilterFormat
    entries: tuple[FilterEntry, ...]

    def body(self) -> bytes:
        """The TLV's information string."""
        return (bytes([self.status]) + self.type_id.to_bytes(3, "big")
                + bytes([self.type_version, self.id_format]) + self.vsi_id
                + bytes([self.filter_format]) + len(self.entries).to_bytes(2, "big")
                + b"".join(e.encode(self.filter_format) for e in self.entries))

    def encode(self) -> bytes:
        """Header and information string."""
        body = self.body()
        return _tlv_header(self.mode, len(body)) + body

    @property
    def vsi_id_text(self) -> str:
        """The VSI ID as text: a UUID, or hex for the other formats."""
        if self.id_format == VsiIdFormat.UUID:
            return str(uuid.UUID(bytes=self.vsi_id))
        return self.vsi_id.hex()


@dataclass(frozen=True, slots=True)
class BadVsiTlv:
    """A VSI TLV whose framing is sound but whose content is not; `problem` says why.

    It can still be answered: the bridge echoes `body` with an error status.
    """

    mode: VdpTlvType
    body: bytes
    problem: str

    def encode(self) -> bytes:
        """Header and the original information string."""
        return _tlv_header(self.mode, len(self.body)) + self.body


@dataclass(frozen=True, slots=True)
class OrgTlv:
    """An organisationally defined VDP TLV (OUI and opaque data)."""

    oui: bytes
    data: bytes

    def encode(self) -> bytes:
        """Header, OUI and data."""
        return _tlv_header(VdpTlvType.ORG_SPECIFIC, 3 + len(self.data)) + self.oui + self.data


@dataclass(frozen=True, slots=True)
class UnknownTlv:
    """A VDP TLV of a type this bridge does not know; carried along, otherwise ignored."""

    type: int
    value: bytes

    def encode(self) -> bytes:
        """Header and value."""
        return _tlv_header(self.type, len(self.value)) + self.value


VdpTlv = VsiTlv | BadVsiTlv | OrgTlv | UnknownTlv


@dataclass(frozen=True, slots=True)
class VdpPdu:
    """The VDP payload of one ECPDU: a VSI Manager ID and the TLVs that follow it."""

    manager_id: bytes
    tlvs: tuple[VdpTlv, ...] = ()

    def encode(self) -> bytes:
        """Manager ID TLV, the TLVs, and an End TLV."""
        return (_tlv_header(VdpTlvType.MANAGER_ID, MANAGER_ID_LEN) + self.manager_id
                + b"".join(t.encode() for t in self.tlvs) + _tlv_header(VdpTlvType.END, 0))


def decode_vdp(data: bytes) -> VdpPdu:
    """The VDP TLVs of an ECPDU's payload.

    VdpCodecError when the TLV framing is broken (a length running past the data, no Manager ID
    TLV first, a second Manager ID TLV): then no TLV of the PDU can be trusted. A VSI TLV with a
    sound length but bad content decodes to BadVsiTlv.
    """
    tlvs = list(_split_tlvs(data, "VDP"))
    if not tlvs:
        raise VdpCodecError("VDP payload is empty; the VSI Manager ID TLV is missing")
    kind, manager = tlvs[0]
    if kind != VdpTlvType.MANAGER_ID:
        raise VdpCodecError(f"VDP payload starts with TLV type {kind}; the VSI Manager ID TLV "
                            "(type 5) must come first")
    if len(manager) != MANAGER_ID_LEN:
        raise VdpCodecError(f"VSI Manager ID TLV has length {len(manager)}; expected 16")
    decoded: list[VdpTlv] = []
    for index, (kind, value) in enumerate(tlvs[1:], start=2):
        if kind == VdpTlvType.MANAGER_ID:
            raise VdpCodecError(f"TLV {index} is a second VSI Manager ID TLV")
        if kind in VSI_TLV_TYPES:
            decoded.append(_decode_vsi(VdpTlvType(kind), value))
        elif kind == VdpTlvType.ORG_SPECIFIC:
            if len(value) < 3:
                raise VdpCodecError(f"TLV {index}: organisationally defined TLV has length "
                                    f"{len(value)}; it needs an OUI (3)")
            decoded.append(OrgTlv(value[:3], value[3:]))
        else:
            decoded.append(UnknownTlv(kind, value))
    return VdpPdu(manager, tuple(decoded))


def _decode_vsi(mode: VdpTlvType, body: bytes) -> VsiTlv | BadVsiTlv:
    name = mode.name.lower().replace("_", "-")
    if len(body) < VSI_FIXED_LEN:
        return BadVsiTlv(mode, body, f"{name} TLV has length {len(body)}; the fixed part alone "
                                     f"is {VSI_FIXED_LEN}")
    status = body[0]
    type_id = int.from_bytes(body[1:4], "big")
    type_version, id_format = body[4], body[5]
    vsi_id = body[6:22]
    filter_format, count = body[22], int.from_bytes(body[23:25], "big")
    if id_format not in VsiIdFormat._value2member_map_:
        return BadVsiTlv(mode, body, f"{name} TLV: VSI ID format {id_format} is not defined "
                                     "(1..5)")
    if filter_format not in FilterFormat._value2member_map_:
        return BadVsiTlv(mode, body, f"{name} TLV: filter info format {filter_format} is not "
                                     "defined (1..4)")
    fmt = FilterFormat(filter_format)
    expected = VSI_FIXED_LEN + count * fmt.entry_size
    if len(body) != expected:
        return BadVsiTlv(mode, body, f"{name} TLV has length {len(body)}; {count} "
                                     f"{fmt.name} entries make it {expected}")
    entries = []
    offset = VSI_FIXED_LEN
    for _ in range(count):
        group_id = mac = None
        if fmt.has_group:
            group_id = int.from_bytes(body[offset:offset + 4], "big")
            offset += 4
        if fmt.has_mac:
            mac = body[offset:offset + 6]
            offset += 6
        tci = int.from_bytes(body[offset:offset + 2], "big")
        offset += 2
        entries.append(FilterEntry(vid=tci & 0xFFF, pcp=(tci >> 12) & 0x7, ps=bool(tci >> 15),
                                   mac=mac, group_id=group_id))
    return VsiTlv(mode, status, type_id, type_version, VsiIdFormat(id_format), vsi_id, fmt,
                  tuple(entries))


# -- TLV framing shared by LLDP and VDP -------------------------------------------------------


def _tlv_header(kind: int, length: int) -> bytes:
    if not 0 <= kind <= 0x7F or not 0 <= length <= MAX_TLV_LEN:
        raise VdpCodecError(f"TLV type {kind} / length {length} do not fit 7 + 9 bits")
    return (kind << 9 | length).to_bytes(2, "big")


def _split_tlvs(data: bytes, protocol: str) -> list[tuple[int, bytes]]:
    """(type, value) pairs up to an End TLV or the end of the data; trailing zeros are padding."""
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 2:
            if any(data[offset:]):
                raise VdpCodecError(f"{protocol} TLV {len(out) + 1} at offset {offset}: "
                                    "truncated header")
            break
        header = int.from_bytes(data[offset:offset + 2], "big")
        kind, length = header >> 9, header & MAX_TLV_LEN
        if kind == 0:
            if length != 0:
                raise VdpCodecError(f"{protocol} End TLV at offset {offset} has length "
                                    f"{length}; expected 0")
            break
        start = offset + 2
        if start + length > len(data):
            raise VdpCodecError(f"{protocol} TLV {len(out) + 1} (type {kind}) at offset "
                                f"{offset} claims {length} bytes; {len(data) - start} remain")
        out.append((kind, data[start:start + length]))
        offset = start + length
    return out
