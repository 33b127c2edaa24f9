"""One access port of an NVE seen as an EVB bridge port: LLDP/EVB and ECP towards its station.

Sans I/O (the caller does the sending): methods take `now` and return the frames to send on the
port; VDP payloads the station sent come back decoded for the caller to answer. The bridge
speaks LLDP on a port only while it hears an LLDP neighbour there (VMs' ports stay quiet),
answering a new neighbour at once. What is kept:
the station's MAC and LLDP identity, its EVB TLV and what we negotiated from it, and the ECP
endpoint. A station that shuts LLDP down (TTL 0), whose LLDP information expires, or that
reappears with another identity, is forgotten: its ECP sequence numbers and our queued answers
with it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from controlplane.signalling.vdp.ecp import EcpEndpoint, EcpTiming
from controlplane.signalling.vdp.evb import (
    LLDP_FAST_TX,
    LLDP_TX_INTERVAL,
    BridgeIdentity,
    keepalive_timeout,
    negotiate,
)
from controlplane.signalling.vdp.wire import (
    ECP_SUBTYPE_VDP,
    ETHERTYPE_ECP,
    ETHERTYPE_LLDP,
    NEAREST_CUSTOMER_BRIDGE,
    Ecpdu,
    EcpOp,
    EthernetFrame,
    EvbMode,
    EvbTlv,
    VdpCodecError,
    VdpPdu,
    decode_ecpdu,
    decode_lldpdu,
    decode_vdp,
    exponent_seconds,
    mac_text,
)

log = logging.getLogger(__name__)


@dataclass
class PortOutput:
    """Frames to send on the port now, and VDP payloads to answer."""

    frames: list[bytes] = field(default_factory=list)
    vdp: list[VdpPdu] = field(default_factory=list)


class StationPort:
    """The bridge side of EVB, ECP and VDP framing on one port."""

    def __init__(self, identity: BridgeIdentity, policy: EvbTlv, aging_time: float,
                 first_seqno: int = 1) -> None:
        self.identity = identity
        self.policy = policy
        self.aging_time = aging_time
        self.evb = policy                       # what we advertise (negotiated)
        self.ecp = EcpEndpoint(EcpTiming.from_evb(policy.rte, policy.retries), first_seqno,
                               self._duplicate_window())
        self.station_mac: bytes | None = None
        self.station_evb: EvbTlv | None = None
        self._station_msap: tuple[int, bytes, int, bytes] | None = None
        self._station_expires = math.inf
        self._last_lldp_tx = -math.inf
        self._lldp_wanted = False               # send an LLDPDU as soon as allowed
        self._warned_rka: int | None = None
        self.where = f"switch={identity.system_name} port={identity.port}"

    # -- frames from the station --------------------------------------------------------------
    def receive(self, frame: EthernetFrame, now: float) -> PortOutput:
        """Handle an LLDP or ECP frame; VdpCodecError when it cannot be decoded."""
        if frame.ethertype == ETHERTYPE_LLDP:
            return self._on_lldp(frame, now)
        if frame.ethertype == ETHERTYPE_ECP:
            return self._on_ecp(frame, now)
        raise VdpCodecError(f"ethertype {frame.ethertype:#06x} is neither LLDP nor ECP")

    def _on_lldp(self, frame: EthernetFrame, now: float) -> PortOutput:
        pdu = decode_lldpdu(frame.payload)
        if pdu.ttl == 0:
            if self._station_msap == pdu.msap:
                log.info("%s station %s shut LLDP down", self.where, mac_text(frame.src))
                self._forget_station()
            return PortOutput(self.poll(now))
        if pdu.msap != self._station_msap:
            if self._station_msap is not None:
                log.info("%s a new station replaces the previous one", self.where)
                self._forget_station()
            self._station_msap = pdu.msap
            self._lldp_wanted = True
            log.info("%s LLDP neighbour %s (chassis %s)", self.where, mac_text(frame.src),
                     pdu.chassis_id.hex())
        self.station_mac = frame.src
        self._station_expires = now + pdu.ttl
        evb = pdu.evb()
        if evb is not None and evb.mode != EvbMode.STATION:
            log.warning("%s peer's EVB TLV says mode %d, not station: ignored", self.where,
                        evb.mode)
            evb = None
        if evb != self.station_evb:
            if evb is not None and self.station_evb is None:
                log.info("%s EVB station: R=%d RTE=%d RWD=%d RKA=%d", self.where, evb.retries,
                         evb.rte, evb.rwd, evb.rka)
            self.station_evb = evb
        self._renegotiate()
        return PortOutput(self.poll(now))

    def _on_ecp(self, frame: EthernetFrame, now: float) -> PortOutput:
        pdu = decode_ecpdu(frame.payload)
        self.station_mac = frame.src
        got = self.ecp.receive(pdu, now)
        out = PortOutput([self._ecp_frame(p) for p in got.transmit])
        if got.ack is not None:
            out.frames.insert(0, self._ecp_frame(got.ack))
        if got.duplicate:
            log.debug("%s ECP REQ seqno %d repeated: acknowledged again, not processed",
                      self.where, pdu.seqno)
        if got.deliver is None:
            return out
        if pdu.subtype != ECP_SUBTYPE_VDP:
            log.warning("%s ECP REQ seqno %d has subtype %d; only VDP (1) is served: "
                        "acknowledged and ignored", self.where, pdu.seqno, pdu.subtype)
            return out
        try:
            out.vdp.append(decode_vdp(got.deliver))
        except VdpCodecError as exc:
            log.warning("%s malformed VDP payload in ECP seqno %d from %s, dropped: %s",
                        self.where, pdu.seqno, mac_text(frame.src), exc)
        return out

    # -- our frames -----------------------------------------------------------------------------
    def send_vdp(self, pdu: VdpPdu, now: float) -> list[bytes]:
        """Queue a VDP payload as an ECP REQ; the frames to send now."""
        if self.station_mac is None:
            log.warning("%s no station known: VDP answer dropped", self.where)
            return []
        return [self._ecp_frame(p) for p in self.ecp.sender.submit(pdu.encode(), now)]

    def poll(self, now: float) -> list[bytes]:
        """Retransmissions due, the periodic or triggered LLDPDU, station expiry."""
        if self._station_msap is not None and now > self._station_expires:
            log.info("%s LLDP information of station %s expired", self.where,
                     mac_text(self.station_mac or b""))
            self._forget_station()
        frames = [self._ecp_frame(p) for p in self.ecp.sender.poll(now)]
        if now >= self._lldp_due():
            frames.append(self.lldp_frame())
            self._last_lldp_tx = now
            self._lldp_wanted = False
        return frames

    def deadline(self) -> float:
        """When `poll` next has something to do."""
        ecp = self.ecp.sender.deadline()
        return min(self._lldp_due(), self._station_expires, math.inf if ecp is None else ecp)

    def _lldp_due(self) -> float:
        """Our LLDPDUs go to a port while an LLDP neighbour is there: at once when it appears
        or what we negotiate changes (at most once a second), else every 30 s."""
        if self._station_msap is None:
            return math.inf
        return self._last_lldp_tx + (LLDP_FAST_TX if self._lldp_wanted else LLDP_TX_INTERVAL)

    def lldp_frame(self, ttl: int | None = None) -> bytes:
        """Our LLDPDU with the EVB TLV (ttl 0: shutdown)."""
        pdu = self.identity.lldpdu(self.evb) if ttl is None else self.identity.lldpdu(self.evb, ttl)
        return EthernetFrame(NEAREST_CUSTOMER_BRIDGE, self.identity.chassis_mac, ETHERTYPE_LLDP,
                             pdu.encode()).encode()

    def _ecp_frame(self, pdu: Ecpdu) -> bytes:
        dst = self.station_mac if self.station_mac is not None else NEAREST_CUSTOMER_BRIDGE
        if pdu.op == EcpOp.REQUEST:
            log.debug("%s ECP REQ seqno %d (%d bytes)", self.where, pdu.seqno, len(pdu.payload))
        return EthernetFrame(dst, self.identity.chassis_mac, ETHERTYPE_ECP, pdu.encode()).encode()

    # -- state ----------------------------------------------------------------------------------
    def _renegotiate(self) -> None:
        evb = negotiate(self.policy, self.station_evb)
        if evb == self.evb:
            return
        before, self.evb = self.evb, evb
        self._lldp_wanted = True
        self.ecp.sender.timing = EcpTiming.from_evb(evb.rte, evb.retries)
        self.ecp.receiver.duplicate_window = self._duplicate_window()
        if _timers(evb) != _timers(before):
            log.info("%s EVB %s: ECP ack timeout %.3f s x %d retries, VDP keep-alive every "
                     "%.1f s", self.where,
                     "negotiated" if self.station_evb is not None else "back to our policy",
                     exponent_seconds(evb.rte), evb.retries, exponent_seconds(evb.rka))
        if keepalive_timeout(evb.rte, evb.retries, evb.rka) > self.aging_time \
                and self._warned_rka != evb.rka:
            self._warned_rka = evb.rka
            log.warning("%s the station keeps VSIs alive every %.1f s (RKA %d), too rarely for "
                        "the controller's aging time of %.1f s: its VMs will age out; lower "
                        "the station's vdprka or raise aging_time", self.where,
                        exponent_seconds(evb.rka), evb.rka, self.aging_time)

    def _duplicate_window(self) -> float:
        """Longer than a station's retransmissions of one REQ can last."""
        evb = self.evb
        return max(1.0, 2 * (evb.retries + 1) * exponent_seconds(evb.rte))

    def _forget_station(self) -> None:
        self._station_msap = None
        self._station_expires = math.inf
        self.station_evb = None
        self.ecp.reset()
        self._renegotiate()


def _timers(evb: EvbTlv) -> tuple[int, int, int, int]:
    return (evb.retries, evb.rte, evb.rwd, evb.rka)
