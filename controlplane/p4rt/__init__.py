"""P4Runtime access to the NVE switch: typed entries, schema validation, async client."""

from controlplane.p4rt.client import P4RuntimeClient
from controlplane.p4rt.entries import (
    CounterValue,
    DefaultAction,
    Entry,
    EntryKey,
    Exact,
    Lpm,
    MulticastGroup,
    Optional,
    Range,
    Ternary,
    Update,
    ValueSet,
    WriteOp,
)
from controlplane.p4rt.errors import (
    P4ConnectionError,
    P4NameError,
    P4RuntimeRpcError,
    P4RuntimeWriteError,
    P4ValueError,
    WriteFailure,
)
from controlplane.p4rt.schema import PipelineSchema
from controlplane.p4rt.stream import PacketIn, StreamErrorReport

__all__ = [
    "CounterValue",
    "DefaultAction",
    "Entry",
    "EntryKey",
    "Exact",
    "Lpm",
    "MulticastGroup",
    "Optional",
    "P4ConnectionError",
    "P4NameError",
    "P4RuntimeClient",
    "P4RuntimeRpcError",
    "P4RuntimeWriteError",
    "P4ValueError",
    "PacketIn",
    "PipelineSchema",
    "Range",
    "StreamErrorReport",
    "Ternary",
    "Update",
    "ValueSet",
    "WriteFailure",
    "WriteOp",
]
