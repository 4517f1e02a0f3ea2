"""A process that appends to an embedded log until it is killed, printing every acknowledgement.

Run as `python -m tests.contract.crash_child DATA_DIR`: 32 writers append tweets of 50 authors
without pause; each acknowledged append prints "topic partition offset event_id".
"""

from __future__ import annotations

import asyncio
import sys

from engine.adapters.embedded import EmbeddedBackend
from engine.config import Settings
from engine.metrics import Metrics
from tests.contract.conftest import PARTITIONS
from tests.contract.helpers import new_ids, posted

WRITERS = 32


async def write_forever(backend: EmbeddedBackend, authors: list[int], n: int) -> None:
    while True:
        event = posted(authors[n % len(authors)])
        [(topic, partition, offset)] = await backend.log.append_positions([event])
        print(topic, partition, offset, event.event_id, flush=True)
        n += 1


async def main(data_dir: str) -> None:
    settings = Settings.from_env(
        {}, backend="embedded", data_dir=data_dir, kafka_partitions=PARTITIONS
    )
    backend = EmbeddedBackend(settings, Metrics())
    await backend.start()
    authors = new_ids(50)
    print("ready", flush=True)
    await asyncio.gather(*(write_forever(backend, authors, i) for i in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
