"""VM records in SQLite (WAL). A record is committed before its request is answered SUCCESS."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

from controlplane.errors import NveError
from controlplane.lifecycle import Phase, State
from controlplane.model import Origin, VmRecord

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS vms (
    vm_id      TEXT NOT NULL,
    hypervisor TEXT NOT NULL,
    record     TEXT NOT NULL,
    PRIMARY KEY (vm_id, hypervisor)
)
"""


class StoreError(NveError):
    """The database could not be read or written (locked, disk full, corrupt)."""


def _to_json(record: VmRecord) -> str:
    return json.dumps({
        "vm_id": record.vm_id, "hypervisor": record.hypervisor, "switch": record.switch,
        "port": record.port, "vni": record.vni, "macs": list(record.macs),
        "ipv4": list(record.ipv4), "ipv6": list(record.ipv6), "vid": record.vid,
        "pcp": record.pcp, "vap_id": record.vap_id, "state": record.phase.state.value,
        "emigrated": record.phase.emigrated, "last_seen": record.last_seen,
        "origin": record.origin.value, "vm_class": record.vm_class,
    }, sort_keys=True)


def _from_json(text: str) -> VmRecord:
    raw = json.loads(text)
    # Names repeat across records: one copy of each (thousands of records share a few).
    return VmRecord(
        vm_id=raw["vm_id"], hypervisor=sys.intern(raw["hypervisor"]),
        switch=sys.intern(raw["switch"]), port=raw["port"], vni=raw["vni"],
        macs=tuple(raw["macs"]), ipv4=tuple(raw["ipv4"]), ipv6=tuple(raw["ipv6"]),
        vid=raw["vid"], pcp=raw["pcp"], vap_id=raw["vap_id"],
        phase=_phase(raw["state"], raw["emigrated"]), last_seen=raw["last_seen"],
        origin=Origin(raw["origin"]), vm_class=sys.intern(raw["vm_class"]))


@functools.cache
def _phase(state: str, emigrated: bool) -> Phase:
    return Phase(State(state), emigrated)


class VmStore:
    """The controller's durable view of its VMs, keyed by (vm_id, hypervisor)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # One thread at a time, not always the same one: the service commits from a worker
            # thread (its lock held), so that the event loop serves requests during the fsync.
            self._db = sqlite3.connect(str(path), timeout=2.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None

    def load(self) -> list[VmRecord]:
        """Every stored record."""
        try:
            rows = self._db.execute("SELECT record FROM vms ORDER BY vm_id, hypervisor").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None
        return [_from_json(row[0]) for row in rows]

    def commit(self, upserts: Iterable[VmRecord], deletes: Iterable[tuple[str, str]]) -> None:
        """Write one change atomically: all of it is durable on return, or none (StoreError)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for record in upserts:
                    self._db.execute(
                        "INSERT OR REPLACE INTO vms (vm_id, hypervisor, record) VALUES (?, ?, ?)",
                        (record.vm_id, record.hypervisor, _to_json(record)))
                for vm_id, hypervisor in deletes:
                    self._db.execute("DELETE FROM vms WHERE vm_id = ? AND hypervisor = ?",
                                     (vm_id, hypervisor))
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL): then there is
                # nothing left to roll back, and the first error is the one to report.
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        log.error("cannot roll back a failed write to %s: %s", self.path, exc)
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()
