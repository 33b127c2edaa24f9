"""The bridge's side of the EVB TLV: policy, negotiation with the station, LLDPDUs to send.

Each side advertises its own timer exponents; both then use the larger of the two values
(IEEE 802.1Qbg-2012 6.6.2, as lldpad does it), and the ROL bit next to RWD and RKA says the value
came from the peer. The bridge copies the station's status octet and turns reflective relay on
when the station requests it and the bridge is capable (the NVE is not: it never hairpins).

Timer choice (10 us * 2**e):

* RTE 14 (164 ms): how long the station waits for our ECP ACK before it retransmits. The ACK
  travels switch -> P4Runtime packet-in -> controller -> packet-out; the station's own default
  (8, 2.56 ms) is shorter than that round trip.
* RWD 17 (1.3 s): the longest we take to answer a VDP request (table writes on every switch).
* RKA: the station keeps an association alive by repeating it every 10 us * 2**RKA. We advertise
  the largest exponent (at most 20, the lldpad default of 10.5 s) whose keep-alive timeout
  (41.5.5.9: 1.5 * ((1 + 2R) * RTE time + RKA time)) fits the controller's aging time, so a
  station that follows us is never aged out while it lives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from controlplane.signalling.vdp.wire import (
    BridgeStatus,
    ChassisIdSubtype,
    EvbMode,
    EvbTlv,
    Lldpdu,
    LldpTlv,
    LldpTlvType,
    PortIdSubtype,
    StationStatus,
    exponent_seconds,
)

BRIDGE_RTE = 14
BRIDGE_RWD = 17
BRIDGE_RETRIES = 3
MAX_RKA = 20
LLDP_TX_INTERVAL = 30.0         # msgTxInterval
LLDP_TX_HOLD = 4                # TTL = hold * interval
LLDP_FAST_TX = 1.0              # at most one triggered LLDPDU per second per port


def keepalive_timeout(rte: int, retries: int, rka: int) -> float:
    """The bridge's keep-alive timeout of IEEE 802.1Qbg-2012 41.5.5.9, in seconds."""
    return 1.5 * ((1 + 2 * retries) * exponent_seconds(rte) + exponent_seconds(rka))


def keepalive_exponent(aging_time: float, rte: int = BRIDGE_RTE,
                       retries: int = BRIDGE_RETRIES) -> int:
    """The largest RKA (<= 20) whose keep-alive timeout fits within `aging_time` (at least 0)."""
    best = 0
    for rka in range(MAX_RKA + 1):
        if keepalive_timeout(rte, retries, rka) <= aging_time:
            best = rka
    return best


def bridge_policy(aging_time: float) -> EvbTlv:
    """What this bridge advertises before it has heard a station."""
    return EvbTlv(mode=EvbMode.BRIDGE, bridge_status=0, station_status=0,
                  retries=BRIDGE_RETRIES, rte=BRIDGE_RTE, rwd=BRIDGE_RWD,
                  rka=keepalive_exponent(aging_time))


def negotiate(policy: EvbTlv, station: EvbTlv | None) -> EvbTlv:
    """The EVB TLV the bridge sends, given its policy and the station's last TLV (if any)."""
    if station is None:
        return policy
    bridge_status = policy.bridge_status
    if station.station_status & StationStatus.RRREQ and policy.bridge_status & BridgeStatus.RRCAP:
        bridge_status |= BridgeStatus.RRCTR
    return replace(
        policy,
        bridge_status=bridge_status,
        station_status=station.station_status,
        retries=max(policy.retries, station.retries),
        rte=max(policy.rte, station.rte),
        rwd=max(policy.rwd, station.rwd),
        rwd_remote=station.rwd >= policy.rwd,
        rka=max(policy.rka, station.rka),
        rka_remote=station.rka >= policy.rka,
    )


@dataclass(frozen=True, slots=True)
class BridgeIdentity:
    """How the bridge names itself in LLDP on one port."""

    chassis_mac: bytes
    system_name: str
    port: int

    def lldpdu(self, evb: EvbTlv, ttl: int = int(LLDP_TX_INTERVAL * LLDP_TX_HOLD)) -> Lldpdu:
        """An LLDPDU carrying `evb`; TTL 0 announces a shutdown."""
        return Lldpdu(
            chassis_subtype=ChassisIdSubtype.MAC_ADDRESS, chassis_id=self.chassis_mac,
            port_subtype=PortIdSubtype.LOCAL, port_id=str(self.port).encode(), ttl=ttl,
            tlvs=(LldpTlv(LldpTlvType.SYSTEM_NAME, self.system_name.encode()[:255]), evb.tlv()))
