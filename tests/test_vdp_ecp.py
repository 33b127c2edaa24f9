"""ECP (ACK, duplicates, retransmission), EVB negotiation and one port's EVB/ECP state: sans I/O."""

from __future__ import annotations

import logging

import pytest

from controlplane.signalling.vdp.ecp import EcpEndpoint, EcpReceiver, EcpSender, EcpTiming
from controlplane.signalling.vdp.evb import (
    BRIDGE_RTE,
    BridgeIdentity,
    bridge_policy,
    keepalive_exponent,
    keepalive_timeout,
    negotiate,
)
from controlplane.signalling.vdp.port import StationPort
from controlplane.signalling.vdp.wire import (
    ETHERTYPE_ECP,
    ETHERTYPE_LLDP,
    NEAREST_CUSTOMER_BRIDGE,
    BridgeStatus,
    ChassisIdSubtype,
    Ecpdu,
    EcpOp,
    EthernetFrame,
    EvbMode,
    EvbTlv,
    Lldpdu,
    PortIdSubtype,
    StationStatus,
    VdpCodecError,
    VdpPdu,
    decode_ecpdu,
    decode_ethernet,
    decode_lldpdu,
    decode_vdp,
    exponent_seconds,
)

TIMING = EcpTiming(ack_timeout=0.1, max_retries=3)


# -- ECP ------------------------------------------------------------------------------------------


def test_every_request_is_acknowledged_with_its_seqno() -> None:
    ecp = EcpEndpoint(TIMING)
    for seqno in (1, 2, 40000, 3):
        got = ecp.receive(Ecpdu(EcpOp.REQUEST, seqno, b"vdp"), now=seqno)
        assert got.ack == Ecpdu(EcpOp.ACK, seqno)
        assert got.deliver == b"vdp" and not got.duplicate


def test_retransmitted_request_is_acknowledged_again_but_delivered_once() -> None:
    ecp = EcpEndpoint(TIMING, duplicate_window=1.0)
    first = ecp.receive(Ecpdu(EcpOp.REQUEST, 7, b"a"), now=0.0)
    again = ecp.receive(Ecpdu(EcpOp.REQUEST, 7, b"a"), now=0.003)
    third = ecp.receive(Ecpdu(EcpOp.REQUEST, 7, b"a"), now=0.006)
    assert first.deliver == b"a"
    for repeat in (again, third):
        assert repeat.ack == Ecpdu(EcpOp.ACK, 7) and repeat.deliver is None and repeat.duplicate
    assert ecp.receiver.duplicates == 2 and ecp.receiver.received == 1
    assert ecp.receive(Ecpdu(EcpOp.REQUEST, 8, b"b"), now=0.01).deliver == b"b"


def test_same_seqno_after_the_window_is_a_new_request() -> None:
    """A station that restarted counts from 1 again."""
    receiver = EcpReceiver(duplicate_window=1.0)
    assert receiver.accept(1, 0.0)
    assert not receiver.accept(1, 0.5)
    assert receiver.accept(1, 10.0)
    receiver.reset()
    assert receiver.accept(1, 10.1)


def test_sender_is_stop_and_wait_with_increasing_seqnos() -> None:
    sender = EcpSender(TIMING, first_seqno=0xFFFF)
    (first,) = sender.submit(b"one", 0.0)
    assert sender.submit(b"two", 0.0) == []             # waits for the first ACK
    assert sender.busy and sender.pending == 1
    assert sender.acknowledge(first.seqno + 1, 0.01) == []   # not ours
    (second,) = sender.acknowledge(first.seqno, 0.02)
    assert (first.seqno, second.seqno) == (0xFFFF, 1)    # 0 is skipped on wrap
    assert (first.op, first.payload, second.payload) == (EcpOp.REQUEST, b"one", b"two")
    assert sender.acknowledge(second.seqno, 0.03) == [] and not sender.busy


def test_sender_retransmits_then_gives_up_and_moves_on() -> None:
    sender = EcpSender(TIMING, first_seqno=5)
    (req,) = sender.submit(b"answer", 0.0)
    sender.submit(b"next", 0.0)
    assert sender.poll(0.05) == []                       # ACK timer still running
    assert sender.deadline() == pytest.approx(0.1)
    sent = [sender.poll(t) for t in (0.11, 0.22, 0.33)]
    assert sent == [[req]] * 3 and sender.retransmitted == 3
    (following,) = sender.poll(0.44)                     # 1 + 3 tries: given up
    assert sender.given_up == 1 and following.payload == b"next" and following.seqno == 6


