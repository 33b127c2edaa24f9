"""A Diff -> ordered Write batches.

The P4Runtime spec lets a server apply the updates of one WriteRequest in any order, so updates
that depend on each other go in separate, sequentially awaited batches: DELETEs first (most
dependent tier first), then MODIFYs, then INSERTs (least dependent tier first). Tiers follow the
pipeline: switch base, VN (flood groups, replicas, ACL), VAP, FDB.
"""

from __future__ import annotations

from controlplane.p4rt import p4names as P
from controlplane.p4rt.diff import Diff
from controlplane.p4rt.entries import Entry, Update

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
    ordered: list[list[Update]] = []
    for level in reversed(range(4)):
        ordered.append([u for u in changes.deletes if tier(u) == level])
    ordered.append(list(changes.modifies))
    for level in range(4):
        ordered.append([u for u in changes.inserts if tier(u) == level])
    return [batch for batch in ordered if batch]
