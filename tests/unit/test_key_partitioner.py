"""KeyPartitioner: the partitions of aiokafka's default (Java) partitioner, remembered."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from engine.adapters.kafka.log import KeyPartitioner, key_bytes


def test_every_key_goes_where_the_default_partitioner_sends_it() -> None:
    ours, default = KeyPartitioner(), DefaultPartitioner()
    ours.HASHES_KEPT = 100  # forget along the way, too
    keys = [key_bytes(k) for k in (*range(-5, 500), 2**62, -(2**63), 1_234_567_890_123)]
    for partitions in ([0], [0, 1, 2], list(range(6)), list(range(50))):
        for _ in range(2):  # the second time from memory
            for key in keys:
                assert ours(key, partitions, partitions) == default(key, partitions, partitions)
    assert len(ours._hashes) <= 100


def test_a_key_less_record_goes_to_an_available_partition() -> None:
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2