def test_endpoint_passes_acks_to_the_sender() -> None:
    ecp = EcpEndpoint(TIMING, first_seqno=3)
    (req,) = ecp.sender.submit(b"x", 0.0)
    ecp.sender.submit(b"y", 0.0)
    got = ecp.receive(Ecpdu(EcpOp.ACK, req.seqno), 0.01)
    assert got.ack is None and got.deliver is None
    assert [p.payload for p in got.transmit] == [b"y"]


# -- EVB -----------------------------------------------------------------------------------------


def test_keepalive_exponent_fits_the_aging_time() -> None:
    assert keepalive_exponent(30.0) == 20                 # lldpad's default: 10.5 s
    assert keepalive_exponent(8.0) == 18                  # 2.6 s
    for aging in (2.0, 8.0, 30.0, 100.0):
        rka = keepalive_exponent(aging)
        assert keepalive_timeout(BRIDGE_RTE, 3, rka) <= aging or rka == 0
    assert keepalive_exponent(0.1) == 0


def test_negotiation_takes_the_larger_values_and_marks_remote_ones() -> None:
    policy = bridge_policy(8.0)
    station = EvbTlv(mode=EvbMode.STATION, station_status=0x3, retries=5, rte=8, rwd=20, rka=17)
    out = negotiate(policy, station)
    assert out.mode == EvbMode.BRIDGE
    assert (out.retries, out.rte, out.rwd, out.rka) == (5, BRIDGE_RTE, 20, 18)
    assert out.rwd_remote and not out.rka_remote
    assert out.station_status == 0x3 and out.bridge_status == 0
    assert negotiate(policy, None) == policy


def test_reflective_relay_only_when_capable() -> None:
    station = EvbTlv(mode=EvbMode.STATION, station_status=StationStatus.RRREQ)
    assert not negotiate(bridge_policy(30), station).bridge_status & BridgeStatus.RRCTR
    capable = EvbTlv(mode=EvbMode.BRIDGE, bridge_status=BridgeStatus.RRCAP)
    assert negotiate(capable, station).bridge_status & BridgeStatus.RRCTR


# -- one port -------------------------------------------------------------------------------------

BRIDGE_MAC = bytes.fromhex("020000000101")
STATION_MAC = bytes.fromhex("525400aa0001")
STATION_EVB = EvbTlv(mode=EvbMode.STATION, station_status=3, rte=8, rka=17)


def station_lldp(evb: EvbTlv | None = STATION_EVB, ttl: int = 120,
                 mac: bytes = STATION_MAC) -> EthernetFrame:
    pdu = Lldpdu(ChassisIdSubtype.MAC_ADDRESS, mac, PortIdSubtype.MAC_ADDRESS, mac, ttl,
                 (evb.tlv(),) if evb else ())
    return EthernetFrame(NEAREST_CUSTOMER_BRIDGE, mac, ETHERTYPE_LLDP, pdu.encode())


def station_ecp(pdu: Ecpdu, mac: bytes = STATION_MAC) -> EthernetFrame:
    return EthernetFrame(NEAREST_CUSTOMER_BRIDGE, mac, ETHERTYPE_ECP, pdu.encode())


def new_port(aging: float = 8.0) -> StationPort:
    return StationPort(BridgeIdentity(BRIDGE_MAC, "nve1", 1), bridge_policy(aging), aging,
                       first_seqno=100)


def lldp_out(frames: list[bytes]) -> list[Lldpdu]:
    return [decode_lldpdu(f.payload) for f in map(decode_ethernet, frames)
            if f.ethertype == ETHERTYPE_LLDP]


def test_port_answers_a_new_station_at_once_then_every_30_s() -> None:
    port = new_port()
    assert port.poll(0.0) == []                                  # silent until it hears LLDP
    got = port.receive(decode_ethernet(station_lldp().encode()), 1.5)
    (answer,) = lldp_out(got.frames)                             # triggered: a new station
    assert answer.ttl == 120 and answer.chassis_id == BRIDGE_MAC and answer.port_id == b"1"
    evb = answer.evb()
    assert evb is not None and evb.station_status == 3 and evb.rka == 18
    assert evb.mode == EvbMode.BRIDGE and evb.rte == BRIDGE_RTE
    assert port.ecp.sender.timing.ack_timeout == exponent_seconds(BRIDGE_RTE)
    assert lldp_out(port.receive(station_lldp(), 2.0).frames) == []   # nothing changed
    assert len(lldp_out(port.poll(31.6))) == 1


