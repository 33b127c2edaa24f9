"""VSI TLVs <-> the NVE's typed requests and answers. Pure; no I/O, no state.

What a VSI means to the NVE (draft-gu-nvo3-tes-nve-mechanism-01, appendix 5.1):

* VSI Manager ID: the NVE's switch name in ASCII, NUL-padded to 16 octets (`vdptool ...
  -c mgrid2=nve1`). The NVE is the VSI manager of its ports; any other manager id is answered
  "unable to contact VSI manager".
* VSI type id (24 bits): the VNI of the VN the VM joins (REQ-2). The type version is not
  interpreted and is echoed.
* VSI ID, format UUID: the VM id. Other formats are answered "invalid format".
* Filter info, format MAC/VID: the MACs are the VM's addresses (REQ-3); every entry carries the
  same VID, 0 to let the NVE assign one. The answer carries the VID the VM must use (REQ-4) in
  every entry, and PS=1 with the VM's network PCP (REQ-5) when that PCP is not 0.
* TLV type and hint bits -> Figure 5 event: pre-associate (with or without resource reservation)
  -> Pre-Asso, with M -> Immigration(Pre-Asso); associate -> Asso (its repetition is the
  keep-alive: SUCCESS, nothing written), with M -> Immigration(Asso); S on either -> Emigration;
  de-associate -> Termination. M and S together are "invalid format".
* FAIL reason -> VDP error type: see `error_for`. A refused request whose VM keeps its previous
  state here (the NVE never half-applies a request) also sets the keep bit.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from controlplane.lifecycle import Event
from controlplane.model import Origin
from controlplane.signalling.messages import (
    Answer,
    FailReason,
    Request,
    SignallingError,
    VmRefRequest,
    VmRequest,
    VnSelector,
    check_vid,
    check_vni,
)
from controlplane.signalling.vdp.wire import (
    MANAGER_ID_LEN,
    FilterEntry,
    FilterFormat,
    VdpError,
    VdpTlvType,
    VsiIdFormat,
    VsiStatus,
    VsiTlv,
    mac_text,
)

PRE_ASSOCIATE_TYPES = (VdpTlvType.PRE_ASSOCIATE, VdpTlvType.PRE_ASSOCIATE_RR)


class VdpRefusal(SignallingError):
    """A VSI TLV the bridge answers with `error` without asking the NVE service."""

    def __init__(self, error: VdpError, detail: str) -> None:
        self.error = error
        self.detail = detail
        super().__init__(f"{error.name.lower()}: {detail}")


def manager_id(name: str) -> bytes:
    """The VSI Manager ID of the NVE called `name` (its first 16 octets, NUL-padded)."""
    return name.encode()[:MANAGER_ID_LEN].ljust(MANAGER_ID_LEN, b"\0")


def manager_text(value: bytes) -> str:
    """A Manager ID for logs: its text when printable, else hex."""
    text = value.rstrip(b"\0")
    if text and all(32 <= b < 127 for b in text):
        return text.decode()
    return value.hex()


def is_response(vsi: VsiTlv) -> bool:
    """A VSI TLV with the response bit set: something a bridge sends, not a station."""
    return bool(vsi.status & VsiStatus.RESPONSE)


def describe(vsi: VsiTlv) -> str:
    """One line for logs: type, hints, VSI, type id/version and the filter."""
    hints = "".join(h for bit, h in ((VsiStatus.M, " M"), (VsiStatus.S, " S"))
                    if vsi.status & bit)
    entries = ",".join(f"{e.vid}-{mac_text(e.mac) if e.mac else '-'}" for e in vsi.entries)
    return (f"{vsi.mode.name.lower()}{hints} vsi={vsi.vsi_id_text} typeid={vsi.type_id} "
            f"typeidver={vsi.type_version} filter={entries or 'none'}")


def check_manager(value: bytes, nve: str) -> None:
    """VdpRefusal(3) unless the Manager ID names this NVE."""
    if value != manager_id(nve):
        raise VdpRefusal(VdpError.UNABLE_TO_CONTACT_VSI_MANAGER,
                         f"VSI manager id {manager_text(value)!r} is not this NVE's "
                         f"({nve!r}); use mgrid2={nve}")


def to_request(vsi: VsiTlv, *, nve: str, port: int) -> Request:
    """The NVE request a station's VSI TLV stands for; VdpRefusal when it cannot be one."""
    status = vsi.status
    if status & (VsiStatus.RESERVED | VsiStatus.ERROR_MASK):
        raise VdpRefusal(VdpError.INVALID_FORMAT,
                         f"request status {status:#04x} sets reserved or error bits")
    migrating_in, leaving = bool(status & VsiStatus.M), bool(status & VsiStatus.S)
    if migrating_in and leaving and vsi.mode != VdpTlvType.DE_ASSOCIATE:
        raise VdpRefusal(VdpError.INVALID_FORMAT, "both the M and the S hint bits are set")
    if vsi.id_format != VsiIdFormat.UUID:
        raise VdpRefusal(VdpError.INVALID_FORMAT,
                         f"VSI ID format {vsi.id_format.name} is not supported; the NVE "
                         "identifies VMs by UUID (format 5)")
    if not any(vsi.vsi_id):
        raise VdpRefusal(VdpError.INVALID_FORMAT, "the VSI ID (VM UUID) is all zeros")
    vm_id = str(uuid.UUID(bytes=vsi.vsi_id))
    if vsi.mode == VdpTlvType.DE_ASSOCIATE:
        return VmRefRequest(Event.TERMINATE, vm_id, origin=Origin.VDP)
    if leaving:
        return VmRefRequest(Event.EMIGRATE, vm_id, origin=Origin.VDP)
    if vsi.filter_format != FilterFormat.MAC_VID:
        raise VdpRefusal(VdpError.INVALID_FORMAT,
                         f"filter info format {vsi.filter_format.name} is not supported; "
                         "use MAC/VID (2)")
    if not vsi.entries:
        raise VdpRefusal(VdpError.INVALID_FORMAT, "the filter has no entries")
    try:
        vni = check_vni(vsi.type_id)
    except SignallingError:
        raise VdpRefusal(VdpError.UNABLE_TO_CONTACT_VSI_MANAGER,
                         f"VSI type id {vsi.type_id} is not a VNI (1..16777215)") from None
    macs = tuple(_mac(e) for e in vsi.entries)
    vids = sorted({e.vid for e in vsi.entries})
    if len(vids) > 1:
        raise VdpRefusal(VdpError.INVALID_VID_GROUP_MAC,
                         f"filter entries ask for different VIDs {vids}; a VM has one VID")
    try:
        vid = check_vid(vids[0])
    except SignallingError as exc:
        raise VdpRefusal(VdpError.INVALID_VID_GROUP_MAC, str(exc)) from None
    if vsi.mode in PRE_ASSOCIATE_TYPES:
        event = Event.IMMIGRATE_PRE_ASSOCIATE if migrating_in else Event.PRE_ASSOCIATE
    else:
        event = Event.IMMIGRATE_ASSOCIATE if migrating_in else Event.ASSOCIATE
    return VmRequest(event, vm_id, VnSelector(vni=vni), macs=macs, nve=nve, port=port,
                     requested_vid=vid,
                     reserve_resources=vsi.mode == VdpTlvType.PRE_ASSOCIATE_RR,
                     origin=Origin.VDP)


