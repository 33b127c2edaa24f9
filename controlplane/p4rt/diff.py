"""Desired vs installed table state -> updates. Plain set arithmetic on entry identity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.p4rt.entries import Entry, MulticastGroup, Update, WriteOp


@dataclass(frozen=True, slots=True)
class Diff:
    """What must change on a switch: each list in a stable order."""

    deletes: tuple[Update, ...]
    modifies: tuple[Update, ...]
    inserts: tuple[Update, ...]

    def __len__(self) -> int:
        return len(self.deletes) + len(self.modifies) + len(self.inserts)

    def counts(self) -> dict[str, int]:
        """Number of updates per kind, for logs and metrics."""
        return {
            "delete": len(self.deletes),
            "modify": len(self.modifies),
            "insert": len(self.inserts),
        }


def _sort_key(item: Entry | MulticastGroup) -> tuple[object, ...]:
    if isinstance(item, Entry):
        return (0, item.table, repr(item.match), item.priority)
    return (1, item.group_id)


def diff(
    desired: Iterable[Entry | MulticastGroup], installed: Iterable[Entry | MulticastGroup]
) -> Diff:
    """Updates that turn `installed` into `desired`.

    Identity is Entry.key() for table entries and the group id for multicast groups; an item with
    the same identity but another action, parameters or replica list becomes a MODIFY.
    """
    desired, installed = set(desired), set(installed)
    # Items present on both sides unchanged drop out here, in C, before any per-item Python work.
    want = {_identity(item): item for item in desired - installed}
    have = {_identity(item): item for item in installed - desired}
    deletes = [have[k] for k in have.keys() - want.keys()]
    inserts = [want[k] for k in want.keys() - have.keys()]
    modifies = [want[k] for k in want.keys() & have.keys()]
    return Diff(
        deletes=tuple(Update(WriteOp.DELETE, e) for e in sorted(deletes, key=_sort_key)),
        modifies=tuple(Update(WriteOp.MODIFY, e) for e in sorted(modifies, key=_sort_key)),
        inserts=tuple(Update(WriteOp.INSERT, e) for e in sorted(inserts, key=_sort_key)),
    )


def _identity(item: Entry | MulticastGroup) -> tuple[object, ...]:
    if isinstance(item, Entry):
        return ("entry", *item.key())
    return ("group", item.group_id)
