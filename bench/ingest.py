"""Ingest through `POST /v1/tweets/batch`: tweets acknowledged per second, as fast as it goes.

Sixteen batches of 1,000 tweets (the API's maximum) are kept in flight; every tweet counted
was answered 202 inside a 202 batch, i.e. Kafka acknowledged it (acks=all). The ingest
process appends to topics of its own, so no consumer work competes with it: the figure is
comparable with a bare producer's.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import numpy as np
import orjson

from bench.stats import latency_summary
from bench.tweet_texts import corpus_texts

BATCH = 1000
CONCURRENCY = 16  # batch requests in flight


def batch_bodies(user_ids: np.ndarray, count: int, seed: int) -> list[bytes]:
    """Distinct batch bodies: random authors, seed texts."""
    rng = np.random.default_rng(seed)
    texts = corpus_texts()
    bodies = []
    for b in range(count):
        authors = user_ids[rng.integers(0, user_ids.size, BATCH)]
        tweets = [
            {"author_id": str(a), "text": texts[(b * BATCH + i) % len(texts)]}
            for i, a in enumerate(authors)
        ]
        bodies.append(json.dumps({"tweets": tweets}, ensure_ascii=False).encode())
    return bodies


async def batch_ingest(
    url: str,
    user_ids: np.ndarray,
    tweets: int,
    concurrency: int = CONCURRENCY,
    seed: int = 5,
    bodies: list[bytes] | None = None,
) -> dict[str, Any]:
    """Post `tweets` tweets in batches with `concurrency` requests in flight (of `bodies`, by
    default 16 made here); the result holds each batch's latency in ms (`latencies`) and
    their summary."""
    bodies = bodies or batch_bodies(user_ids, 16, seed)
    batches = max(1, tweets // BATCH)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)
    accepted = 0
    refused: dict[str, int] = {}
    latencies: list[float] = []
    headers = {"Content-Type": "application/json"}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            async with http.post(
                "/v1/tweets/batch", data=bodies[i % len(bodies)], headers=headers
            ) as r:
                payload = orjson.loads(await r.read())  # the load generator's own CPU: lean
            latencies.append((time.perf_counter() - started) * 1000)
            if r.status != 202:
                code = payload.get("error", {}).get("code", str(r.status))
                refused[code] = refused.get(code, 0) + BATCH
                continue
            for result in payload["results"]:
                if "error" in result:
                    code = result["error"]["code"]
                    refused[code] = refused.get(code, 0) + 1
                else:
                    accepted += 1

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(url, timeout=timeout) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "tweets": batches * BATCH,
        "batch": BATCH,
        "concurrency": concurrency,
        "accepted": accepted,
        "refused": refused,
        "seconds": round(seconds, 3),
        "tweets_s": round(accepted / seconds, 1),
        "batch_latency": latency_summary(latencies),
        "latencies": latencies,
    }


def combined_ingest(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """batch_ingest() over several rounds as one: counts and seconds summed, so the rate is
    that of all of them; each round's rate kept."""
    refused: dict[str, int] = {}
    for r in rounds:
        for code, n in r["refused"].items():
            refused[code] = refused.get(code, 0) + n
    accepted = sum(r["accepted"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "tweets": sum(r["tweets"] for r in rounds),
        "batch": BATCH,
        "concurrency": rounds[0]["concurrency"],
        "accepted": accepted,
        "refused": refused,
        "seconds": round(seconds, 3),
        "tweets_s": round(accepted / seconds, 1),
        "rounds_tweets_s": [r["tweets_s"] for r in rounds],
        "batch_latency": latency_summary([ms for r in rounds for ms in r["latencies"]]),
    }
