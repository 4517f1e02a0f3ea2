"""Where the machine's CPU went: each process of the run, the rest of the machine, and steal.

On a small shared machine the servers, the engine and the load generator compete for the
same cores, and other tenants (or a hypervisor's steal) take their share. A figure is only
as good as what it was competing with, so every phase records cores used per process.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu_s() -> dict[str, float]:
    """Machine-wide CPU seconds by state since boot (all cores)."""
    with open("/proc/stat") as f:
        values = [int(v) / TICK for v in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return {
        "busy": user + nice + system + irq + softirq,
        "idle": idle + iowait,
        "steal": steal,
    }


@dataclass
class CpuSampler:
    """Samples the CPU of named processes and of the machine once a second."""

    pids: dict[str, int] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def watch(self, name: str, pid: int | None) -> None:
        if pid is not None:
            self.pids[name] = pid

    def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.sample()

    def sample(self) -> None:
        procs = {f"{name}@{pid}": process_cpu_s(pid) for name, pid in self.pids.items()}
        self.samples.append(
            {
                "t": time.time(),
                "machine": machine_cpu_s(),
                "procs": {n: v for n, v in procs.items() if v is not None},
            }
        )

    @staticmethod
    def _cores(a: dict[str, Any], b: dict[str, Any], wall: float) -> dict[str, float]:
        """Cores per process name between two samples (a pid seen in both)."""
        cores: dict[str, float] = {}
        for key, value in b["procs"].items():
            if key in a["procs"]:
                name = key.split("@")[0]
                cores[name] = cores.get(name, 0.0) + max(0.0, value - a["procs"][key]) / wall
        return cores

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Cores used on average between two wall times: per process, others, steal, idle."""
        inside = [s for s in self.samples if start - 1.0 <= s["t"] <= end + 1.0]
        if len(inside) < 2:
            return {}
        a, b = inside[0], inside[-1]
        wall = b["t"] - a["t"]
        cores: dict[str, float] = {}
        for x, y in itertools.pairwise(inside):
            for name, used in self._cores(x, y, y["t"] - x["t"]).items():
                cores[name] = cores.get(name, 0.0) + used * (y["t"] - x["t"]) / wall
        machine = {k: (b["machine"][k] - a["machine"][k]) / wall for k in a["machine"]}
        ours = sum(cores.values())
        return {
            "seconds": round(wall, 1),
            "cores": {k: round(v, 2) for k, v in sorted(cores.items(), key=lambda kv: -kv[1])},
            "others": round(max(0.0, machine["busy"] - ours), 2),
            "steal": round(machine["steal"], 2),
            "idle": round(machine["idle"], 2),
            "machine_cores": CORES,
        }

    def series(self, t0: float) -> list[dict[str, Any]]:
        """Cores used per process and by others, second by second, from t0."""
        rows = []
        for a, b in itertools.pairwise(self.samples):
            wall = b["t"] - a["t"]
            if wall <= 0:
                continue
            procs = self._cores(a, b, wall)
            busy = (b["machine"]["busy"] - a["machine"]["busy"]) / wall
            steal = (b["machine"]["steal"] - a["machine"]["steal"]) / wall
            rows.append(
                {
                    "t": round(b["t"] - t0, 2),
                    **{k: round(v, 3) for k, v in procs.items()},
                    "others": round(max(0.0, busy - sum(procs.values())), 3),
                    "steal": round(steal, 3),
                }
            )
        return rows
