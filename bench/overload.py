"""Overload: what one process serves, then 1.5x, 2x and 3x that, offered open loop.

Starts `timeline up` and `timeline ingest` (embedded backend, one fresh data folder, rate
limits off) as child processes and registers users and a follow graph. Then for posts
(`POST /v1/tweets`, to the ingest process) and home reads
(`GET /v1/users/{id}/home_timeline?count=100`, to the other) in turn: measures the capacity
with a closed loop (CLIENTS clients, each sending its next request when answered), then
offers FACTORS times that rate on a schedule whatever the answers (latency counts from the
time a request was due, queueing included). Per load it reports the share of capacity still
served (2xx), the share turned away with 503, and p50/p99 of the accepted requests. With
`--admission both` it runs once with admission control off (TIMELINE_MAX_IN_FLIGHT=0) and
once on.

    python -m bench.overload [--seconds 15] [--admission on|off|both] [--max-in-flight N]
                             [--wait-ms MS] [--max-lag-ms MS] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench import embedded
from bench.config import RESULTS_DIR
from bench.cpu import machine_cpu_s, process_cpu_s
from bench.embedded import free_port, wait_ready
from bench.rawhttp import Pool, encode_request
from bench.stats import latency_summary
from bench.tweet_texts import corpus_texts

FACTORS = (1.5, 2.0, 3.0)
KINDS = tuple(os.environ.get("BENCH_OVERLOAD_KINDS", "post,home").split(","))
CLIENTS = 64
POOL_SIZE = 1024
MAX_OUTSTANDING = 4096
TIMEOUT_S = 10.0
WARMUP_S = 1.0
HOST = "127.0.0.1"
# Pages of 100 tweets: a home read then costs the engine enough that 3x its capacity stays
# within what one generator process on the same cores can offer on schedule.
HOME_COUNT = int(os.environ.get("BENCH_OVERLOAD_HOME_COUNT", "100"))


@dataclass(frozen=True)
class Config:
    """One engine configuration under test."""

    name: str
    max_in_flight: int
    wait_ms: int
    max_lag_ms: int


def start_engine(
    data: str, port: int, config: Config, command: str = "up"
) -> subprocess.Popen[bytes]:
    """The engine part under test, with this admission configuration."""
    return embedded.start_engine(
        data,
        port,
        command,
        max_in_flight=str(config.max_in_flight),
        admission_wait_ms=str(config.wait_ms),
        admission_max_lag_ms=str(config.max_lag_ms),
    )


async def closed_loop(pool: Pool, requests: list[bytes], seconds: float) -> dict[str, Any]:
    """CLIENTS clients back to back for `seconds`: answers per second and latency."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    latencies: list[float] = []
    statuses: list[int] = []

    async def client(n: int) -> None:
        i = n
        while loop.time() < deadline:
            started = loop.time()
            statuses.append(await pool.send(requests[i % len(requests)], TIMEOUT_S))
            latencies.append((loop.time() - started) * 1000)
            i += CLIENTS

    started = loop.time()
    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    elapsed = loop.time() - started
    ok = np.array([200 <= s < 300 for s in statuses])
    return {
        "ok_s": round(float(ok.sum()) / elapsed, 1),
        "failed": int((~ok).sum()),
        "latency": latency_summary(np.array(latencies)[ok]),
    }


