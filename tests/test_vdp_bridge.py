"""The VDP bridge end to end, in process: a scripted station on access ports of two embedded
switches, frames punted to the controller and answered by packet-out, the same NVE service as
the gRPC API underneath."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from controller_lab import lab, vm_frame
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from controlplane.lifecycle import Event
from controlplane.signalling.messages import VmRequest, VmView, VnSelector, parse_mac
from controlplane.signalling.vdp.translate import manager_id
from controlplane.signalling.vdp.wire import (
    ETHERTYPE_ECP,
    ETHERTYPE_LLDP,
    FilterEntry,
    FilterFormat,
    LldpTlv,
    VdpError,
    VdpPdu,
    VdpTlvType,
    VsiIdFormat,
    VsiStatus,
    VsiTlv,
    decode_vdp,
)

sys.path.insert(0, str(Path(__file__).parent / "data" / "vdp"))
from station import Station, assigned_vid, error_of, vsi

VM_A = "11111111-1111-1111-1111-111111111111"
VM_B = "22222222-2222-2222-2222-222222222222"
VM_C = "33333333-3333-3333-3333-333333333333"
MAC_A, MAC_B, MAC_C = "52:54:00:00:00:0a", "52:54:00:00:00:0b", "52:54:00:00:00:0c"
PRE, RR, ASSOC, DEASSOC = (VdpTlvType.PRE_ASSOCIATE, VdpTlvType.PRE_ASSOCIATE_RR,
                           VdpTlvType.ASSOCIATE, VdpTlvType.DE_ASSOCIATE)


def writes(net) -> int:
    return sum(a.stats.updates for a in net.service.agents.values())


async def vms(net) -> dict[str, VmView]:
    return {v.vm_id: v for v in await net.service.list_vms()}


async def test_lldp_evb_is_answered_through_the_switch(tmp_path: Path) -> None:
    async with lab(tmp_path, aging_time=8.0) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1)
        station.lldp()
        (frame,) = await station.collect(until=3.0, ethertype=ETHERTYPE_LLDP)
        assert frame.dst == bytes.fromhex("0180c2000000")
        assert frame.src == bytes.fromhex("020000000101")          # nve1's router MAC
        (pdu,) = station.bridge_lldp()
        evb = pdu.evb()
        assert evb is not None and evb.mode == 1                  # bridge
        assert (evb.rte, evb.rka, evb.station_status) == (14, 18, 3)
        assert LldpTlv(5, b"nve1") in pdu.tlvs                     # system name
        quiet = Station(net.switches["nve1"], 2)
        assert await quiet.collect(until=0.3) == []                # no neighbour, no LLDP


async def test_vdp_lifecycle_with_packets(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1)
        station.lldp()
        async with net.client("hv2") as hv2:
            b = await hv2.signal(VmRequest(Event.ASSOCIATE, VM_B, VnSelector(name="blue"),
                                           macs=(parse_mac(MAC_B),), nve="nve2", port=1))
        (pre,) = await station.request(vsi(PRE, VM_A, MAC_A))
        assert error_of(pre) == 0 and pre.status == VsiStatus.RESPONSE
        vid = assigned_vid(pre)                                    # VID 0 asked: REQ-4
        assert 2 <= vid <= 4094 and pre.mode == PRE
        assert await net.send("nve1", 1, vm_frame(MAC_A, MAC_B, vid)) == {}   # not active yet

        (asso,) = await station.request(vsi(ASSOC, VM_A, MAC_A, vid=vid))
        assert error_of(asso) == 0 and assigned_vid(asso) == vid
        listed = await vms(net)
        assert listed[VM_A].origin == "vdp" and listed[VM_A].state == "associated"
        assert listed[VM_B].origin == "grpc"
        out = await net.send("nve1", 1, vm_frame(MAC_A, MAC_B, vid))
        (vxlan,) = out[("nve1", 4)]
        assert Ether(vxlan)[VXLAN].vni == 5001
        (delivered,) = out[("nve2", 1)]
        assert Ether(delivered)[Dot1Q].vlan == b.vid

        before = writes(net)
        for _ in range(3):                                         # the station's keep-alives
            (again,) = await station.request(vsi(ASSOC, VM_A, MAC_A, vid=vid))
            assert error_of(again) == 0 and assigned_vid(again) == vid
        assert writes(net) == before                               # nothing written

        (gone,) = await station.request(vsi(DEASSOC, VM_A, MAC_A, vid=vid))
        assert gone.mode == DEASSOC and gone.status == VsiStatus.RESPONSE
        assert VM_A not in await vms(net)
        assert await net.send("nve1", 1, vm_frame(MAC_A, MAC_B, vid)) == {}
        (again,) = await station.request(vsi(DEASSOC, VM_A, MAC_A, vid=vid))
        assert error_of(again) == 0                                 # nothing left to remove


async def test_reservation_hints_and_several_vsis_in_one_pdu(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        st1 = Station(net.switches["nve1"], 1)
        st2 = Station(net.switches["nve2"], 1, mac=bytes.fromhex("525400aa0002"),
                      manager=manager_id("nve2"))
        rr, asso = await st1.request(vsi(RR, VM_A, MAC_A), vsi(ASSOC, VM_C, MAC_C))
        assert error_of(rr) == 0 and error_of(asso) == 0
        assert (await vms(net))[VM_A].state == "pre-associated"
        vid = assigned_vid(rr)
        (a,) = await st1.request(vsi(ASSOC, VM_A, MAC_A, vid=vid))
        assert error_of(a) == 0

        # The VM moves to nve2: its new station pre-associates and associates with M set.
        (imm_pre,) = await st2.request(vsi(PRE, VM_A, MAC_A, hints=VsiStatus.M))
        assert error_of(imm_pre) == 0 and imm_pre.status == VsiStatus.RESPONSE  # M cleared
        (imm,) = await st2.request(vsi(ASSOC, VM_A, MAC_A, vid=assigned_vid(imm_pre),
                                       hints=VsiStatus.M))
        assert error_of(imm) == 0
        states = {(v.vm_id, v.nve): v.state for v in await net.service.list_vms()}
        assert states[(VM_A, "nve2")] == "associated"
        assert states[(VM_A, "nve1")] == "associated (emigrated)"
        # nve1's station is told its VSI is gone: an unsolicited De-Associate (no response bit).
        await st1.collect(until=2.0, want=1, ethertype=ETHERTYPE_ECP)
        notice = decode_vdp(st1.bridge_reqs[-1].payload)
        (tlv,) = notice.tlvs
        assert isinstance(tlv, VsiTlv) and tlv.mode == DEASSOC and tlv.status == 0
        assert tlv.vsi_id == a.vsi_id and tlv.entries == a.entries

        # S bit: the VM on nve2 is leaving (emigration keeps it, inactive).
        (em,) = await st2.request(vsi(ASSOC, VM_A, MAC_A, vid=assigned_vid(imm),
                                      hints=VsiStatus.S))
        assert error_of(em) == 0
        states = {(v.vm_id, v.nve): v.state for v in await net.service.list_vms()}
        assert states[(VM_A, "nve2")] == "associated (emigrated)"


async def test_refusals_carry_vdp_errors_and_change_nothing(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        st1 = Station(net.switches["nve1"], 1)
        (a,) = await st1.request(vsi(ASSOC, VM_A, MAC_A))
        assert error_of(a) == 0
        tables = await net.service.read_tables("nve1", None)
        before = writes(net)

        hv3 = Station(net.switches["nve1"], 2)                      # hv3 may join red only
        (no_vn,) = await hv3.request(vsi(ASSOC, VM_C, MAC_C, vni=5001))
        assert no_vn.status == VsiStatus.RESPONSE | VdpError.OTHER_FAILURE
        stranger = Station(net.switches["nve1"], 3)                 # no hypervisor on port 3
        (who,) = await stranger.request(vsi(ASSOC, VM_C, MAC_C))
        assert error_of(who) == VdpError.OTHER_FAILURE
        (unknown_type,) = await st1.request(vsi(ASSOC, VM_C, MAC_C, vni=7777))
        assert error_of(unknown_type) == VdpError.UNABLE_TO_CONTACT_VSI_MANAGER
        st1.manager = manager_id("nve2")
        (other_mgr,) = await st1.request(vsi(ASSOC, VM_C, MAC_C))
        assert error_of(other_mgr) == VdpError.UNABLE_TO_CONTACT_VSI_MANAGER
        st1.manager = manager_id("nve1")
        (mac_taken,) = await st1.request(vsi(ASSOC, VM_C, MAC_A))
        assert error_of(mac_taken) == VdpError.INVALID_VID_GROUP_MAC
        (vid_taken,) = await st1.request(vsi(ASSOC, VM_C, MAC_C, vid=assigned_vid(a)))
        assert error_of(vid_taken) == VdpError.INVALID_VID_GROUP_MAC
        (reserved,) = await st1.request(vsi(ASSOC, VM_C, MAC_C, vid=1))
        assert error_of(reserved) == VdpError.INVALID_VID_GROUP_MAC
        ipv4_id = VsiTlv(ASSOC, 0, 5001, 1, VsiIdFormat.IPV4, bytes(10) + b"\xff\xff\x0a\0\0\1",
                         FilterFormat.MAC_VID, (FilterEntry(0, mac=bytes.fromhex("525400000099")),))
        (by_ip,) = await st1.request(ipv4_id)
        assert error_of(by_ip) == VdpError.INVALID_FORMAT
        # The VSI is here already: a request the NVE refuses keeps its state (keep bit) ...
        (bad_vid,) = await st1.request(vsi(ASSOC, VM_A, MAC_A, vid=1))
        assert bad_vid.status == (VsiStatus.RESPONSE | VsiStatus.KEEP
                                  | VdpError.INVALID_VID_GROUP_MAC)
        # ... but the same UUID with another type id is another VSI to the station: no keep,
        # and it can neither emigrate nor de-associate the VM of the first one.
        (move_vn,) = await st1.request(vsi(ASSOC, VM_A, MAC_A, vni=5002, vid=assigned_vid(a)))
        assert move_vn.status == VsiStatus.RESPONSE | VdpError.OTHER_FAILURE
        (other_type,) = await st1.request(vsi(ASSOC, VM_A, MAC_A, vni=5002, hints=VsiStatus.S))
        assert other_type.status == VsiStatus.RESPONSE | VdpError.OTHER_FAILURE
        (not_that,) = await st1.request(vsi(DEASSOC, VM_A, MAC_A, vni=5002))
        assert not_that.status == VsiStatus.RESPONSE
        (emigrate_unknown,) = await st1.request(vsi(ASSOC, VM_C, MAC_C, hints=VsiStatus.S))
        assert emigrate_unknown.status == VsiStatus.RESPONSE | VdpError.OTHER_FAILURE

        assert writes(net) == before
        assert (await net.service.read_tables("nve1", None)).rows == tables.rows
        assert set(await vms(net)) == {VM_A}
        assert (await vms(net))[VM_A].state == "associated"


async def test_malformed_frames_are_logged_never_fatal(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1)
        station.inject(ETHERTYPE_LLDP, b"\x02\x07\x04")             # truncated LLDPDU
        station.inject(ETHERTYPE_ECP, b"\x20\x01\x00\x01")          # ECP version 2
        seqno = station.ecp_req(b"\x0a\x10" + bytes(16) + b"\x06\x40")   # TLV runs past the end
        got = await station.collect(until=2.0, ethertype=ETHERTYPE_ECP)
        assert len(got) == 1 and station.bridge_reqs == []          # ACKed, nothing answered
        good = vsi(ASSOC, VM_A, MAC_A).encode()
        bad_len = good[:25] + b"\x00\x09" + good[27:]           # 9 entries claimed, 1 there
        seqno = station.ecp_req(VdpPdu(station.manager).encode()[:-2] + bad_len)
        (answer,) = decode_vdp(  # the malformed VSI TLV comes back "invalid format"
            await _answer_payload(station, seqno)).tlvs
        assert answer.encode()[2] == VsiStatus.RESPONSE | VdpError.INVALID_FORMAT
        assert answer.encode()[3:] == bad_len[3:]                   # echoed as it was
        assert "LLDPDU has 1 TLVs" in caplog.text
        assert "ECP version 2" in caplog.text
        assert "claims 64 bytes" in caplog.text
        assert "9 MAC_VID entries make it 97" in caplog.text
        (ok,) = await station.request(vsi(ASSOC, VM_A, MAC_A))      # still serving
        assert error_of(ok) == 0
        assert await net.service.list_vms() != []


async def _answer_payload(station: Station, seqno: int) -> bytes:
    """The VDP payload the bridge sent back for the station's REQ `seqno`."""
    before = len(station.bridge_reqs)
    for _ in range(100):
        await station.collect(until=0.05)
        if len(station.bridge_reqs) > before:
            return station.bridge_reqs[-1].payload
    raise AssertionError(f"no answer to ECP seqno {seqno}")


