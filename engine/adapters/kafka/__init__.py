"""The Kafka adapters: the event log and its consumers (log), and the tail reader (tail)."""

from __future__ import annotations

from engine.adapters.kafka.log import TOPICS, KafkaConsumer, KafkaLog, key_bytes
from engine.adapters.kafka.tail import KafkaTail

__all__ = ["TOPICS", "KafkaConsumer", "KafkaLog", "KafkaTail", "key_bytes"]
