"""A scripted EVB station for the in-process tests: it plays lldpad's part on the wire.

It injects LLDP and ECP frames into an access port of an embedded switch (MemoryPorts) and reads
what the controller sends back out of that port through packet-out.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from controlplane.signalling.vdp.translate import manager_id
from controlplane.signalling.vdp.wire import (
    ETHERTYPE_ECP,
    ETHERTYPE_LLDP,
    NEAREST_CUSTOMER_BRIDGE,
    ChassisIdSubtype,
    Ecpdu,
    EcpOp,
    EthernetFrame,
    EvbMode,
    EvbTlv,
    FilterEntry,
    FilterFormat,
    Lldpdu,
    PortIdSubtype,
    VdpPdu,
    VdpTlvType,
    VsiIdFormat,
    VsiStatus,
    VsiTlv,
    decode_ecpdu,
    decode_ethernet,
    decode_lldpdu,
    decode_vdp,
)
from softswitch.server.runtime import SoftSwitch

STATION_EVB = EvbTlv(mode=EvbMode.STATION, station_status=0x3, retries=3, rte=8, rwd=20, rka=17)


def vsi(mode: VdpTlvType, vm_id: str, mac: str, vni: int = 5001, vid: int = 0,
        hints: int = 0, macs: tuple[str, ...] = ()) -> VsiTlv:
    """A station's VSI TLV with a MAC/VID filter (one entry per MAC)."""
    entries = tuple(FilterEntry(vid=vid, mac=bytes.fromhex(m.replace(":", "")))
                    for m in (mac, *macs))
    return VsiTlv(mode, hints, vni, 1, VsiIdFormat.UUID, uuid.UUID(vm_id).bytes,
                  FilterFormat.MAC_VID, entries)


@dataclass
class Station:
    """The station on (switch, port): its MAC, sequence numbers and what it received."""

    switch: SoftSwitch
    port: int
    mac: bytes = bytes.fromhex("525400aa0001")
    seqno: int = 0
    manager: bytes = field(default_factory=lambda: manager_id("nve1"))
    received: list[EthernetFrame] = field(default_factory=list)
    acks_sent: list[int] = field(default_factory=list)
    bridge_reqs: list[Ecpdu] = field(default_factory=list)
    auto_ack: bool = True

    def inject(self, ethertype: int, payload: bytes, dst: bytes = NEAREST_CUSTOMER_BRIDGE) -> None:
        """Send a frame into the switch port."""
        frame = EthernetFrame(dst, self.mac, ethertype, payload).encode()
        self.switch.ports.inject(self.port, frame)  # type: ignore[attr-defined]

    def lldp(self, evb: EvbTlv | None = STATION_EVB, ttl: int = 120) -> None:
        """An LLDPDU with (or without) the station's EVB TLV."""
        pdu = Lldpdu(ChassisIdSubtype.MAC_ADDRESS, self.mac, PortIdSubtype.MAC_ADDRESS, self.mac,
                     ttl, (evb.tlv(),) if evb else ())
        self.inject(ETHERTYPE_LLDP, pdu.encode())

    def ecp_req(self, payload: bytes, seqno: int | None = None) -> int:
        """An ECP REQ (a fresh sequence number unless one is given)."""
        if seqno is None:
            self.seqno = (self.seqno + 1) & 0xFFFF or 1
            seqno = self.seqno
        self.inject(ETHERTYPE_ECP, Ecpdu(EcpOp.REQUEST, seqno, payload).encode())
        return seqno

    async def collect(self, until: float = 2.0, want: int = 1,
                      ethertype: int | None = None) -> list[EthernetFrame]:
        """Frames out of the port (acking the bridge's ECP REQs) until `want` arrived."""
        got: list[EthernetFrame] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline:
            await self.switch.settle()
            for raw in self.switch.ports.take(self.port):  # type: ignore[attr-defined]
                frame = decode_ethernet(raw)
                self.received.append(frame)
                if frame.ethertype == ETHERTYPE_ECP:
                    pdu = decode_ecpdu(frame.payload)
                    if pdu.op == EcpOp.REQUEST:
                        self.bridge_reqs.append(pdu)
                        if self.auto_ack:
                            self.inject(ETHERTYPE_ECP, pdu.ack().encode(), dst=frame.src)
                            self.acks_sent.append(pdu.seqno)
                if ethertype is None or frame.ethertype == ethertype:
                    got.append(frame)
            if len(got) >= want:
                break
            await asyncio.sleep(0.01)
        return got

    async def request(self, *tlvs: VsiTlv, until: float = 3.0) -> list[VsiTlv]:
        """Send a VDP payload; the VSI TLVs of the bridge's answer (after its ECP ACK)."""
        seqno = self.ecp_req(VdpPdu(self.manager, tlvs).encode())
        return await self.answer(seqno, until)

    async def answer(self, seqno: int, until: float = 3.0) -> list[VsiTlv]:
        """Wait for the ACK of `seqno` and the bridge's REQ; its VSI TLVs."""
        acked = False
        before = len(self.bridge_reqs)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline:
            for frame in await self.collect(0.2, want=1, ethertype=ETHERTYPE_ECP):
                pdu = decode_ecpdu(frame.payload)
                acked = acked or (pdu.op == EcpOp.ACK and pdu.seqno == seqno)
            if acked and len(self.bridge_reqs) > before:
                reply = decode_vdp(self.bridge_reqs[-1].payload)
                assert reply.manager_id == self.manager
                return [t for t in reply.tlvs if isinstance(t, VsiTlv)]
        raise AssertionError(f"no ACK/answer for ECP seqno {seqno} (acked={acked})")

    def bridge_lldp(self) -> list[Lldpdu]:
        """LLDPDUs the bridge has sent so far."""
        return [decode_lldpdu(f.payload) for f in self.received if f.ethertype == ETHERTYPE_LLDP]


def assigned_vid(answer: VsiTlv) -> int:
    """The VID the bridge put in the answer's filter."""
    (vid,) = {e.vid for e in answer.entries}
    return vid


def error_of(answer: VsiTlv) -> int:
    """The answer's error type (0: success)."""
    return answer.status & VsiStatus.ERROR_MASK
