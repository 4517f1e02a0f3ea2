"""CPU per unit of work, for an engine path and for the bare client doing the same work.

Throughput on a small shared machine moves with whatever else runs; CPU spent per unit of
work (a home row, a post, a page, a batch-ingested tweet) moves much less. A `CostWindow`
reads the CPU seconds of two groups of processes from /proc:

- the client side: the engine process that does the work (`timeline fanout`, `ingest`,
  `readers`), or, for a baseline, the bare client (the benchmark process itself, or the bare
  post handler); the load generator is never counted;
- the servers: Kafka and Cassandra, always both, for every path and every baseline.

The client side is read when the work is done; the servers only once Cassandra is idle
again (`wait_idle`), so the flushes and compactions a write load causes are charged to it.
Both groups count whatever else they served meanwhile: other users of shared servers show up
as cost, on both sides of a ratio alike.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu import process_cpu_s
from bench.stack import Samples

REQUESTS = "timeline_cassandra_requests_total"
IDLE_CORES = 0.1  # Cassandra within this share of a core of its background rate is idle
BACKGROUND_S = 5.0  # seconds of one-second readings of the servers' rate before a window
IDLE_TIMEOUT_S = 60.0
PEAK_TWEETS_S = 3085.0  # the seeds' peak (NBA finals 2010)
PEAK_FANOUT = 24.0  # home rows per tweet at that peak
PEAK_READS_S = 1000.0  # home pages per second beside it


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process still alive."""
    out = {}
    for name, pid in pids.items():
        value = process_cpu_s(pid)
        if value is not None:
            out[name] = value
    return out