async def test_retransmissions_are_acked_but_answered_once(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1)
        payload = VdpPdu(station.manager, (vsi(ASSOC, VM_A, MAC_A),)).encode()
        seqno = station.ecp_req(payload)
        for _ in range(3):                                          # our ACK was "late"
            station.ecp_req(payload, seqno=seqno)
        await station.collect(until=1.5, want=5, ethertype=ETHERTYPE_ECP)
        acks = [r for r in station.received if r.ethertype == ETHERTYPE_ECP
                and r.payload[0:2] == b"\x14\x01"]
        assert len(acks) == 4                                       # every copy acknowledged
        assert len(station.bridge_reqs) == 1                        # answered once
        assert net.controller is not None


async def test_unacknowledged_answers_are_retransmitted(tmp_path: Path) -> None:
    async with lab(tmp_path) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1, auto_ack=False)
        station.lldp()
        seqno = station.ecp_req(VdpPdu(station.manager, (vsi(ASSOC, VM_A, MAC_A),)).encode())
        await station.collect(until=1.5, want=6, ethertype=ETHERTYPE_ECP)
        reqs = station.bridge_reqs
        assert len(reqs) == 4 and len({r.seqno for r in reqs}) == 1  # 1 + 3 retries (R=3)
        assert [decode_vdp(r.payload) for r in reqs[1:]] == [decode_vdp(reqs[0].payload)] * 3
        assert seqno in [int.from_bytes(f.payload[2:4], "big") for f in station.received
                         if f.payload[0:2] == b"\x14\x01"]      # the station's REQ was ACKed
        station.auto_ack = True
        (again,) = await station.request(vsi(ASSOC, VM_A, MAC_A))  # the next one, new seqno
        assert error_of(again) == 0 and station.bridge_reqs[-1].seqno != reqs[0].seqno


