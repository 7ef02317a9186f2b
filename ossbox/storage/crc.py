"""CRC-64/XZ (the `x-oss-hash-crc64ecma` checksum): continuation via fastcrc, combine in Python."""
from __future__ import annotations

import fastcrc

_POLY_REFLECTED = 0xC96C5795D7870F42
_MASK = 0xFFFFFFFFFFFFFFFF


def crc64_update(crc: int, data: bytes | bytearray | memoryview) -> int:
    """CRC of (whatever gave `crc`) + data. `crc` 0 means 'no data yet'."""
    return fastcrc.crc64.xz(data, crc) if data else crc


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order), as zlib's multmodp."""
    m = 1 << 63
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _POLY_REFLECTED if b & 1 else b >> 1
    return p


# x^(2^k) mod p for k = 0..63, the table zlib builds once.
_X2N = [1 << 62]
for _ in range(63):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def _x2nmodp(n: int, k: int) -> int:
    p = 1 << 63  # x^0
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 63], p)
        n >>= 1
        k += 1
    return p


def crc64_combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """CRC of A+B from CRC(A), CRC(B) and len(B): no data needed (multipart complete, copies)."""
    if len_b <= 0:
        return crc_a
    return (_multmodp(_x2nmodp(len_b, 3), crc_a) ^ crc_b) & _MASK