def delta(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds between two readings, per process present in both."""
    return {k: max(0.0, b[k] - a[k]) for k in b if k in a}


def per_unit_us(cpu_s: float, units: float) -> float | None:
    """Microseconds of CPU per unit; None without units."""
    return round(cpu_s / units * 1e6, 2) if units > 0 else None


def cost(
    client: Mapping[str, float], servers: Mapping[str, float], units: float, seconds: float
) -> dict[str, Any]:
    """CPU-us per unit for the client side, the servers and both, per process, and the rate.

    `client` and `servers` are CPU seconds per process over the window; `seconds` is how long
    the work took (the rate's denominator), not the longer window the servers were read over.
    """
    client_s, servers_s = sum(client.values()), sum(servers.values())
    return {
        "units": int(units),
        "seconds": round(seconds, 3),
        "rate_s": round(units / seconds, 1) if seconds > 0 else None,
        "client_us": per_unit_us(client_s, units),
        "servers_us": per_unit_us(servers_s, units),
        "total_us": per_unit_us(client_s + servers_s, units),
        "by_process_us": {k: per_unit_us(v, units) for k, v in {**client, **servers}.items()},
        "cpu_s": {k: round(v, 3) for k, v in {**client, **servers}.items()},
    }


COST_ROUNDS = 4
"""Rounds a path's engine and bare measurements alternate in: a slow spell of the shared
machine (other tenants, steal, a server's GC) then falls on both sides, not on one."""
ROUND_BACKGROUND_S = 2.0
"""Seconds of the servers' background rate read before each round's window (BACKGROUND_S
before a single long window): rounds are many, and the floor of two readings suffices."""


def combined(rounds: Sequence[Mapping[str, Any]], client: Iterable[str]) -> dict[str, Any]:
    """One cost from the windows of several rounds of the same work: CPU, units and time
    summed (so the result is CPU per unit over all of them), each round's total kept."""
    names = set(client)
    cpu: dict[str, float] = {}
    for r in rounds:
        for k, v in r["cpu_s"].items():
            cpu[k] = cpu.get(k, 0.0) + v
    out = cost(
        {k: v for k, v in cpu.items() if k in names},
        {k: v for k, v in cpu.items() if k not in names},
        sum(r["units"] for r in rounds),
        sum(r["seconds"] for r in rounds),
    )
    out["rounds_total_us"] = [r["total_us"] for r in rounds]
    return out


def cost_ratio(engine: Mapping[str, Any] | None, bare: Mapping[str, Any] | None) -> float | None:
    """Engine CPU per unit over the bare client's (both totals: client side plus servers)."""
    if not engine or not bare:
        return None
    e, b = engine.get("total_us"), bare.get("total_us")
    if e is None or not b:
        return None
    return round(float(e) / float(b), 3)


def requests_by_op(samples: Samples) -> dict[str, float]:
    """The engine's Cassandra requests so far, per operation, from a /metrics scrape."""
    out: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == REQUESTS:
            op = dict(labels).get("op", "")
            out[op] = out.get(op, 0.0) + value
    return out


def requests_per_unit(
    before: Mapping[str, float], after: Mapping[str, float], units: float
) -> dict[str, Any]:
    """Requests between two readings of a per-operation counter, in all and per operation,
    each divided by `units`."""
    by_op = {op: after[op] - before.get(op, 0.0) for op in after}
    by_op = {op: n for op, n in by_op.items() if n > 0}
    total = sum(by_op.values())
    return {
        "requests": int(total),
        "units": units,
        "by_op": {op: int(n) for op, n in by_op.items()},  # unrounded, for the goals' sums
        "per_unit": round(total / units, 3) if units > 0 else None,
        "by_op_per_unit": {
            op: round(n / units, 3) for op, n in sorted(by_op.items(), key=lambda kv: -kv[1])
        }
        if units > 0
        else {},
    }


async def wait_idle(
    pid: int | None,
    threshold_cores: float = IDLE_CORES,
    timeout_s: float = IDLE_TIMEOUT_S,
    interval_s: float = 1.0,
) -> dict[str, Any]:
    """Wait until a process used under `threshold_cores` over `interval_s`; how long it took,
    and whether it got there within `timeout_s`."""
    started = time.perf_counter()
    if pid is None:
        return {"waited_s": 0.0, "idle": False}
    last = process_cpu_s(pid)
    while time.perf_counter() - started < timeout_s:
        await asyncio.sleep(interval_s)
        now = process_cpu_s(pid)
        if now is None or last is None:
            return {"waited_s": round(time.perf_counter() - started, 2), "idle": False}
        if (now - last) / interval_s < threshold_cores:
            return {"waited_s": round(time.perf_counter() - started, 2), "idle": True}
        last = now
    return {"waited_s": round(time.perf_counter() - started, 2), "idle": False}


@dataclass
class CostWindow:
    """The CPU of one measured piece of work: the client side from `open` to `done` (which
    also ends the rate's time), the servers from `open` to `close`.

    The servers are shared: what they spend on others meanwhile is taken out by reading
    their background rate (the lowest of BACKGROUND_S one-second readings) before the
    window opens and subtracting that rate times the window's length (never below zero).
    After a write load `close` waits until Cassandra is back within IDLE_CORES of its
    background rate, so its flushes and compactions are charged to the work."""

    client: dict[str, int]
    servers: dict[str, int]
    cassandra: str = "cassandra"
    background: dict[str, float] = field(default_factory=dict)  # cores per server
    _client0: dict[str, float] = field(default_factory=dict)
    _servers0: dict[str, float] = field(default_factory=dict)
    _client1: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0
    _t1: float = 0.0
    _ts0: float = 0.0

    async def open(self, background_s: float = BACKGROUND_S) -> None:
        readings: list[dict[str, float]] = []
        for _ in range(int(background_s)):
            a, started = cpu_seconds(self.servers), time.perf_counter()
            await asyncio.sleep(1.0)
            b, wall = cpu_seconds(self.servers), time.perf_counter() - started
            readings.append({k: v / wall for k, v in delta(a, b).items()})
        self.background = background_floor(readings)
        self._t0 = self._ts0 = time.perf_counter()
        self._client0 = cpu_seconds(self.client)
        self._servers0 = cpu_seconds(self.servers)

    def add_client(self, name: str, pid: int) -> None:
        """A client-side process started after `open`: counted from now, and the work's
        time (the rate's denominator) starts now too; the servers' window stays open."""
        self.client[name] = pid
        self._client0.update(cpu_seconds({name: pid}))
        self._t0 = time.perf_counter()

    def done(self) -> None:
        """The work is finished: read the client side now."""
        self._client1 = cpu_seconds(self.client)
        self._t1 = time.perf_counter()

    async def close(self, units: float, wait: bool = True) -> dict[str, Any]:
        """Wait for Cassandra to be idle (when `wait`), read the servers, and the cost."""
        if not self._client1:
            self.done()
        idle: dict[str, Any] = {"waited_s": 0.0, "idle": None}
        if wait:
            threshold = self.background.get(self.cassandra, 0.0) + IDLE_CORES
            idle = await wait_idle(self.servers.get(self.cassandra), threshold)
        wall = time.perf_counter() - self._ts0
        raw = delta(self._servers0, cpu_seconds(self.servers))
        servers = subtract_background(raw, self.background, wall)
        out = cost(delta(self._client0, self._client1), servers, units, self._t1 - self._t0)
        out["cassandra_idle_wait"] = idle
        out["servers_background_cores"] = {k: round(v, 3) for k, v in self.background.items()}
        out["servers_cpu_s_before_background"] = {k: round(v, 3) for k, v in raw.items()}
        out["servers_window_s"] = round(wall, 2)
        return out


def background_floor(readings: list[dict[str, float]]) -> dict[str, float]:
    """Each process's lowest rate (cores) among one-second readings: what others keep it
    busy with at the least. The lowest, not the mean, so a burst just before a window (the
    tail of the previous measurement, say) is never subtracted from the work."""
    names = set().union(*readings) if readings else set()
    return {k: min(r[k] for r in readings if k in r) for k in sorted(names)}


def subtract_background(
    used: Mapping[str, float], background: Mapping[str, float], seconds: float
) -> dict[str, float]:
    """CPU seconds per process less its background rate (cores) over `seconds`, floored at 0."""
    return {k: max(0.0, v - background.get(k, 0.0) * seconds) for k, v in used.items()}


def table_bytes(data_dir: Path, keyspace: str, table: str) -> int | None:
    """Bytes on disk of a table's live SSTables (every component; snapshots and backups left
    out), or None when the data directory is not readable from here."""
    ks = data_dir / keyspace
    if not ks.is_dir():
        return None
    total = 0
    for tdir in ks.glob(f"{table}-*"):
        for f in tdir.iterdir():
            if f.is_file():
                total += f.stat().st_size
    return total


def capacity(costs: Mapping[str, float | None]) -> dict[str, Any]:
    """Cores the seeds' peak needs at these CPU-us per unit: PEAK_TWEETS_S tweets/s posted
    one a request, fanned out to PEAK_FANOUT home rows each, and PEAK_READS_S home pages/s.
    `costs` holds `fanout_row`, `post` and `page` in us; a missing one leaves the total None."""
    loads = {
        "fanout_row": PEAK_TWEETS_S * PEAK_FANOUT,
        "post": PEAK_TWEETS_S,
        "page": PEAK_READS_S,
    }
    cores: dict[str, float | None] = {}
    for path, per_s in loads.items():
        us = costs.get(path)
        cores[path] = None if us is None else round(per_s * us / 1e6, 2)
    known = [c for c in cores.values() if c is not None]
    total = round(sum(known), 2) if len(known) == len(cores) else None
    return {"units_s": loads, "cores": cores, "total_cores": total}


def this_process() -> dict[str, int]:
    """The benchmark process as the client side of a window (a bare client runs in it)."""
    return {"bench": os.getpid()}
