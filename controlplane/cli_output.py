"""How nvectl shows things: aligned text tables for people, JSON for scripts.

Every function returns text; only `controlplane.cli` prints. JSON keys are the field names of
the wire messages (VmInfo, VnInfo, ...), so scripts can rely on the proto for their meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from controlplane.signalling.messages import Answer, Notification, NotificationKind, TableView

Columns = Sequence[tuple[str, str]]
"""(header, field name) per column."""

VM_COLUMNS: Columns = (
    ("VM", "vm_id"),
    ("HYPERVISOR", "hypervisor"),
    ("NVE", "nve"),
    ("PORT", "port"),
    ("VN", "vn"),
    ("VNI", "vni"),
    ("VID", "vid"),
    ("PCP", "pcp"),
    ("VAP", "vap_id"),
    ("STATE", "state"),
    ("ORIGIN", "origin"),
    ("IDLE", "idle_seconds"),
    ("MACS", "macs"),
    ("IPS", "ips"),
)
VN_COLUMNS: Columns = (
    ("VN", "name"),
    ("VNI", "vni"),
    ("DEFAULT", "default_action"),
    ("ACL RULES", "acl_rules"),
    ("VMS", "vms"),
    ("NVES", "nves"),
)
PORT_COLUMNS: Columns = (
    ("NVE", "nve"),
    ("PORT", "port"),
    ("ROLE", "role"),
    ("VIDS IN USE", "vids_in_use"),
    ("VIDS FREE", "vids_free"),
)
COUNTER_COLUMNS: Columns = (
    ("COUNTER", "name"),
    ("INDEX", "index"),
    ("LABEL", "label"),
    ("PACKETS", "packets"),
    ("BYTES", "bytes"),
)
ENTRY_COLUMNS: Columns = (
    ("TABLE", "table"),
    ("MATCH", "match"),
    ("PRIORITY", "priority"),
    ("ACTION", "action"),
    ("PARAMS", "params"),
    ("PACKETS", "packets"),
    ("BYTES", "bytes"),
)
ANSWER_COLUMNS: Columns = (("RESULT", "result"), ("STATE", "state"), ("VID", "vid"), ("PCP", "pcp"))


def _cell(value: object) -> str:
    """A value as table text: lists joined by commas, seconds to one decimal."""
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value) or "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) if value != "" else "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns separated by two spaces, numbers right-aligned, no trailing blanks."""
    body = [list(row) for row in rows]
    text = [list(headers), *([_cell(value) for value in row] for row in body)]
    widths = [max(len(line[i]) for line in text) for i in range(len(headers))]
    numeric = [
        bool(body) and all(isinstance(row[i], int | float) for row in body)
        for i in range(len(headers))
    ]
    lines = []
    for line in text:
        cells = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(line, widths, numeric, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def view_table(views: Iterable[object], columns: Columns) -> str:
    """One row per view (a dataclass whose fields the columns name)."""
    return table(
        [header for header, _ in columns],
        ([getattr(view, name) for _, name in columns] for view in views),
    )


def to_json(value: Any) -> str:
    """Indented JSON."""
    return json.dumps(value, indent=2)


def views_json(views: Iterable[Any]) -> str:
    """A JSON array of the views' fields."""
    return to_json([asdict(view) for view in views])


def answer_fields(answer: Answer) -> dict[str, object]:
    """An Answer as the fields of the wire Response (reason by its proto enum name)."""
    return {
        "result": "SUCCESS" if answer.success else "FAIL",
        "reason": None if answer.reason is None else answer.reason.name,
        "detail": answer.detail,
        "vid": answer.vid,
        "pcp": answer.pcp,
        "state": answer.state,
    }


def answer_table(answer: Answer) -> str:
    """RESULT, STATE, VID and PCP of a successful answer."""
    fields = answer_fields(answer)
    return table([header for header, _ in ANSWER_COLUMNS], [[fields[n] for _, n in ANSWER_COLUMNS]])


def tables_text(view: TableView) -> str:
    """The entries, then each table's occupancy and capacity."""
    names = sorted(view.occupancy.keys() | view.capacity.keys())
    usage = table(
        ["TABLE", "ENTRIES", "CAPACITY"],
        ([name, view.occupancy.get(name, 0), view.capacity.get(name, 0)] for name in names),
    )
    return f"{view_table(view.rows, ENTRY_COLUMNS)}\n\n{usage}"


def tables_json(view: TableView) -> str:
    """{"entries": [...], "occupancy": {...}, "capacity": {...}}."""
    return to_json(
        {
            "entries": [asdict(row) for row in view.rows],
            "occupancy": view.occupancy,
            "capacity": view.capacity,
        }
    )


def _notification_detail(notification: Notification) -> str:
    """What changed, in words."""
    if notification.kind is NotificationKind.VID_CHANGED:
        return f"vid {notification.old_vid} -> {notification.new_vid}"
    if notification.kind is NotificationKind.POLICY_CHANGED:
        return f"pcp {notification.pcp}" + (
            f": {notification.detail}" if notification.detail else ""
        )
    if notification.kind is NotificationKind.DISPLACED:
        return f"now on {notification.new_nve}"
    return "-"


NOTIFICATION_HEADER = f"{'VM':36}  {'KIND':14}  DETAIL"


def notification_line(notification: Notification) -> str:
    """One row under NOTIFICATION_HEADER (fixed widths, so rows align as they stream in)."""
    detail = _notification_detail(notification)
    return f"{notification.vm_id:36}  {notification.kind.value:14}  {detail}"


def notification_json(notification: Notification) -> str:
    """One line of JSON (JSON Lines): the kind and every field but the stream's hypervisor."""
    fields = asdict(notification)
    del fields["hypervisor"]
    fields["kind"] = notification.kind.name.lower()
    return json.dumps(fields)
