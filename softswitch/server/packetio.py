"""Controller headers (``@controller_header``) for packet-in and packet-out.

A packet-out is injected at the CPU port as ``packet_out header + payload``; a frame the
pipeline sends to the CPU port starts with the ``packet_in`` header, which becomes the
``PacketIn.metadata``. Field layout (order, bit widths) comes from the P4Info.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from finsy.proto import p4i, p4r

from softswitch.server.bytestrings import decode_uint, encode_uint
from softswitch.server.errors import Code, P4RuntimeError


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One field of a controller header."""

    id: int
    name: str
    bitwidth: int


@dataclass(frozen=True, slots=True)
class ControllerHeader:
    """The layout of the ``packet_in`` or ``packet_out`` controller header."""

    name: str
    fields: tuple[HeaderField, ...]

    @classmethod
    def from_p4info(cls, meta: p4i.ControllerPacketMetadata) -> ControllerHeader:
        """Build from P4Info; refuses headers that are not a whole number of bytes."""
        fields = tuple(HeaderField(m.id, m.name, m.bitwidth) for m in meta.metadata)
        header = cls(meta.preamble.name, fields)
        if header.bit_length % 8:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT,
                f"controller header {header.name!r} is {header.bit_length} bits,"
                " not a whole number of bytes",
            )
        return header

    @property
    def bit_length(self) -> int:
        """Total width of the header in bits."""
        return sum(field.bitwidth for field in self.fields)

    def encode(self, metadata: Sequence[p4r.PacketMetadata]) -> bytes:
        """Serialize the metadata (exactly one value per field) as header bytes."""
        values: dict[int, int] = {}
        known = {field.id: field for field in self.fields}
        for item in metadata:
            field = known.get(item.metadata_id)
            if field is None:
                raise P4RuntimeError(
                    Code.INVALID_ARGUMENT, f"{self.name}: unknown metadata id {item.metadata_id}"
                )
            if field.id in values:
                raise P4RuntimeError(
                    Code.INVALID_ARGUMENT, f"{self.name}: duplicate metadata {field.name!r}"
                )
            values[field.id] = decode_uint(item.value, field.bitwidth, f"{self.name}.{field.name}")
        missing = [field.name for field in self.fields if field.id not in values]
        if missing:
            raise P4RuntimeError(
                Code.INVALID_ARGUMENT, f"{self.name}: missing metadata {', '.join(missing)}"
            )
        word = 0
        for field in self.fields:
            word = (word << field.bitwidth) | values[field.id]
        return word.to_bytes(self.bit_length // 8, "big")

    def decode(self, frame: bytes) -> tuple[list[p4r.PacketMetadata], bytes]:
        """Split ``frame`` into the header metadata and the payload; ValueError if too short."""
        size = self.bit_length // 8
        if len(frame) < size:
            raise ValueError(f"frame of {len(frame)} bytes is shorter than {self.name} header")
        word = int.from_bytes(frame[:size], "big")
        metadata: list[p4r.PacketMetadata] = []
        shift = self.bit_length
        for field in self.fields:
            shift -= field.bitwidth
            value = (word >> shift) & ((1 << field.bitwidth) - 1)
            metadata.append(p4r.PacketMetadata(metadata_id=field.id, value=encode_uint(value)))
        return metadata, frame[size:]
