"""Single-process throughput of the engine on the embedded backend, through its HTTP API.

Starts `timeline up` (embedded, a fresh data folder, rate limits off) as a child process, or
uses an engine already running (`--target URL`, any backend; CPU figures only with `--pid`
of a process on this machine), registers users and a follow graph, then for a fixed time
posts tweets from many concurrent clients, then reads home timelines the same way. Prints
requests per second, latency percentiles and CPU per request, and with `--results` writes a
run folder like the standard set's: results.json, SUMMARY.md and chart.png (`make
bench-embedded`: no JVM needed).

    python -m bench.embedded [--seconds 20] [--clients 64] [--users 200] [--out FILE]
        [--target URL [--pid PID]] [--results DIR|auto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.config import RESULTS_DIR
from bench.cpu import CpuSampler
from bench.tweet_texts import corpus_texts


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(
    session: aiohttp.ClientSession,
    url: str,
    proc: subprocess.Popen[bytes] | None,
    timeout_s: float = 180,
) -> None:
    """Wait for the engine to answer /readyz (a fresh keyspace takes a while to migrate);
    fail if the process this started (if any) exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            async with session.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready in {timeout_s:.0f} s")


async def setup(session: aiohttp.ClientSession, url: str, users: int) -> list[str]:
    """Register `users` users (handles of their own, so a running engine can take them) and
    have each follow 20 of the others."""
    ids = []
    prefix = f"b{random.randrange(16**6):06x}"
    for i in range(users):
        async with session.post(f"{url}/v1/users", json={"handle": f"{prefix}{i}"}) as resp:
            if resp.status != 201:
                raise RuntimeError(
                    f"registering a user answered {resp.status}: {await resp.text()}"
                )
            ids.append((await resp.json())["id"])
    rng = random.Random(7)
    follows = [(a, b) for a in ids for b in rng.sample(ids, 20) if a != b]
    sem = asyncio.Semaphore(64)

    async def follow(a: str, b: str) -> None:
        async with sem, session.put(f"{url}/v1/users/{a}/following/{b}") as resp:
            if resp.status != 200:
                raise RuntimeError(f"a follow answered {resp.status}: {await resp.text()}")

    await asyncio.gather(*(follow(a, b) for a, b in follows))
    return ids


async def drive(clients: int, seconds: float, request: Any) -> dict[str, Any]:
    """`clients` closed-loop clients for `seconds`: rate, latency, errors, and per second."""
    latencies: list[float] = []
    done_at: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        nonlocal errors
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            ok = await request(i)
            latencies.append(time.perf_counter() - started)
            done_at.append(time.time())
            errors += 0 if ok else 1
            i += clients

    wall0, started = time.time(), time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_s": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "t0_wall": wall0,
        "t1_wall": wall0 + elapsed,
        "series": per_second(wall0, done_at, latencies),
    }


def per_second(t0: float, done_at: list[float], latencies: list[float]) -> list[dict[str, float]]:
    """Requests finished and their p99 latency, second by second from t0."""
    by_second: dict[int, list[float]] = {}
    for t, latency in zip(done_at, latencies, strict=True):
        by_second.setdefault(int(t - t0), []).append(latency)
    rows = []
    for second in sorted(by_second):
        values = sorted(by_second[second])
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        rows.append({"t": second, "per_s": len(values), "p99_ms": round(p99 * 1000, 2)})
    return rows


