"""Adapters behind the ports, one package per technology (kafka, cassandra, embedded) and one
factory per backend: kafka_cassandra composes the first two, embedded stands alone."""

from __future__ import annotations

from engine.config import Settings
from engine.metrics import Metrics
from engine.ports import Backend


def open_backend(settings: Settings, metrics: Metrics) -> Backend:
    """The backend named by settings.backend, not yet started."""
    if settings.backend == "kafka-cassandra":
        from engine.adapters.kafka_cassandra import create_backend

        return create_backend(settings, metrics)
    if settings.backend == "embedded":
        from engine.adapters.embedded import create_backend as create_embedded

        return create_embedded(settings, metrics)
    raise ValueError(f"unknown backend {settings.backend!r}")