async def test_keepalives_hold_silence_ages_out_with_a_deassociate(tmp_path: Path) -> None:
    async with lab(tmp_path, aging_time=2.0) as net, net.running_controller():
        station = Station(net.switches["nve1"], 1)
        (a,) = await station.request(vsi(ASSOC, VM_A, MAC_A))
        for _ in range(6):                                          # 3 s of keep-alives
            await asyncio.sleep(0.5)
            (again,) = await station.request(vsi(ASSOC, VM_A, MAC_A, vid=assigned_vid(a)))
            assert error_of(again) == 0
        assert VM_A in await vms(net)
        for _ in range(40):                                         # then silence
            await asyncio.sleep(0.1)
            if VM_A not in await vms(net):
                break
        assert VM_A not in await vms(net)
        await station.collect(until=2.0, want=1, ethertype=ETHERTYPE_ECP)
        (notice,) = decode_vdp(station.bridge_reqs[-1].payload).tlvs
        assert isinstance(notice, VsiTlv) and notice.mode == DEASSOC and notice.status == 0


async def test_agent_follows_a_restarted_switch(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with lab(tmp_path) as net, net.running_controller():
        from softswitch.ports import MemoryPorts
        from softswitch.server.runtime import SoftSwitch
        agent = net.service.agents["nve1"]
        old = net.switches["nve1"]
        port = old.grpc_port
        client = agent.client
        await old.stop()
        fresh = SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                           grpc_addr=f"127.0.0.1:{port}")
        await fresh.start()
        net.switches["nve1"] = fresh
        for _ in range(100):
            await asyncio.sleep(0.1)
            if agent.connected and agent.client is not client:
                break
        station = Station(fresh, 1)
        (a,) = await station.request(vsi(ASSOC, VM_A, MAC_A), until=5.0)
        assert error_of(a) == 0
