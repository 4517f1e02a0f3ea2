"""Shared bits of the health probes."""

from __future__ import annotations

import logging


class ProbeError(RuntimeError):
    """The server does not (yet) answer its own protocol."""


class quiet_logger:
    """Silence a client library's connection-refused noise while a server is still starting."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self.level = self.logger.level

    def __enter__(self) -> None:
        self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)
