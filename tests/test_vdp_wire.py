"""The VDP/ECP/LLDP codec: property round trips, byte-exact layouts, malformed input -> errors."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.signalling.messages import SignallingError
from controlplane.signalling.vdp.wire import (
    ETHERTYPE_ECP,
    ETHERTYPE_LLDP,
    NEAREST_CUSTOMER_BRIDGE,
    BadVsiTlv,
    Ecpdu,
    EcpOp,
    EthernetFrame,
    EvbMode,
    EvbTlv,
    FilterEntry,
    FilterFormat,
    Lldpdu,
    LldpTlv,
    OrgTlv,
    UnknownTlv,
    VdpCodecError,
    VdpPdu,
    VdpTlvType,
    VsiIdFormat,
    VsiTlv,
    decode_ecpdu,
    decode_ethernet,
    decode_lldpdu,
    decode_vdp,
)

# What lldpad 1.1 sent for `vdptool -i st0 -T -W -V assoc -c mode=assoc -c mgrid2=nve1
# -c typeid=5001 -c typeidver=1 -c uuid=11111111-2222-3333-4444-555555555555 -c hints=none
# -c filter=0-52:54:00:11:22:33` (its debug hexdump), and its LLDPDU with the EVB TLV.
LLDPAD_ASSOC = bytes.fromhex(
    "0180c2000000 5230536785d3 8940 1001 0001"
    "0a10 6e766531 000000000000000000000000"
    "0621 00 001389 01 05 11111111222233334444555555555555 02 0001 525400112233 0000"
    .replace(" ", ""))
LLDPAD_LLDP = bytes.fromhex(
    "0180c20000005230536785d388cc"
    "0207045230536785d3 0407035230536785d3 06020078 fe090080c20d0003689411 0000"
    .replace(" ", ""))

MAC = bytes.fromhex("525400112233")
VM = uuid.UUID("11111111-2222-3333-4444-555555555555")


def assoc(vid: int = 0, status: int = 0, mode: VdpTlvType = VdpTlvType.ASSOCIATE) -> VsiTlv:
    return VsiTlv(mode, status, 5001, 1, VsiIdFormat.UUID, VM.bytes, FilterFormat.MAC_VID,
                  (FilterEntry(vid=vid, mac=MAC),))


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def filter_entries(draw: st.DrawFn, fmt: FilterFormat) -> FilterEntry:
    return FilterEntry(
        vid=draw(st.integers(0, 0xFFF)), pcp=draw(st.integers(0, 7)), ps=draw(st.booleans()),
        mac=draw(st.binary(min_size=6, max_size=6)) if fmt.has_mac else None,
        group_id=draw(st.integers(0, 0xFFFFFFFF)) if fmt.has_group else None)


@st.composite
def vsi_tlvs(draw: st.DrawFn) -> VsiTlv:
    fmt = draw(st.sampled_from(FilterFormat))
    count = draw(st.integers(0, (0x1FF - 25) // fmt.entry_size if fmt.entry_size else 0))
    count = min(count, 8)
    return VsiTlv(
        mode=draw(st.sampled_from([VdpTlvType.PRE_ASSOCIATE, VdpTlvType.PRE_ASSOCIATE_RR,
                                   VdpTlvType.ASSOCIATE, VdpTlvType.DE_ASSOCIATE])),
        status=draw(st.integers(0, 0xFF)), type_id=draw(st.integers(0, 0xFFFFFF)),
        type_version=draw(st.integers(0, 0xFF)), id_format=draw(st.sampled_from(VsiIdFormat)),
        vsi_id=draw(st.binary(min_size=16, max_size=16)), filter_format=fmt,
        entries=tuple(draw(filter_entries(fmt)) for _ in range(count)))


other_tlvs = st.one_of(
    st.builds(OrgTlv, st.binary(min_size=3, max_size=3), st.binary(max_size=40)),
    st.builds(UnknownTlv, st.integers(6, 126), st.binary(max_size=40)))

vdp_pdus = st.builds(VdpPdu, st.binary(min_size=16, max_size=16),
                     st.lists(st.one_of(vsi_tlvs(), other_tlvs), max_size=5).map(tuple))

evb_tlvs = st.builds(EvbTlv, mode=st.integers(0, 3), bridge_status=st.integers(0, 7),
                     station_status=st.integers(0, 15), retries=st.integers(0, 7),
                     rte=st.integers(0, 31), rwd=st.integers(0, 31), rwd_remote=st.booleans(),
                     rka=st.integers(0, 31), rka_remote=st.booleans())

lldpdus = st.builds(
    Lldpdu, chassis_subtype=st.integers(1, 7), chassis_id=st.binary(min_size=1, max_size=255),
    port_subtype=st.integers(1, 7), port_id=st.binary(min_size=1, max_size=255),
    ttl=st.integers(0, 0xFFFF),
    tlvs=st.lists(st.one_of(
        st.builds(LldpTlv, st.integers(4, 126), st.binary(max_size=60)),
        evb_tlvs.map(lambda e: e.tlv())), max_size=4).map(tuple))


# -- round trips --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(vdp_pdus)
def test_vdp_round_trip(pdu: VdpPdu) -> None:
    assert decode_vdp(pdu.encode()) == pdu


@settings(max_examples=100, deadline=None)
@given(vdp_pdus, st.integers(0, 40))
def test_vdp_round_trip_through_a_padded_ecp_frame(pdu: VdpPdu, padding: int) -> None:
    ecp = Ecpdu(EcpOp.REQUEST, 7, pdu.encode())
    frame = EthernetFrame(NEAREST_CUSTOMER_BRIDGE, MAC, ETHERTYPE_ECP, ecp.encode()).encode()
    frame += bytes(padding)
    got = decode_ecpdu(decode_ethernet(frame).payload)
    assert (got.op, got.seqno, got.subtype, got.version) == (EcpOp.REQUEST, 7, 1, 1)
    assert decode_vdp(got.payload) == pdu


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EcpOp), st.integers(0, 0xFFFF), st.integers(0, 0x3FF),
       st.binary(max_size=64))
def test_ecp_round_trip(op: EcpOp, seqno: int, subtype: int, payload: bytes) -> None:
    pdu = Ecpdu(op, seqno, payload, subtype)
    assert decode_ecpdu(pdu.encode()) == pdu


@settings(max_examples=200, deadline=None)
@given(evb_tlvs)
def test_evb_round_trip(evb: EvbTlv) -> None:
    assert EvbTlv.from_info(evb.info()) == evb


@settings(max_examples=200, deadline=None)
@given(lldpdus)
def test_lldp_round_trip(pdu: Lldpdu) -> None:
    assert decode_lldpdu(pdu.encode()) == pdu


# -- never anything but VdpCodecError ---------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_decode_or_raise_codec_error(data: bytes) -> None:
    for decode in (decode_vdp, decode_lldpdu, decode_ecpdu, decode_ethernet):
        try:
            decode(data)
        except VdpCodecError:
            pass


@settings(max_examples=300, deadline=None)
@given(vdp_pdus, st.data())
def test_mutated_pdus_decode_or_raise_codec_error(pdu: VdpPdu, data: st.DataObject) -> None:
    raw = bytearray(pdu.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    for candidate in (bytes(raw), bytes(raw[:cut])):
        try:
            decoded = decode_vdp(candidate)
        except VdpCodecError:
            continue
        for tlv in decoded.tlvs:     # whatever decodes can be encoded again
            tlv.encode()


def test_codec_errors_are_signalling_errors() -> None:
    assert issubclass(VdpCodecError, SignallingError)


# -- exact layouts, as lldpad puts them on the wire -----------------------------------------


def test_decodes_lldpads_associate_request() -> None:
    frame = decode_ethernet(LLDPAD_ASSOC)
    assert frame.ethertype == ETHERTYPE_ECP and frame.dst == NEAREST_CUSTOMER_BRIDGE
    ecp = decode_ecpdu(frame.payload)
    assert (ecp.op, ecp.seqno, ecp.subtype) == (EcpOp.REQUEST, 1, 1)
    pdu = decode_vdp(ecp.payload)
    assert pdu.manager_id == b"nve1".ljust(16, b"\0")
    assert pdu.tlvs == (assoc(),)
    assert pdu.encode()[:-2] == ecp.payload          # the same bytes, less our End TLV


def test_decodes_lldpads_lldpdu_with_evb_tlv() -> None:
    frame = decode_ethernet(LLDPAD_LLDP)
    assert frame.ethertype == ETHERTYPE_LLDP
    pdu = decode_lldpdu(frame.payload)
    assert pdu.ttl == 120 and pdu.chassis_id == bytes.fromhex("5230536785d3")
    assert pdu.evb() == EvbTlv(mode=EvbMode.STATION, bridge_status=0, station_status=3,
                               retries=3, rte=8, rwd=20, rka=17)


def test_response_layout() -> None:
    answer = assoc(vid=2, status=0x40)
    body = answer.encode()
    assert body[:2] == bytes.fromhex("0621")              # type 3, length 33
    assert body[2] == 0x40
    assert body[-8:] == MAC + bytes.fromhex("0002")
    with_pcp = replace(answer, entries=(FilterEntry(vid=2, pcp=5, ps=True, mac=MAC),))
    assert with_pcp.encode()[-2:] == bytes.fromhex("d002")   # PS=1, PCP=5, VID=2


def test_ecp_header_layout() -> None:
    assert Ecpdu(EcpOp.ACK, 0x1234).encode() == bytes.fromhex("14011234")
    assert Ecpdu(EcpOp.REQUEST, 1, b"x").encode() == bytes.fromhex("1001000178")
    assert Ecpdu(EcpOp.REQUEST, 9).ack() == Ecpdu(EcpOp.ACK, 9)


def test_ethernet_frames_are_padded() -> None:
    frame = EthernetFrame(NEAREST_CUSTOMER_BRIDGE, MAC, ETHERTYPE_ECP, b"\x14\x01\x00\x01")
    assert len(frame.encode()) == 60


# -- malformed input: a clear error, or a BadVsiTlv that can still be answered --------------

MANAGER = bytes.fromhex("0a10") + b"nve1".ljust(16, b"\0")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (bytes.fromhex("0621") + bytes(33), "must come first"),
    (bytes.fromhex("0a0f") + bytes(15), "length 15; expected 16"),
    (MANAGER + MANAGER, "second VSI Manager ID"),
    (MANAGER + bytes.fromhex("0640") + bytes(10), "claims 64 bytes; 10 remain"),
    (MANAGER + bytes.fromhex("06"), "truncated header"),
    (MANAGER + bytes.fromhex("0005"), "End TLV"),
    (MANAGER + bytes.fromhex("fe02") + b"ab", "needs an OUI"),
])
def test_broken_framing_is_an_error(data: bytes, message: str) -> None:
    with pytest.raises(VdpCodecError, match=message):
        decode_vdp(data)


def test_padding_after_the_last_tlv_is_accepted() -> None:
    body = MANAGER + assoc().encode()
    assert decode_vdp(body + bytes(7)).tlvs == (assoc(),)
    assert decode_vdp(body + bytes(1)).tlvs == (assoc(),)


@pytest.mark.parametrize(("body", "problem"), [
    (bytes(10), "fixed part alone is 25"),
    (assoc().body()[:5] + b"\x09" + assoc().body()[6:], "VSI ID format 9"),
    (assoc().body()[:22] + b"\x07" + assoc().body()[23:], "filter info format 7"),
    (assoc().body()[:23] + b"\x00\x02" + assoc().body()[25:], "2 MAC_VID entries make it 41"),
    (assoc().body() + b"\x00", "length 34"),
])
def test_bad_vsi_content_decodes_to_bad_vsi_tlv(body: bytes, problem: str) -> None:
    tlv = LldpTlv(VdpTlvType.ASSOCIATE, body).encode()
    (bad,) = decode_vdp(MANAGER + tlv).tlvs
    assert isinstance(bad, BadVsiTlv) and problem in bad.problem
    assert bad.encode() == tlv


@pytest.mark.parametrize(("data", "message"), [
    (b"\x10\x01", "shorter than the ECP header"),
    (bytes.fromhex("20010001"), "version 2"),
    (bytes.fromhex("18010001"), "operation 2"),
])
def test_bad_ecp(data: bytes, message: str) -> None:
    with pytest.raises(VdpCodecError, match=message):
        decode_ecpdu(data)


def test_tagged_control_frames_are_refused() -> None:
    frame = NEAREST_CUSTOMER_BRIDGE + MAC + bytes.fromhex("8100000588cc") + bytes(40)
    with pytest.raises(VdpCodecError, match="tagged"):
        decode_ethernet(frame)


def lldp(*tlvs: bytes) -> bytes:
    return b"".join(tlvs)


CHASSIS = bytes.fromhex("020704") + MAC
PORT = bytes.fromhex("040703") + MAC
TTL = bytes.fromhex("06020078")


@pytest.mark.parametrize(("data", "message"), [
    (lldp(CHASSIS, PORT), "mandatory"),
    (lldp(PORT, CHASSIS, TTL), "expected 1, 2, 3"),
    (lldp(bytes.fromhex("020104"), PORT, TTL), "Chassis ID TLV has length 1"),
    (lldp(CHASSIS, PORT, bytes.fromhex("060100")), "TTL TLV has length 1"),
    (lldp(CHASSIS, PORT, TTL, TTL), "repeats mandatory"),
    (lldp(CHASSIS, PORT, TTL, bytes.fromhex("fe020080")), "at least an OUI"),
    (lldp(CHASSIS, PORT, TTL, bytes.fromhex("fe060080c20d0000")), "EVB TLV has 6 octets"),
])
def test_bad_lldp(data: bytes, message: str) -> None:
    with pytest.raises(VdpCodecError, match=message):
        decode_lldpdu(data)
