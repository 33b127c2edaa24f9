"""VSI TLV -> NVE request, answer -> VSI TLV: the VDP mapping of the draft's messages."""

from __future__ import annotations

import uuid

import pytest

from controlplane.lifecycle import Event
from controlplane.model import Origin
from controlplane.signalling.messages import (
    Answer,
    FailReason,
    VmRefRequest,
    VmRequest,
    VnSelector,
)
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
    FilterEntry,
    FilterFormat,
    VdpError,
    VdpTlvType,
    VsiIdFormat,
    VsiStatus,
    VsiTlv,
)

VM = "5f0c3f9e-6a57-4c2b-9d1e-3e8f2f6b7a10"
MAC = bytes.fromhex("525400123456")
MAC2 = bytes.fromhex("525400123457")


def vsi(mode: VdpTlvType = VdpTlvType.ASSOCIATE, status: int = 0, vid: int = 0,
        type_id: int = 5001, entries: tuple[FilterEntry, ...] | None = None,
        id_format: VsiIdFormat = VsiIdFormat.UUID, vsi_id: bytes | None = None,
        filter_format: FilterFormat = FilterFormat.MAC_VID) -> VsiTlv:
    return VsiTlv(mode, status, type_id, 3, id_format,
                  uuid.UUID(VM).bytes if vsi_id is None else vsi_id, filter_format,
                  (FilterEntry(vid=vid, mac=MAC),) if entries is None else entries)


@pytest.mark.parametrize(("mode", "hints", "event"), [
    (VdpTlvType.PRE_ASSOCIATE, 0, Event.PRE_ASSOCIATE),
    (VdpTlvType.PRE_ASSOCIATE_RR, 0, Event.PRE_ASSOCIATE),
    (VdpTlvType.ASSOCIATE, 0, Event.ASSOCIATE),
    (VdpTlvType.PRE_ASSOCIATE, VsiStatus.M, Event.IMMIGRATE_PRE_ASSOCIATE),
    (VdpTlvType.PRE_ASSOCIATE_RR, VsiStatus.M, Event.IMMIGRATE_PRE_ASSOCIATE),
    (VdpTlvType.ASSOCIATE, VsiStatus.M, Event.IMMIGRATE_ASSOCIATE),
])
def test_requests_with_the_vms_properties(mode: VdpTlvType, hints: int, event: Event) -> None:
    request = to_request(vsi(mode, hints, vid=100), nve="nve1", port=3)
    assert request == VmRequest(event, VM, VnSelector(vni=5001), macs=(0x525400123456,),
                                nve="nve1", port=3, requested_vid=100,
                                reserve_resources=mode == VdpTlvType.PRE_ASSOCIATE_RR,
                                origin=Origin.VDP)


@pytest.mark.parametrize(("mode", "hints", "event"), [
    (VdpTlvType.ASSOCIATE, VsiStatus.S, Event.EMIGRATE),
    (VdpTlvType.PRE_ASSOCIATE, VsiStatus.S, Event.EMIGRATE),
    (VdpTlvType.DE_ASSOCIATE, 0, Event.TERMINATE),
    (VdpTlvType.DE_ASSOCIATE, VsiStatus.S, Event.TERMINATE),
    (VdpTlvType.DE_ASSOCIATE, VsiStatus.M | VsiStatus.S, Event.TERMINATE),
])
def test_requests_that_name_the_vm(mode: VdpTlvType, hints: int, event: Event) -> None:
    assert to_request(vsi(mode, hints), nve="nve1", port=1) == VmRefRequest(event, VM,
                                                                           origin=Origin.VDP)


def test_all_filter_macs_are_the_vms() -> None:
    entries = (FilterEntry(vid=7, mac=MAC), FilterEntry(vid=7, pcp=3, ps=True, mac=MAC2))
    request = to_request(vsi(entries=entries), nve="nve1", port=1)
    assert isinstance(request, VmRequest)
    assert request.macs == (0x525400123456, 0x525400123457) and request.requested_vid == 7


