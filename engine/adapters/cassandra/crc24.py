"""CRC-24 of protocol v5 segment headers, a byte at a time from a table.

cassandra-driver checks every v5 segment header (sent and received: two a request) with
`cassandra.segment.compute_crc24`, computed a bit at a time in Python: ~3 us a header here,
~3% of the client's CPU a read. This is the same CRC (polynomial 0x1974F0B, initial value
0x875060, the header's bytes taken least significant first) from a 256-entry table, and
`install()` gives it to the driver's segment codec.
"""

from __future__ import annotations

_POLY = 0x1974F0B
_INIT = 0x875060


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _POLY
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def compute_crc24(data: int, length: int) -> int:
    """The CRC-24 of the `length` low bytes of `data`, least significant byte first."""
    crc = _INIT
    table = _TABLE
    for _ in range(length):
        crc = ((crc << 8) & 0xFFFFFF) ^ table[((crc >> 16) ^ data) & 0xFF]
        data >>= 8
    return crc


def install() -> None:
    """Make the driver's segment codec use this compute_crc24."""
    import cassandra.segment

    cassandra.segment.compute_crc24 = compute_crc24
