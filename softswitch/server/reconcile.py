"""RECONCILE_AND_COMMIT: carry the forwarding state of one pipeline over to a new one.

The state is read from the old pipeline as P4Runtime updates (ids of the old P4Info) and
written to the new pipeline. The new P4Info is compatible when every update is accepted;
otherwise the first failure is returned and the old pipeline stays in place.
"""

from __future__ import annotations

import logging

from finsy.proto import p4r

from softswitch.server.engine_api import EngineModule
from softswitch.server.errors import Code, P4RuntimeError
from softswitch.server.pipeline import Pipeline
from softswitch.server.reader import read_entities
from softswitch.server.writer import Atomicity, UpdateType, write_batch

LOGGER = logging.getLogger(__name__)


def snapshot(engine: EngineModule, pipeline: Pipeline) -> list[p4r.Update]:
    """The client-visible state of ``pipeline`` as a list of updates that recreates it."""
    schema = pipeline.schema
    updates: list[p4r.Update] = []

    def add(update_type: p4r.Update.Type.ValueType, entity: p4r.Entity) -> None:
        updates.append(p4r.Update(type=update_type, entity=entity))

    for table in schema.tables.values():
        if table.is_const:
            continue
        query = p4r.TableEntry(table_id=table.id)
        if table.direct_counter_id is not None:
            query.counter_data.SetInParent()
        for entity in read_entities(engine, pipeline, p4r.Entity(table_entry=query)):
            add(UpdateType.INSERT, entity)
        info = pipeline.switch.table(table.name).info
        default = pipeline.switch.table(table.name).get_default()
        if not table.const_default_action_id and default != (
            info.default_action,
            info.default_args,
        ):
            query = p4r.TableEntry(table_id=table.id, is_default_action=True)
            add(
                UpdateType.MODIFY, read_entities(engine, pipeline, p4r.Entity(table_entry=query))[0]
            )
    for entity in read_entities(engine, pipeline, p4r.Entity(counter_entry=p4r.CounterEntry())):
        data = entity.counter_entry.data
        if data.packet_count or data.byte_count:
            add(UpdateType.MODIFY, entity)
    groups = p4r.PacketReplicationEngineEntry(multicast_group_entry=p4r.MulticastGroupEntry())
    for entity in read_entities(
        engine, pipeline, p4r.Entity(packet_replication_engine_entry=groups)
    ):
        add(UpdateType.INSERT, entity)
    for entity in read_entities(engine, pipeline, p4r.Entity(value_set_entry=p4r.ValueSetEntry())):
        if entity.value_set_entry.members:
            add(UpdateType.MODIFY, entity)
    return updates


def replay(engine: EngineModule, target: Pipeline, updates: list[p4r.Update]) -> None:
    """Write ``updates`` into ``target``; raises INVALID_ARGUMENT naming the first failure.

    An INSERT of an entry the new program already has (initial entries) becomes a MODIFY.
    """
    for update in updates:
        results = write_batch(engine, target, [update], Atomicity.CONTINUE_ON_ERROR)
        error = results[0]
        if error is not None and error.code == Code.ALREADY_EXISTS:
            retry = p4r.Update(type=UpdateType.MODIFY, entity=update.entity)
            error = write_batch(engine, target, [retry], Atomicity.CONTINUE_ON_ERROR)[0]
        if error is not None:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT,
                f"new pipeline cannot keep the forwarding state: {error.message}",
            )
    LOGGER.info("reconciled %d entities into the new pipeline", len(updates))
