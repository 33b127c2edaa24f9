"""bmv2 hash algorithms, bit-exact with ``src/bm_sim/calculations.cpp`` (bmv2 1.15.5).

Every function takes ``bytes`` and returns the unsigned result bmv2's functor returns
(before any modulo by the caller).
"""

from __future__ import annotations

import logging
import struct
from typing import Callable

logger = logging.getLogger(__name__)

__all__ = [
    "HASH_ALGORITHMS",
    "make_hash",
    "crc16",
    "crc32",
    "crc_ccitt",
    "csum16",
    "identity",
    "xor16",
    "xor32",
    "xxh64",
    "make_crc",
]

HashFn = Callable[[bytes], int]


def _reflect(v: int, nbits: int) -> int:
    r = 0
    for i in range(nbits):
        if v & (1 << i):
            r |= 1 << (nbits - 1 - i)
    return r


def _table(poly: int, width: int) -> list[int]:
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    out = []
    for d in range(256):
        r = d << (width - 8)
        for _ in range(8):
            r = ((r << 1) ^ poly) if r & top else (r << 1)
        out.append(r & mask)
    return out


_REFLECT8 = [_reflect(i, 8) for i in range(256)]


def make_crc(
    width: int, poly: int, init: int, xor_out: int, refl_in: bool, refl_out: bool
) -> HashFn:
    """Build a table-driven CRC identical to bmv2's ``crc_custom<T>`` (and crc16/crc32/crcCCITT)."""
    table = _table(poly, width)
    mask = (1 << width) - 1
    shift = width - 8
    rin = _REFLECT8 if refl_in else list(range(256))

    def crc(data: bytes) -> int:
        r = init
        for b in data:
            r = table[rin[b] ^ (r >> shift)] ^ ((r << 8) & mask)
        if refl_out:
            r = _reflect(r, width)
        return r ^ xor_out

    return crc


crc16 = make_crc(16, 0x8005, 0x0000, 0x0000, True, True)  # CRC-16/ARC
crc32 = make_crc(32, 0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True)  # CRC-32 (zlib)
crc_ccitt = make_crc(16, 0x1021, 0xFFFF, 0x0000, False, False)  # CRC-16/CCITT-FALSE
crc8_custom = make_crc(8, 0x07, 0x00, 0x00, False, False)
crc16_custom = make_crc(16, 0x8005, 0x0000, 0x0000, True, True)
crc32_custom = make_crc(32, 0x04C11DB7, 0xFFFFFFFF, 0xFFFFFFFF, True, True)
crc64_custom = make_crc(64, 0x1B, 0, 0, True, True)


def csum16(data: bytes) -> int:
    """Internet checksum (RFC 1071) as bmv2's csum16/cksum16: ones' complement of the
    ones'-complement sum of big-endian 16-bit words, odd length padded with a zero byte."""
    n = len(data)
    if n & 1:
        data = data + b"\x00"
        n += 1
    s = sum(struct.unpack(f"!{n // 2}H", data)) if n else 0
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def identity(data: bytes) -> int:
    """The first (up to) 8 bytes, big-endian."""
    return int.from_bytes(data[:8], "big")


def _xor(nbytes: int) -> HashFn:
    def x(data: bytes) -> int:
        r = 0
        full = len(data) - len(data) % nbytes
        for i in range(0, full, nbytes):
            r ^= int.from_bytes(data[i : i + nbytes], "big")
        tail = data[full:]
        if tail:
            r ^= int.from_bytes(tail + b"\x00" * (nbytes - len(tail)), "big")
        return r

    return x


xor16 = _xor(2)
xor32 = _xor(4)

_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M64
    return (_rotl(acc, 31) * _P1) & _M64


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64 with seed 0 (bmv2's ``xxh64``)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M64
        v2 = (seed + _P2) & _M64
        v3 = seed
        v4 = (seed - _P1) & _M64
        while i + 32 <= n:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1, v2, v3, v4 = _round(v1, a), _round(v2, b), _round(v3, c), _round(v4, d)
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M64
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        (k,) = struct.unpack_from("<Q", data, i)
        h ^= _round(0, k)
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        (k,) = struct.unpack_from("<I", data, i)
        h ^= (k * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return h


def _toeplitz_zero_key(data: bytes) -> int:
    # bmv2's toeplitz starts with a 4-byte all-zero key (changeable only via the runtime CLI),
    # which makes every hash 0.
    return 0


class _RoundRobin:
    def __init__(self) -> None:
        self.idx = 0

    def __call__(self, data: bytes) -> int:
        v = self.idx
        self.idx += 1
        return v


class _RoundRobinConsistent:
    def __init__(self) -> None:
        self.idx = 0
        self.seen: dict[bytes, int] = {}

    def __call__(self, data: bytes) -> int:
        v = self.seen.get(data)
        if v is None:
            v = self.seen[data] = self.idx
            self.idx += 1
        return v


_STATELESS: dict[str, HashFn] = {
    "crc16": crc16,
    "crc32": crc32,
    "crcCCITT": crc_ccitt,
    "csum16": csum16,
    "cksum16": csum16,
    "identity": identity,
    "xor16": xor16,
    "xor32": xor32,
    "xxh64": xxh64,
    "crc8_custom": crc8_custom,
    "crc16_custom": crc16_custom,
    "crc32_custom": crc32_custom,
    "crc64_custom": crc64_custom,
    "toeplitz": _toeplitz_zero_key,
}
_STATEFUL: dict[str, Callable[[], HashFn]] = {
    "round_robin": _RoundRobin,
    "round_robin_consistent": _RoundRobinConsistent,
}

#: Every algorithm name bmv2 1.15.5 registers, all supported here.
HASH_ALGORITHMS = frozenset(_STATELESS) | frozenset(_STATEFUL)


def make_hash(algo: str) -> HashFn | None:
    """Return the hash function for ``algo`` (a fresh instance for stateful ones), or None."""
    if algo in _STATELESS:
        return _STATELESS[algo]
    if algo in _STATEFUL:
        return _STATEFUL[algo]()
    return None
