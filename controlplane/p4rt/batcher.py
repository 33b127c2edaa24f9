"""A Diff -> the Write requests that carry it: one per change (split only when very large).

One WriteRequest per change keeps a switch to one round trip per signalling request. Within it
the updates go in dependency order - DELETEs (most dependent tier first), then MODIFYs, then
INSERTs (least dependent tier first); tiers follow the pipeline: switch base, VN (flood groups,
replicas, ACL), VAP, FDB - which targets that apply a batch in order (bmv2, the embedded target)
follow. The P4Runtime spec lets a server apply a batch in any order, and that is safe here: no
entry refers to another by handle, only by value (a VN entry names its flood group, a group its
replica ids), and a dangling reference drops that copy of a frame for the instant the batch
takes - it never sends a frame where the old or the new state would not. Updates to one key
never share a batch (diff turns them into one MODIFY).
"""

from __future__ import annotations

from controlplane.p4rt import p4names as P
from controlplane.p4rt.diff import Diff
from controlplane.p4rt.entries import Entry, Update

MAX_BATCH = 8192        # updates per WriteRequest: well inside gRPC's 4 MiB default message
TIER_BASE, TIER_VN, TIER_VAP, TIER_FDB = range(4)
_TABLE_TIER = {
    P.PORT_ROLE: TIER_BASE, P.PUNT: TIER_BASE,
    P.LOCAL_VTEP: TIER_BASE,
    P.UNDERLAY_ROUTE: TIER_BASE,
    P.PCP_TO_DSCP: TIER_BASE,
    P.DSCP_TO_PCP: TIER_BASE,
    P.VN: TIER_VN,
    P.ACL: TIER_VN,
    P.FLOOD_REPLICA: TIER_VN,
    P.PORT_VLAN_TO_VNI: TIER_VAP,
    P.VAP_SRC_MAC: TIER_VAP,
    P.FDB: TIER_FDB,
}


def tier(update: Update) -> int:
    """The dependency tier of an update; multicast groups belong to their VN."""
    entity = update.entity
    if isinstance(entity, Entry):
        return _TABLE_TIER.get(entity.table, TIER_BASE)
    return TIER_VN


def batches(changes: Diff) -> list[list[Update]]:
    """The Write batches to send, in order; empty batches are left out."""
    ordered = sorted(changes.deletes, key=tier, reverse=True)
    ordered += changes.modifies
    ordered += sorted(changes.inserts, key=tier)
    return [ordered[i:i + MAX_BATCH] for i in range(0, len(ordered), MAX_BATCH)]
