"""The VDP agent: the NVE as an IEEE 802.1Qbg EVB bridge on every access port of every switch.

Frames travel through the switches: the data plane punts LLDP (0x88CC) and ECP (0x8940) to the
CPU port, the agent reads them as P4Runtime packet-ins (the ingress port in the metadata) and
answers with packet-outs on that port. Per port (`signalling.vdp.port.StationPort`) it speaks
LLDP with the EVB TLV and ECP; every VSI TLV a station sends becomes the same typed request the
gRPC API makes (`signalling.vdp.translate`) and goes to `NveService.signal` - one code path
below the codecs - and the answer goes back as a VSI TLV.

Who is asking: a VDP station has no certificate. The hypervisor is the one the configuration
attaches to (switch, ingress port); on a port no hypervisor owns, requests are made on behalf of
"<switch>:port<N>", which the service refuses (FAILED_AUTHORIZATION).

Keep-alive and aging: the station repeats each association every RKA period; the repetition is
an ordinary repeated request (SUCCESS, no table write) that refreshes the VM's timer, and the
service's aging terminates VMs whose station fell silent. When the NVE ends or changes a VDP
VM on its own (aged out, displaced by a migration, VID changed by an operator) the agent tells
the station with an unsolicited De-Associate.

ECP ACKs go out before anything else is done with a request; requests of one port are answered
in order, ports independently. The agent follows each switch agent's client across reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable

from controlplane.config import ControllerConfig
from controlplane.lifecycle import Event
from controlplane.p4rt.errors import P4ConnectionError, P4RuntimeRpcError, P4ValueError
from controlplane.p4rt.stream import PacketIn
from controlplane.service import NveService
from controlplane.signalling.messages import (
    Answer,
    FailReason,
    NotificationKind,
    VmRefRequest,
    VmRequest,
)
from controlplane.signalling.vdp.evb import BridgeIdentity, bridge_policy
from controlplane.signalling.vdp.port import StationPort
from controlplane.signalling.vdp.translate import (
    VdpRefusal,
    check_manager,
    describe,
    error_for,
    is_response,
    manager_id,
    manager_text,
    response,
    status_for,
    to_request,
)
from controlplane.signalling.vdp.wire import (
    BadVsiTlv,
    VdpCodecError,
    VdpError,
    VdpPdu,
    VdpTlv,
    VdpTlvType,
    VsiIdFormat,
    VsiTlv,
    decode_ethernet,
    exponent_seconds,
    mac_text,
)
from controlplane.switch_agent import SwitchAgent

log = logging.getLogger(__name__)

PortKey = tuple[str, int]           # (switch, access port)
TICK = 0.02                         # resolution of ECP retransmission and LLDP timers
ENDED_BY_NVE = (NotificationKind.AGED_OUT, NotificationKind.DISPLACED,
                NotificationKind.VID_CHANGED)


class VdpAgent:
    """Runs VDP on all access ports until cancelled: `await agent.run()`."""

    def __init__(self, cfg: ControllerConfig, service: NveService, *,
                 clock: Callable[[], float] = time.monotonic, tick: float = TICK,
                 rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.service = service
        self.clock = clock
        self.tick = tick
        rng = rng or random.Random()
        self.policy = policy = bridge_policy(cfg.aging_time)
        self.ports: dict[PortKey, StationPort] = {
            (sw.name, p): StationPort(BridgeIdentity(sw.router_mac.to_bytes(6, "big"), sw.name, p),
                                      policy, cfg.aging_time, first_seqno=rng.randrange(1, 0x10000))
            for sw in cfg.switches for p in sw.access_ports}
        self.hypervisor_of: dict[PortKey, str] = {
            (hv.switch, p): hv.name for hv in cfg.hypervisors for p in hv.ports}
        self.vsis: dict[PortKey, dict[str, VsiTlv]] = {key: {} for key in self.ports}
        """The last successful answer per VM, for each port: what the station holds."""
        self.stats: Counter[str] = Counter()
        self._queues: dict[PortKey, asyncio.Queue[VdpPdu]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Receive, answer and time out on every switch until cancelled."""
        switches = sorted({sw for sw, _ in self.ports})
        self._tasks = [asyncio.create_task(self._receive(sw), name=f"vdp-rx-{sw}")
                       for sw in switches]
        self._tasks.append(asyncio.create_task(self._timers(), name="vdp-timers"))
        for name in sorted(set(self.hypervisor_of.values())):
            self._tasks.append(asyncio.create_task(self._watch(name), name=f"vdp-notes-{name}"))
        log.info("VDP bridge on %d access ports of %d switches: ECP RTE %d, VDP RWD %d, RKA %d "
                 "(keep-alive every %.1f s)", len(self.ports), len(switches), self.policy.rte,
                 self.policy.rwd, self.policy.rka, exponent_seconds(self.policy.rka))
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- switches ---------------------------------------------------------------------------------
    def _agent(self, switch: str) -> SwitchAgent | None:
        agent = self.service.agents.get(switch)
        if agent is None or not agent.connected or not agent.client.is_primary:
            return None
        return agent

    async def _receive(self, switch: str) -> None:
        """Read packet-ins of `switch`, following its agent's client across reconnects."""
        while True:
            agent = self._agent(switch)
            if agent is None:
                await asyncio.sleep(0.2)
                continue
            client = agent.client
            try:
                async for packet in client.packet_in():
                    try:
                        await self._on_packet(switch, packet)
                    except Exception:  # task boundary: one frame must not end VDP on a switch
                        log.exception("switch=%s VDP: frame from port %s not handled", switch,
                                      packet.metadata.get("ingress_port"))
            except P4ConnectionError as exc:
                log.info("switch=%s VDP: packet-in stream ended: %s", switch, exc)
            while agent.client is client and agent.connected:
                await asyncio.sleep(0.2)      # the switch agent notices and reconnects

    async def _send(self, switch: str, port: int, frames: list[bytes]) -> None:
        if not frames:
            return
        agent = self._agent(switch)
        if agent is None:
            log.debug("switch=%s port=%d: not connected as primary, %d frames not sent",
                      switch, port, len(frames))
            return
        for frame in frames:
            try:
                await agent.client.packet_out(frame, egress_port=port)
                self.stats["frames_out"] += 1
            except (P4ConnectionError, P4RuntimeRpcError, P4ValueError) as exc:
                log.warning("switch=%s port=%d: packet-out failed: %s", switch, port, exc)
                return

    async def _timers(self) -> None:
        """ECP retransmissions, periodic LLDPDUs, expiry of stations' LLDP information."""
        while True:
            await asyncio.sleep(self.tick)
            now = self.clock()
            for (switch, port_no), port in self.ports.items():
                if now >= port.deadline() and self._agent(switch) is not None:
                    await self._send(switch, port_no, port.poll(now))

    # -- frames from stations ---------------------------------------------------------------------
    async def _on_packet(self, switch: str, packet: PacketIn) -> None:
        port_no = packet.metadata.get("ingress_port", -1)
        port = self.ports.get((switch, port_no))
        if port is None:
            log.debug("switch=%s port=%s: control frame on a port that is not an access port "
                      "ignored", switch, port_no)
            return
        self.stats["frames_in"] += 1
        try:
            frame = decode_ethernet(packet.payload)
            out = port.receive(frame, self.clock())
        except VdpCodecError as exc:
            self.stats["malformed"] += 1
            log.warning("%s malformed frame from %s dropped: %s", port.where,
                        mac_text(packet.payload[6:12]), exc)
            return
        await self._send(switch, port_no, out.frames)       # the ECP ACK first
        for pdu in out.vdp:
            self._queue((switch, port_no)).put_nowait(pdu)

    def _queue(self, key: PortKey) -> asyncio.Queue[VdpPdu]:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._work(key, queue),
                                                   name=f"vdp-{key[0]}-{key[1]}"))
        return queue

    async def _work(self, key: PortKey, queue: asyncio.Queue[VdpPdu]) -> None:
        """Answer the VDP payloads of one port in order."""
        while True:
            pdu = await queue.get()
            try:
                answers = []
                for tlv in pdu.tlvs:
                    answer = await self._answer(key, pdu.manager_id, tlv)
                    if answer is not None:
                        answers.append(answer)
                if answers:
                    port = self.ports[key]
                    frames = port.send_vdp(VdpPdu(pdu.manager_id, tuple(answers)), self.clock())
                    await self._send(key[0], key[1], frames)
            except Exception:  # task boundary: one request must not end VDP on the port
                log.exception("%s VDP payload not answered", self.ports[key].where)

    # -- VSI requests -----------------------------------------------------------------------------
    async def _answer(self, key: PortKey, mgrid: bytes, tlv: VdpTlv) -> VdpTlv | None:
        """The answer to one TLV of a station's VDP payload (None: not answered)."""
        switch, port_no = key
        where = self.ports[key].where
        if isinstance(tlv, BadVsiTlv):
            self.stats["malformed"] += 1
            log.warning("%s malformed VSI TLV answered 'invalid format': %s", where, tlv.problem)
            if not tlv.body:
                return None
            status = status_for(VdpError.INVALID_FORMAT, kept=False)
            return BadVsiTlv(tlv.mode, bytes([status]) + tlv.body[1:], tlv.problem)
        if not isinstance(tlv, VsiTlv):
            log.debug("%s VDP TLV %r ignored (not a VSI TLV)", where, tlv)
            return None
        if is_response(tlv):
            log.warning("%s VSI TLV with the response bit set ignored: stations send requests",
                        where)
            return None
        identity = self.hypervisor_of.get(key, f"{switch}:port{port_no}")
        what = describe(tlv)
        vm_id = _vm_id(tlv)
        record = self.service.records.get((vm_id, identity)) if vm_id else None
        # lldpad keys a VSI by its type as well as its UUID: the record is "this VSI" only when
        # the type id is the record's VNI. Only then does a refusal keep the station's state
        # (keep bit), and only then may the station emigrate or de-associate it.
        same_vsi = record is not None and record.vni == tlv.type_id
        try:
            check_manager(mgrid, switch)
            request = to_request(tlv, nve=switch, port=port_no)
            if isinstance(request, VmRequest) and request.vn.vni is not None \
                    and self.cfg.vn_by_vni(request.vn.vni) is None:
                raise VdpRefusal(VdpError.UNABLE_TO_CONTACT_VSI_MANAGER,
                                 f"VSI type id {request.vn.vni} is the VNI of no VN here")
            if isinstance(request, VmRefRequest) and record is not None and not same_vsi:
                if request.event is Event.TERMINATE:
                    log.info("%s hypervisor=%s VDP %s -> SUCCESS (the VM is in VNI %d here: "
                             "nothing of type %d to remove)", where, identity, what, record.vni,
                             tlv.type_id)
                    return response(tlv, status_for(VdpError.SUCCESS, False))
                raise VdpRefusal(VdpError.OTHER_FAILURE, f"VM {vm_id} is in VNI {record.vni} "
                                 f"here, not {tlv.type_id}")
        except VdpRefusal as refusal:
            self.stats["refused"] += 1
            log.warning("%s hypervisor=%s VDP %s (manager %s) -> %s: %s", where, identity, what,
                        manager_text(mgrid), refusal.error.name, refusal.detail)
            return response(tlv, status_for(refusal.error, same_vsi))
        answer = await self.service.signal(identity, request)
        success = answer.success
        if not success and request.event is Event.TERMINATE \
                and answer.reason is FailReason.INVALID_REQUEST \
                and not any(vm == request.vm_id for vm, _ in self.service.records):
            success = True              # de-associating what is not here: nothing to do
        if success:
            return self._succeeded(key, identity, what, tlv, request.event, answer)
        self.stats["failed"] += 1
        if not same_vsi:
            self.vsis[key].pop(request.vm_id, None)
        error = error_for(answer)
        log.warning("%s hypervisor=%s VDP %s -> %s%s (%s: %s)", where, identity, what,
                    error.name, " keep" if same_vsi else "",
                    answer.reason.value if answer.reason else "", answer.detail)
        return response(tlv, status_for(error, same_vsi))

    def _succeeded(self, key: PortKey, identity: str, what: str, tlv: VsiTlv, event: Event,
                   answer: Answer) -> VsiTlv:
        """The SUCCESS answer; remember what the station now holds."""
        self.stats["answered"] += 1
        where = self.ports[key].where
        vm_id = tlv.vsi_id_text
        if event is Event.TERMINATE:
            self.vsis[key].pop(vm_id, None)
            log.info("%s hypervisor=%s VDP %s -> SUCCESS", where, identity, what)
            return response(tlv, status_for(VdpError.SUCCESS, False))
        answered = response(tlv, status_for(VdpError.SUCCESS, False), answer.vid, answer.pcp)
        repeat = self.vsis[key].get(vm_id) == answered
        self.vsis[key][vm_id] = answered
        if repeat:
            self.stats["keepalives"] += 1
        log.log(logging.DEBUG if repeat else logging.INFO,
                "%s hypervisor=%s VDP %s -> SUCCESS vid=%d pcp=%d state=%s%s", where, identity,
                what, answer.vid, answer.pcp, answer.state, " (keep-alive)" if repeat else "")
        return answered

    # -- NVE-initiated --------------------------------------------------------------------------
    async def _watch(self, hypervisor: str) -> None:
        """Tell stations about VDP VMs the NVE ended or changed on its own."""
        async for note in self.service.notifications(hypervisor):
            if note.kind not in ENDED_BY_NVE:
                continue
            for key, vsis in self.vsis.items():
                if self.hypervisor_of.get(key) != hypervisor or note.vm_id not in vsis:
                    continue
                last = vsis.pop(note.vm_id)
                notice = VsiTlv(VdpTlvType.DE_ASSOCIATE, 0, last.type_id, last.type_version,
                                last.id_format, last.vsi_id, last.filter_format, last.entries)
                log.info("%s VM %s %s: unsolicited De-Associate to the station",
                         self.ports[key].where, note.vm_id, note.kind.value)
                frames = self.ports[key].send_vdp(VdpPdu(manager_id(key[0]), (notice,)),
                                                  self.clock())
                await self._send(key[0], key[1], frames)


def _vm_id(tlv: VsiTlv) -> str | None:
    """The VM id a VSI TLV names, if it names one."""
    if tlv.id_format != VsiIdFormat.UUID or not any(tlv.vsi_id):
        return None
    return tlv.vsi_id_text