async def open_loop(
    pool: Pool, requests: list[bytes], rate: float, seconds: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Request i is due at i / rate whatever the earlier ones did; (due s, latency ms from
    due, status, generator lateness ms) of each; status -2 for one not sent (MAX_OUTSTANDING
    were outstanding). Lateness is how long after its due time the generator got to send it:
    when it grows, the generator (on the same cores) no longer keeps its schedule."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    due = np.arange(n) / rate
    latency = np.full(n, np.nan)
    late = np.full(n, np.nan)
    status = np.full(n, -2)
    t0 = loop.time() + 0.05
    outstanding = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        nonlocal outstanding
        late[i] = (loop.time() - t0 - due[i]) * 1000
        status[i] = await pool.send(requests[i % len(requests)], TIMEOUT_S)
        latency[i] = (loop.time() - t0 - due[i]) * 1000
        outstanding -= 1

    i = 0
    while i < n:
        now = loop.time() - t0
        while i < n and due[i] <= now:
            if outstanding < MAX_OUTSTANDING:
                outstanding += 1
                task = asyncio.create_task(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            i += 1
        if i < n:
            await asyncio.sleep(max(0.0, due[i] - (loop.time() - t0)))
    await asyncio.gather(*list(tasks))
    return due, latency, status, late


def summarize(
    due: np.ndarray,
    latency: np.ndarray,
    status: np.ndarray,
    late: np.ndarray,
    capacity_s: float,
    seconds: float,
) -> dict[str, Any]:
    ok = (status >= 200) & (status < 300)
    shed = status == 503
    steady = due >= WARMUP_S
    n = max(status.size, 1)
    return {
        "offered_s": round(status.size / seconds, 1),
        "served_s": round(float(ok.sum()) / seconds, 1),
        "served_share_of_capacity": round(float(ok.sum()) / seconds / capacity_s, 3),
        "shed_share": round(float(shed.sum()) / n, 3),
        "failed_share": round(float((~ok & ~shed & (status != -2)).sum()) / n, 3),
        "not_sent": int((status == -2).sum()),
        "accepted": latency_summary(latency[ok & steady]),
        "shed": latency_summary(latency[shed & steady]),
        "generator_late": latency_summary(late[(status != -2) & steady]),
    }


class CpuMeter:
    """Cores used by the engine, by this generator, and by the whole machine, over a phase."""

    def __init__(self, engine_pid: int) -> None:
        self.pids = {"engine": engine_pid, "generator": os.getpid()}
        self.start = self._read()

    def _read(self) -> tuple[float, dict[str, float], dict[str, float]]:
        pids = {name: process_cpu_s(pid) or 0.0 for name, pid in self.pids.items()}
        return time.monotonic(), pids, machine_cpu_s()

    def cores(self) -> dict[str, float]:
        t1, p1, m1 = self._read()
        t0, p0, m0 = self.start
        wall = max(t1 - t0, 1e-9)
        used = {name: round((p1[name] - p0[name]) / wall, 2) for name in p1}
        used["machine_busy"] = round((m1["busy"] - m0["busy"]) / wall, 2)
        return used


async def consumer_lag(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("timeline_consumer_lag{")
    )


async def drain(session: aiohttp.ClientSession, url: str, timeout_s: float = 300) -> float:
    """Wait until the fan-out has applied every posted tweet; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await consumer_lag(session, url) == 0:
            break
        await asyncio.sleep(1)
    return round(time.monotonic() - started, 1)


async def call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    """One setup request, retried after Retry-After while the engine turns it away."""
    while True:
        async with session.request(method, url, **kw) as resp:
            if resp.status != 503:
                assert resp.status < 300, (method, url, resp.status, await resp.text())
                return await resp.json()
            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))


async def setup(session: aiohttp.ClientSession, url: str, users: int) -> list[str]:
    """Users bench0.. each following 20 others."""
    ids = [
        (await call(session, "POST", f"{url}/v1/users", json={"handle": f"bench{i}"}))["id"]
        for i in range(users)
    ]
    rng = random.Random(7)
    follows = [(a, b) for a in ids for b in rng.sample(ids, 20) if a != b]
    sem = asyncio.Semaphore(16)

    async def follow(a: str, b: str) -> None:
        async with sem:
            await call(session, "PUT", f"{url}/v1/users/{a}/following/{b}")

    await asyncio.gather(*(follow(a, b) for a, b in follows))
    return ids


def kind_requests(kind: str, ids: list[str], host: str) -> list[bytes]:
    if kind == "home":
        path = f"/v1/users/{{}}/home_timeline?count={HOME_COUNT}"
        return [encode_request("GET", path.format(u), host) for u in ids]
    texts, rng = corpus_texts(), random.Random(11)
    return [
        encode_request(
            "POST",
            "/v1/tweets",
            host,
            {"author_id": rng.choice(ids), "text": texts[i % len(texts)]},
        )
        for i in range(2000)
    ]


async def measure_kind(
    kind: str, pool: Pool, requests: list[bytes], seconds: float, pid: int
) -> dict[str, Any]:
    await closed_loop(pool, requests, 2.0)  # warm up
    meter = CpuMeter(pid)
    capacity = await closed_loop(pool, requests, seconds)
    capacity["cores"] = meter.cores()
    loads = []
    for factor in FACTORS:
        rate = capacity["ok_s"] * factor
        meter = CpuMeter(pid)
        due, latency, status, late = await open_loop(pool, requests, rate, seconds)
        load = {
            "factor": factor,
            **summarize(due, latency, status, late, capacity["ok_s"], seconds),
        }
        load["cores"] = meter.cores()
        loads.append(load)
        print(line(kind, load), flush=True)
        await asyncio.sleep(3)  # let the queues empty before the next load
    return {"capacity": capacity, "loads": loads}


def line(kind: str, load: dict[str, Any]) -> str:
    acc = load["accepted"]
    return (
        f"  {kind:5s} x{load['factor']:<4g} offered {load['offered_s']:7.0f}/s  served "
        f"{load['served_s']:7.0f}/s ({load['served_share_of_capacity']:.0%} of capacity)  "
        f"shed {load['shed_share']:.0%}  failed {load['failed_share']:.0%}  accepted p50 "
        f"{acc.get('p50_ms', float('nan')):7.1f} ms p99 {acc.get('p99_ms', float('nan')):7.1f} ms"
        f"  generator late p99 {load['generator_late'].get('p99_ms', float('nan')):6.1f} ms"
    )


async def run_config(config: Config, seconds: float, users: int) -> dict[str, Any]:
    """`timeline up` serves the setup and the home reads; posts go to a `timeline ingest` of
    their own on the same data folder, so that they measure an ingest process (the fan-out
    of what they post runs in the other process)."""
    data = tempfile.mkdtemp(prefix="timeline-overload-")
    ports = {"home": free_port(), "post": free_port()}
    procs = {"home": start_engine(data, ports["home"], config)}
    url = f"http://{HOST}:{ports['home']}"
    result: dict[str, Any] = {"config": config.__dict__}
    pools: list[Pool] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, url, procs["home"], timeout_s=60)
            procs["post"] = start_engine(data, ports["post"], config, "ingest")
            await wait_ready(session, f"http://{HOST}:{ports['post']}", procs["post"], 60)
            ids = await setup(session, url, users)
            for kind in KINDS:
                print(f"{config.name}: {kind}", flush=True)
                pools.append(Pool(HOST, ports[kind], POOL_SIZE))
                requests = kind_requests(kind, ids, f"{HOST}:{ports[kind]}")
                measured = await measure_kind(kind, pools[-1], requests, seconds, procs[kind].pid)
                result[kind] = {**measured, "drain_s": await drain(session, url)}
    finally:
        for pool in pools:
            pool.close()
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    return result


def summary_md(results: dict[str, Any]) -> str:
    rows = [
        "| admission | kind | capacity /s | load | offered /s | served /s | served / capacity "
        "| shed 503 | other failures | accepted p50 ms | accepted p99 ms | engine cores "
        "| generator late p99 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in results["runs"]:
        for kind in KINDS:
            cap = run[kind]["capacity"]["ok_s"]
            for load in run[kind]["loads"]:
                acc = load["accepted"]
                rows.append(
                    f"| {run['config']['name']} | {kind} | {cap:.0f} | {load['factor']:g}x | "
                    f"{load['offered_s']:.0f} | {load['served_s']:.0f} | "
                    f"{load['served_share_of_capacity']:.0%} | {load['shed_share']:.0%} | "
                    f"{load['failed_share']:.0%} | {acc.get('p50_ms', float('nan')):.1f} | "
                    f"{acc.get('p99_ms', float('nan')):.1f} | {load['cores']['engine']:.2f} | "
                    f"{load['generator_late'].get('p99_ms', float('nan')):.1f} |"
                )
    return "\n".join(rows) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    configs = {
        "off": Config("off", 0, 0, 0),
        "on": Config(f"on ({args.max_in_flight} in flight, {args.wait_ms} ms wait, "
                     f"{args.max_lag_ms} ms lag)", args.max_in_flight, args.wait_ms,
                     args.max_lag_ms),
    }  # fmt: skip
    chosen = ["off", "on"] if args.admission == "both" else [args.admission]
    runs = []
    for name in chosen:
        runs.append(await run_config(configs[name], args.seconds, args.users))
    return {
        "command": " ".join(["python -m bench.overload", *sys.argv[1:]]),
        "seconds": args.seconds,
        "users": args.users,
        "closed_loop_clients": CLIENTS,
        "cores": os.cpu_count(),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--admission", choices=("on", "off", "both"), default="both")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--wait-ms", type=int, default=100)
    parser.add_argument("--max-lag-ms", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    out = args.out or RESULTS_DIR / f"overload-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = summary_md(results)
    (out / "SUMMARY.md").write_text(f"# Overload\n\n`{results['command']}`\n\n{table}")
    print(table)
    print(f"results in {out}")


if __name__ == "__main__":
    main()
