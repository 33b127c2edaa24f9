"""P4Runtime binary strings: unsigned integers as big-endian bytes (spec section "Bytestrings")."""

from __future__ import annotations

from softswitch.server.errors import Code, P4RuntimeError


def decode_uint(data: bytes, bitwidth: int, what: str) -> int:
    """Decode ``data`` as a ``bit<bitwidth>`` value.

    Leading zero bytes are accepted (non-canonical but valid); an empty string or a value
    that does not fit in ``bitwidth`` bits is refused with INVALID_ARGUMENT.
    """
    if not data:
        raise P4RuntimeError(Code.INVALID_ARGUMENT, f"{what}: empty bytestring")
    value = int.from_bytes(data, "big")
    if value.bit_length() > bitwidth:
        raise P4RuntimeError(
            Code.INVALID_ARGUMENT,
            f"{what}: value 0x{data.hex()} does not fit in {bitwidth} bits",
        )
    return value


def encode_uint(value: int) -> bytes:
    """Encode a non-negative integer as the canonical (shortest) binary string."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
