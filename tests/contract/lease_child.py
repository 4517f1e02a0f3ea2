"""A process that leases a worker id and holds it until it is killed.

Run as `python -m tests.contract.lease_child PREFER` with the backend's TIMELINE_* settings in
its environment: it prints "worker mark_ms" once it holds the lease, then never renews it.
"""

from __future__ import annotations

import asyncio
import os
import sys

from engine.adapters import open_backend
from engine.config import Settings
from engine.metrics import Metrics
from engine.worker_ids import wall_clock_ms


async def main(prefer: int) -> None:
    backend = open_backend(Settings.from_env(), Metrics())
    await backend.start()
    lease = await backend.leases.acquire(f"child/{os.getpid()}", wall_clock_ms(), prefer)
    print(lease.worker, lease.mark_ms, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