def _mac(entry: FilterEntry) -> int:
    mac = entry.mac or bytes(6)
    value = int.from_bytes(mac, "big")
    if value == 0 or mac[0] & 1:
        raise VdpRefusal(VdpError.INVALID_VID_GROUP_MAC,
                         f"filter MAC {mac_text(mac)} is not a unicast VM address")
    return value


def error_for(answer: Answer) -> VdpError:
    """The VDP error type of a FAIL answer.

    NON_SUFFICIENT_RESOURCES -> insufficient resources; CONFLICT_POLICIES over a MAC or a VID ->
    invalid VID/MAC; FAILED_AUTHORIZATION (e.g. a VN the hypervisor may not join), BUSY, other
    conflicts and INVALID_REQUEST (an illegal transition, an unknown VM) -> other failure.
    """
    if answer.reason is None:
        return VdpError.SUCCESS
    if answer.reason is FailReason.NON_SUFFICIENT_RESOURCES:
        return VdpError.INSUFFICIENT_RESOURCES
    if answer.reason is FailReason.CONFLICT_POLICIES and answer.detail.startswith(("MAC ", "VID ")):
        return VdpError.INVALID_VID_GROUP_MAC
    return VdpError.OTHER_FAILURE


def status_for(error: VdpError, kept: bool) -> int:
    """A response's status octet: response bit, keep bit when the previous state holds, error."""
    status = VsiStatus.RESPONSE | error
    if error and kept:
        status |= VsiStatus.KEEP
    return int(status)


def response(vsi: VsiTlv, status: int, vid: int | None = None, pcp: int = 0) -> VsiTlv:
    """The bridge's answer to `vsi`: same type and fields, `status`, and on success the VID
    (and a non-zero PCP) the NVE assigned in every filter entry."""
    entries = vsi.entries
    if vid is not None:
        entries = tuple(replace(e, vid=vid, pcp=pcp, ps=pcp != 0) for e in entries)
    return replace(vsi, status=status, entries=entries)