def start_engine(
    data: str, port: int, command: str = "up", **settings: str
) -> subprocess.Popen[bytes]:
    """`timeline <command>` on the embedded backend in a folder, with rate limits off and the
    other TIMELINE_* settings given (by name without the prefix)."""
    env = dict(
        os.environ,
        TIMELINE_BACKEND="embedded",
        TIMELINE_DATA_DIR=data,
        TIMELINE_RATE_LIMITS="off",
        TIMELINE_LOG_LEVEL="WARNING",
        **{f"TIMELINE_{name.upper()}": value for name, value in settings.items()},
    )
    cmd = [sys.executable, "-m", "timeline", command, "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)


Request = Callable[[int], Awaitable[bool]]


def requests_of(
    session: aiohttp.ClientSession, url: str, ids: list[str], texts: Sequence[str]
) -> tuple[Request, Request]:
    """The i-th single post and the i-th home page read, each True when it succeeded."""

    async def post(i: int) -> bool:
        body = {"author_id": ids[i % len(ids)], "text": texts[i % len(texts)]}
        async with session.post(f"{url}/v1/tweets", json=body) as resp:
            await resp.read()
            return resp.status == 202

    async def read(i: int) -> bool:
        async with session.get(f"{url}/v1/users/{ids[i % len(ids)]}/home_timeline") as r:
            await r.read()
            return r.status == 200

    return post, read


async def run(
    seconds: float, clients: int, users: int, target: str | None = None, pid: int | None = None
) -> dict[str, Any]:
    """Posts then home reads against a fresh embedded `timeline up`, or against `target`."""
    proc = None
    if target is None:
        port = free_port()
        proc = start_engine(tempfile.mkdtemp(prefix="timeline-bench-"), port)
        url, pid = f"http://127.0.0.1:{port}", proc.pid
    else:
        url = target.rstrip("/")
    sampler = CpuSampler()
    sampler.watch("engine", pid)
    texts = corpus_texts()
    started = time.time()
    try:
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_ready(session, url, proc, timeout_s=30)
            ids = await setup(session, url, users)
            sampler.start()
            post, read = requests_of(session, url, ids, texts)
            posting = await drive(clients, seconds, post)
            await asyncio.sleep(2)  # let fan-out catch up before reading
            reading = await drive(clients, seconds, read)
            await sampler.stop()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    for phase in (posting, reading):
        phase["cpu"] = sampler.window(phase["t0_wall"], phase["t1_wall"])
        engine_s = _engine_cpu_s(sampler, phase["t0_wall"], phase["t1_wall"])
        if engine_s is not None and phase["requests"]:
            phase["engine_cpu_us_per_request"] = round(engine_s / phase["requests"] * 1e6, 1)
    return {
        "backend": "embedded" if target is None else "target",
        "target": url,
        "engine_pid": pid,
        "started": started,
        "clients": clients,
        "seconds": seconds,
        "users": users,
        "mean_fanout": 20,
        "post": posting,
        "home_timeline_read": reading,
        "cpu_series": sampler.series(started),
    }


def _engine_cpu_s(sampler: CpuSampler, start: float, end: float) -> float | None:
    """The engine process's CPU seconds between two wall times (None without its pid)."""
    inside = [s for s in sampler.samples if start - 1.0 <= s["t"] <= end + 1.0]
    values = [v for s in inside for k, v in s["procs"].items() if k.startswith("engine@")]
    return values[-1] - values[0] if len(values) >= 2 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--out", type=Path, help="also write results.json here")
    parser.add_argument("--target", help="an engine already running, e.g. http://127.0.0.1:8080")
    parser.add_argument("--pid", type=int, help="the target's process on this machine, for CPU")
    parser.add_argument(
        "--results", help="a run folder to write (auto: bench/results/<time>-embedded)"
    )
    args = parser.parse_args()
    if args.target and not args.target.startswith(("http://127.", "http://localhost")):
        parser.error("--target must be on this machine (127.0.0.1 or localhost)")
    result = asyncio.run(run(args.seconds, args.clients, args.users, args.target, args.pid))
    for name in ("post", "home_timeline_read"):
        r = result[name]
        cpu = r.get("engine_cpu_us_per_request")
        print(
            f"{name:20s} {r['per_s']:8.0f}/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}"
            + (f"  engine {cpu:.0f} CPU-us/request" if cpu is not None else "")
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    if args.results:
        stamp = datetime.fromtimestamp(result["started"], UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = RESULTS_DIR / f"{stamp}-embedded" if args.results == "auto" else Path(args.results)
        write_run(folder, result, " ".join(["python -m bench.embedded", *sys.argv[1:]]))
        print(f"results: {folder}")


def write_run(folder: Path, result: dict[str, Any], command: str) -> None:
    """results.json, SUMMARY.md and chart.png of one run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result, indent=2))
    (folder / "SUMMARY.md").write_text(summary(result, command))
    chart(result, folder / "chart.png")


def summary(result: dict[str, Any], command: str) -> str:
    """The run's figures as Markdown, in the standard set's manner."""
    when = datetime.fromtimestamp(result["started"], UTC).strftime("%Y%m%dT%H%M%SZ")
    where = (
        "a fresh embedded `timeline up`"
        if result["backend"] == "embedded"
        else (f"the engine at {result['target']}")
    )
    lines = [
        f"# Embedded benchmark {when}",
        "",
        f"Produced by `{command}` against {where}; {result['clients']} clients in a closed loop,"
        f" {result['seconds']:g} s per phase, {result['users']} users following 20 each."
        " Figures in [results.json](results.json), chart below.",
        "",
        "| phase | requests/s | p50 ms | p99 ms | errors | engine CPU-us per request |"
        " engine cores | idle cores |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in (("post", "single posts"), ("home_timeline_read", "home pages")):
        r = result[name]
        cpu = r.get("cpu") or {}
        cores = (cpu.get("cores") or {}).get("engine")
        per = r.get("engine_cpu_us_per_request")
        lines.append(
            f"| {label} | {r['per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
            f" {r['errors']} | {'' if per is None else f'{per:,.0f}'} |"
            f" {'' if cores is None else cores} | {cpu.get('idle', '')} |"
        )
    lines += ["", "![throughput, latency and CPU over the run](chart.png)", ""]
    if result.get("engine_pid") is None:
        lines.insert(-2, "CPU figures need the engine's process on this machine (`--pid`).")
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    """Requests per second, p99 latency and the engine's cores, second by second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = result["started"]
    fig, (thr, lat, cpu) = plt.subplots(3, 1, figsize=(12, 9), sharex=True)
    for name, label in (("post", "single posts"), ("home_timeline_read", "home pages")):
        r = result[name]
        offset = r["t0_wall"] - t0
        xs = [row["t"] + offset for row in r["series"]]
        thr.plot(xs, [row["per_s"] for row in r["series"]], label=f"{label} /s")
        lat.plot(xs, [row["p99_ms"] for row in r["series"]], label=f"{label} p99 ms")
        for ax in (thr, lat, cpu):
            ax.axvspan(offset, r["t1_wall"] - t0, alpha=0.05, color="black")
    series = result.get("cpu_series") or []
    cpu.plot(
        [row["t"] for row in series], [row.get("engine", 0.0) for row in series], label="engine"
    )
    cpu.plot(
        [row["t"] for row in series], [row.get("others", 0.0) for row in series], label="others"
    )
    thr.set_ylabel("requests/s")
    lat.set_ylabel("ms")
    lat.set_yscale("log")
    cpu.set_ylabel("cores")
    cpu.set_xlabel("seconds since the run started")
    for ax in (thr, lat, cpu):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"bench.embedded — {result['target']}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