@pytest.mark.parametrize(("tlv", "error", "text"), [
    (vsi(status=0x80), VdpError.INVALID_FORMAT, "reserved"),
    (vsi(status=0x03), VdpError.INVALID_FORMAT, "reserved or error bits"),
    (vsi(status=VsiStatus.M | VsiStatus.S), VdpError.INVALID_FORMAT, "both the M and the S"),
    (vsi(id_format=VsiIdFormat.MAC), VdpError.INVALID_FORMAT, "by UUID"),
    (vsi(vsi_id=bytes(16)), VdpError.INVALID_FORMAT, "all zeros"),
    (vsi(filter_format=FilterFormat.VID, entries=(FilterEntry(vid=0),)),
     VdpError.INVALID_FORMAT, "MAC/VID"),
    (vsi(entries=()), VdpError.INVALID_FORMAT, "no entries"),
    (vsi(type_id=0), VdpError.UNABLE_TO_CONTACT_VSI_MANAGER, "not a VNI"),
    (vsi(entries=(FilterEntry(vid=0, mac=bytes(6)),)), VdpError.INVALID_VID_GROUP_MAC,
     "not a unicast"),
    (vsi(entries=(FilterEntry(vid=0, mac=bytes.fromhex("010203040506")),)),
     VdpError.INVALID_VID_GROUP_MAC, "not a unicast"),
    (vsi(entries=(FilterEntry(vid=2, mac=MAC), FilterEntry(vid=3, mac=MAC2))),
     VdpError.INVALID_VID_GROUP_MAC, "different VIDs"),
    (vsi(vid=4095), VdpError.INVALID_VID_GROUP_MAC, "outside"),
])
def test_refusals(tlv: VsiTlv, error: VdpError, text: str) -> None:
    with pytest.raises(VdpRefusal, match=text) as refused:
        to_request(tlv, nve="nve1", port=1)
    assert refused.value.error is error


def test_manager_id_is_the_nve_name() -> None:
    assert manager_id("nve1") == b"nve1" + bytes(12)
    assert manager_text(manager_id("nve1")) == "nve1"
    assert manager_text(bytes([1]) + bytes(15)) == "01" + "00" * 15
    check_manager(manager_id("nve1"), "nve1")
    with pytest.raises(VdpRefusal, match="not this NVE") as refused:
        check_manager(manager_id("nve2"), "nve1")
    assert refused.value.error is VdpError.UNABLE_TO_CONTACT_VSI_MANAGER


@pytest.mark.parametrize(("reason", "detail", "error"), [
    (FailReason.NON_SUFFICIENT_RESOURCES, "table full", VdpError.INSUFFICIENT_RESOURCES),
    (FailReason.CONFLICT_POLICIES, "MAC 52:54:00:00:00:0a is bound to VM x",
     VdpError.INVALID_VID_GROUP_MAC),
    (FailReason.CONFLICT_POLICIES, "VID 5 on nve1 port 1 is used by VM y",
     VdpError.INVALID_VID_GROUP_MAC),
    (FailReason.CONFLICT_POLICIES, "VM x is in VNI 5001 at nve1; it cannot join VNI 5002",
     VdpError.OTHER_FAILURE),
    (FailReason.FAILED_AUTHORIZATION, "hypervisor hv1 may not join VN red",
     VdpError.OTHER_FAILURE),
    (FailReason.BUSY, "in flight", VdpError.OTHER_FAILURE),
    (FailReason.INVALID_REQUEST, "suspend is not allowed", VdpError.OTHER_FAILURE),
])
def test_fail_reasons_map_to_vdp_errors(reason: FailReason, detail: str,
                                        error: VdpError) -> None:
    assert error_for(Answer(reason, detail)) is error
    assert error_for(Answer(None)) is VdpError.SUCCESS


def test_response_status_and_filter() -> None:
    request = vsi(status=VsiStatus.M, entries=(FilterEntry(vid=0, mac=MAC),
                                               FilterEntry(vid=0, mac=MAC2)))
    ok = response(request, status_for(VdpError.SUCCESS, kept=True), vid=42, pcp=0)
    assert ok.status == 0x40                                  # hint bits cleared
    assert [(e.vid, e.ps, e.pcp) for e in ok.entries] == [(42, False, 0)] * 2
    assert (ok.mode, ok.type_id, ok.type_version, ok.vsi_id) == (
        request.mode, request.type_id, request.type_version, request.vsi_id)
    assert len(ok.encode()) == len(request.encode())          # same type, exact length
    marked = response(request, 0x40, vid=42, pcp=5)
    assert [(e.vid, e.ps, e.pcp) for e in marked.entries] == [(42, True, 5)] * 2
    refused = response(request, status_for(VdpError.OTHER_FAILURE, kept=False))
    assert refused.status == 0x44 and refused.entries == request.entries
    kept = response(request, status_for(VdpError.INSUFFICIENT_RESOURCES, kept=True))
    assert kept.status == 0x62
    assert is_response(kept) and not is_response(request)


def test_describe_for_logs() -> None:
    text = describe(vsi(status=VsiStatus.M, vid=5))
    assert text == f"associate M vsi={VM} typeid=5001 typeidver=3 filter=5-52:54:00:12:34:56"
