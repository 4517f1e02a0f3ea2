"""The table-driven CRC-24 of v5 segment headers (engine/adapters/cassandra/crc24.py)."""

from __future__ import annotations

import random

import pytest

from engine.adapters.cassandra.crc24 import compute_crc24, install

pytestmark = pytest.mark.unit


def bitwise_crc24(data: int, length: int) -> int:
    """The protocol's CRC-24 a bit at a time, as cassandra-driver computes it."""
    crc = 0x875060
    for _ in range(length):
        crc ^= (data & 0xFF) << 16
        data >>= 8
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1974F0B
    return crc


def test_the_table_gives_the_bitwise_crc() -> None:
    rng = random.Random(24)
    for _ in range(20_000):
        length = rng.choice((3, 5, 6, 8))
        data = rng.getrandbits(8 * length)
        assert compute_crc24(data, length) == bitwise_crc24(data, length)
    assert compute_crc24(0, 3) == bitwise_crc24(0, 3)


def test_install_gives_the_driver_the_table() -> None:
    import cassandra.segment

    install()
    assert cassandra.segment.compute_crc24 is compute_crc24