def test_port_acks_ecp_at_once_and_delivers_vdp() -> None:
    port = new_port()
    payload = VdpPdu(b"nve1".ljust(16, b"\0")).encode()
    got = port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 9, payload)), 0.0)
    ack = decode_ethernet(got.frames[0])
    assert ack.dst == STATION_MAC and ack.src == BRIDGE_MAC
    ecp = decode_ecpdu(ack.payload)
    assert (ecp.op, ecp.seqno, ecp.subtype) == (EcpOp.ACK, 9, 1)
    assert got.vdp == [decode_vdp(payload)]
    repeat = port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 9, payload)), 0.002)
    assert len(repeat.frames) == 1 and repeat.vdp == []


def test_port_acks_but_drops_a_malformed_vdp_payload(caplog: pytest.LogCaptureFixture) -> None:
    port = new_port()
    got = port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 1, b"\x06\x21" + bytes(33))), 0.0)
    assert decode_ecpdu(decode_ethernet(got.frames[0]).payload).op == EcpOp.ACK
    assert got.vdp == []
    assert "malformed VDP payload in ECP seqno 1" in caplog.text
    assert "must come first" in caplog.text


def test_port_ignores_other_ecp_subtypes(caplog: pytest.LogCaptureFixture) -> None:
    port = new_port()
    got = port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 1, b"", subtype=2)), 0.0)
    assert len(got.frames) == 1 and got.vdp == []
    assert "subtype 2" in caplog.text


def test_port_sends_answers_as_ecp_requests_and_retransmits() -> None:
    port = new_port()
    port.receive(station_lldp(), 0.0)
    pdu = VdpPdu(b"nve1".ljust(16, b"\0"))
    (frame,) = port.send_vdp(pdu, 0.0)
    req = decode_ecpdu(decode_ethernet(frame).payload)
    assert (req.op, req.seqno, decode_vdp(req.payload)) == (EcpOp.REQUEST, 100, pdu)
    assert decode_ethernet(frame).dst == STATION_MAC
    timeout = exponent_seconds(BRIDGE_RTE)
    retransmit = [f for f in port.poll(timeout + 0.001)
                  if decode_ethernet(f).ethertype == ETHERTYPE_ECP]
    assert retransmit == [frame]
    port.receive(station_ecp(Ecpdu(EcpOp.ACK, 100)), timeout + 0.01)
    assert not port.ecp.sender.busy


def test_station_shutdown_and_replacement_forget_ecp_state() -> None:
    port = new_port()
    port.receive(station_lldp(), 0.0)
    port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 1, b"")), 0.1)
    port.send_vdp(VdpPdu(bytes(16)), 0.2)
    port.receive(station_lldp(ttl=0), 0.3)                       # lldpad stopping
    assert port.station_evb is None and not port.ecp.sender.busy
    assert port.evb == bridge_policy(8.0)
    port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 1, b"")), 0.4)  # restarted: 1 again is new
    assert port.ecp.receiver.duplicates == 0 and port.ecp.receiver.received == 2
    port.receive(station_lldp(), 1.0)
    other = bytes.fromhex("525400aa0002")
    port.receive(station_lldp(mac=other), 1.2)                   # another station
    assert port.station_mac == other
    port.receive(station_ecp(Ecpdu(EcpOp.REQUEST, 1, b""), mac=other), 1.3)
    assert port.ecp.receiver.duplicates == 0 and port.ecp.receiver.received == 3


def test_station_information_expires(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = new_port()
    port.receive(station_lldp(ttl=10), 0.0)
    assert port.station_evb is not None
    port.poll(10.5)
    assert port.station_evb is None and "expired" in caplog.text


def test_a_station_that_keeps_alive_too_rarely_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    port = new_port(aging=8.0)
    port.receive(station_lldp(EvbTlv(mode=EvbMode.STATION, rka=20)), 0.0)
    assert "too rarely" in caplog.text and "vdprka" in caplog.text


def test_lldp_from_a_bridge_is_not_a_station(caplog: pytest.LogCaptureFixture) -> None:
    port = new_port()
    port.receive(station_lldp(EvbTlv(mode=EvbMode.BRIDGE)), 0.0)
    assert port.station_evb is None and "not station" in caplog.text


def test_garbage_is_a_codec_error() -> None:
    port = new_port()
    with pytest.raises(VdpCodecError):
        port.receive(EthernetFrame(NEAREST_CUSTOMER_BRIDGE, STATION_MAC, ETHERTYPE_LLDP, b"\x02"),
                     0.0)
    with pytest.raises(VdpCodecError, match="neither LLDP nor ECP"):
        port.receive(EthernetFrame(NEAREST_CUSTOMER_BRIDGE, STATION_MAC, 0x0800, b""), 0.0)
