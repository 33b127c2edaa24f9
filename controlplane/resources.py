"""Port-local VIDs (REQ-4) and VAP ids: allocated from what the VM records already hold."""

from __future__ import annotations

from collections.abc import Iterable

from controlplane.model import VmRecord
from controlplane.signalling.messages import FailReason, Refused

MIN_VID, MAX_VID = 2, 4094     # VID 1 is the default PVID of most bridges: never handed out
MAX_VAP_ID = 0x7FFF            # replica ids at 0x8000 and above belong to remote VTEPs


def vids_in_use(records: Iterable[VmRecord], switch: str, port: int,
                excluding: str = "") -> dict[int, str]:
    """VID -> the VM holding it on (switch, port), leaving out VM `excluding`."""
    return {r.vid: r.vm_id for r in records
            if r.switch == switch and r.port == port and r.vm_id != excluding}


def choose_vid(records: Iterable[VmRecord], switch: str, port: int, vm_id: str,
               requested: int, current: int | None) -> int:
    """The VID for a VM on (switch, port): the requested one if free, else its current one,
    else the lowest free VID. Refused(CONFLICT_POLICIES) when the requested VID is taken,
    Refused(NON_SUFFICIENT_RESOURCES) when the port has none left."""
    taken = vids_in_use(records, switch, port, excluding=vm_id)
    if requested:
        if requested < MIN_VID:
            raise Refused(FailReason.CONFLICT_POLICIES,
                          f"VID {requested} is reserved; use {MIN_VID}..{MAX_VID}")
        if requested in taken:
            raise Refused(FailReason.CONFLICT_POLICIES,
                          f"VID {requested} on {switch} port {port} is used by VM {taken[requested]}")
        return requested
    if current is not None and current not in taken:
        return current
    for vid in range(MIN_VID, MAX_VID + 1):
        if vid not in taken:
            return vid
    raise Refused(FailReason.NON_SUFFICIENT_RESOURCES,
                  f"no free VID left on {switch} port {port}")


def choose_vap_id(records: Iterable[VmRecord], switch: str, limit: int) -> int:
    """The lowest VAP id not used on `switch`; NON_SUFFICIENT_RESOURCES when all are."""
    taken = {r.vap_id for r in records if r.switch == switch}
    for vap_id in range(1, min(limit, MAX_VAP_ID + 1)):
        if vap_id not in taken:
            return vap_id
    raise Refused(FailReason.NON_SUFFICIENT_RESOURCES, f"no free VAP id left on {switch}")
