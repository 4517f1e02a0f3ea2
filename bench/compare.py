"""CPU per post and per home page of two checkouts of the engine, side by side.

Runs `timeline up` (embedded backend, a fresh data folder, rate limits off) from each
checkout in turn, round after round (A, B, A, B, ...), each through the same load as
bench/embedded.py: users and a follow graph (mean fan-out 20), then posts from many
concurrent clients for a fixed time, then home timeline reads. For each phase it records the
engine process's CPU seconds (from /proc) and the requests served, so the figure is CPU-us
per unit, steadier than throughput on a shared machine; the ratio B/A of the medians over the
rounds is the comparison. The load generator runs in this process and is not counted.

    python -m bench.compare --a /path/to/old/checkout --b . [--rounds 2] [--seconds 15]

Each checkout runs with this interpreter, from its own folder (`python -m timeline` imports
the checkout's packages first), so both use the same dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.config import RESULTS_DIR
from bench.cpu import process_cpu_s
from bench.embedded import drive, free_port, requests_of, setup, wait_ready
from bench.tweet_texts import corpus_texts


def start(checkout: Path, data: str, port: int) -> subprocess.Popen[bytes]:
    """`timeline up` from a checkout, on the embedded backend in `data`."""
    env = dict(
        os.environ,
        TIMELINE_BACKEND="embedded",
        TIMELINE_DATA_DIR=data,
        TIMELINE_RATE_LIMITS="off",
        TIMELINE_LOG_LEVEL="WARNING",
        PYTHONPATH=str(checkout),
    )
    cmd = [sys.executable, "-m", "timeline", "up", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, cwd=checkout, stdout=subprocess.DEVNULL)


async def measured(pid: int, phase: Any) -> dict[str, float]:
    """A phase's figures with the engine's CPU-us per request served."""
    before = process_cpu_s(pid) or 0.0
    figures = await phase
    used = (process_cpu_s(pid) or 0.0) - before
    served = figures["requests"] - figures["errors"]
    return {**figures, "cpu_s": used, "cpu_us_per_request": used * 1e6 / max(served, 1)}


async def one_run(checkout: Path, seconds: float, clients: int, users: int) -> dict[str, Any]:
    port = free_port()
    proc = start(checkout, tempfile.mkdtemp(prefix="timeline-compare-"), port)
    url = f"http://127.0.0.1:{port}"
    texts = corpus_texts()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as s:
            await wait_ready(s, url, proc, timeout_s=60)
            ids = await setup(s, url, users)

            post, read = requests_of(s, url, ids, texts)

            await asyncio.sleep(3)  # the graph's fan-out settles before the clock starts
            posting = await measured(proc.pid, drive(clients, seconds, post))
            await asyncio.sleep(3)  # fan-out catches up before reading
            reading = await measured(proc.pid, drive(clients, seconds, read))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {"post": posting, "home": reading}


def summary(runs: dict[str, list[dict[str, Any]]], command: str) -> str:
    lines = [
        "# Two checkouts side by side (embedded backend, one process)",
        "",
        f"`{command}`",
        "",
        "| phase | figure | A (median) | B (median) | B/A |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for phase in ("post", "home"):
        for figure in ("cpu_us_per_request", "per_s", "p99_ms"):
            a = statistics.median(r[phase][figure] for r in runs["a"])
            b = statistics.median(r[phase][figure] for r in runs["b"])
            lines.append(f"| {phase} | {figure} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--b", type=Path, default=Path("."), help="the checkout compared")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for n in range(args.rounds):
        for side in ("a", "b"):
            checkout = getattr(args, side).resolve()
            result = asyncio.run(one_run(checkout, args.seconds, args.clients, args.users))
            runs[side].append(result)
            post, home = result["post"], result["home"]
            print(
                f"round {n + 1} {side}: post {post['cpu_us_per_request']:.0f} us "
                f"({post['per_s']:.0f}/s), home {home['cpu_us_per_request']:.0f} us "
                f"({home['per_s']:.0f}/s)",
                flush=True,
            )
    command = "python -m bench.compare " + " ".join(sys.argv[1:])
    out = RESULTS_DIR / f"compare-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps({"command": command, "runs": runs}, indent=2))
    text = summary(runs, command)
    (out / "SUMMARY.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
