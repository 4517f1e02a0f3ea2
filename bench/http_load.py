"""Running the Locust scenarios headless and reading what they recorded."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import REPO_ROOT, Scale
from bench.cpu import CpuSampler
from bench.stats import latency_summary

WARMUP_S = 2.0  # the first seconds open connections; they are left out of latency figures
KINDS = ("home_timeline", "user_timeline", "post_tweet")
BREAK_P99_MS = 500.0
BREAK_FAILED = 0.01
BREAK_ACHIEVED = 0.9


def locust_command(profile: str, write_url: str, out: Path, run_time_s: float) -> list[str]:
    """The headless Locust command for a profile, writing CSV and HTML into `out`."""
    return [
        sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "bench" / "locustfile.py"),
        "--headless", "-u", "1", "-r", "1", "--host", write_url,
        "--run-time", f"{int(run_time_s)}s", "--stop-timeout", "40", "--only-summary",
        "--csv", str(out / profile), "--html", str(out / f"{profile}.html"),
        "--loglevel", "WARNING",
    ]  # fmt: skip


def profile_env(
    profile: str, scale: Scale, graph: Path, read_url: str, series: Path
) -> dict[str, str]:
    return {
        "BENCH_PROFILE": profile,
        "BENCH_GRAPH": str(graph),
        "BENCH_READ_HOST": read_url,
        "BENCH_SERIES_OUT": str(series),
        "BENCH_SEED": str(scale.seed),
        "BENCH_RATE_FACTOR": str(scale.rate_factor),
        "BENCH_PROFILE_S": str(scale.profile_s),
        "BENCH_RAMP_S": str(scale.ramp_s),
        "BENCH_RAMP_MAX_REQUESTS_S": str(scale.ramp_max_requests_s),
        "BENCH_SURGE_TIME_FACTOR": str(scale.surge_time_factor),
        "BENCH_MAX_IN_FLIGHT": str(scale.max_in_flight),
    }


def profile_seconds(profile: str, scale: Scale) -> float:
    if profile == "ramp":
        return scale.ramp_s
    if profile == "surge":
        return 3600.0 / scale.surge_time_factor
    return scale.profile_s


def keep_report(html: Path) -> Path | None:
    """Locust's own HTML report of a profile, gzipped beside the run's results (~0.3 MB
    instead of ~0.9: most of it is the same bundled script); None if Locust wrote none."""
    if not html.exists():
        return None
    kept = html.with_name(html.name + ".gz")
    with html.open("rb") as src, gzip.open(kept, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    html.unlink()
    return kept


async def run_profile(
    profile: str,
    scale: Scale,
    write_url: str,
    read_url: str,
    graph: Path,
    out: Path,
    sampler: CpuSampler,
) -> tuple[dict[str, Any], int]:
    """Run one profile with Locust; (its analysis, Locust's pid)."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    series = out / f"{profile}.npz"
    env = {**os.environ, **profile_env(profile, scale, graph, read_url, series)}
    cmd = locust_command(profile, write_url, out, profile_seconds(profile, scale) + 120)
    with (out / f"{profile}.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        sampler.watch("locust", proc.pid)
        await proc.wait()
    if not series.exists():
        raise RuntimeError(f"Locust wrote no series for {profile}; see {out / profile}.log")
    report = await asyncio.to_thread(keep_report, out / f"{profile}.html")
    result = analyse(series)
    if report is not None:
        result["locust_report"] = report.name
    result["command"] = " ".join(
        [f"BENCH_PROFILE={profile}", "BENCH_GRAPH=<graph.npz>", "BENCH_READ_HOST=<readers>"]
        + [Path(c).name if c == sys.executable else c for c in cmd[1:]]
    )
    return result, proc.pid


def analyse(path: Path, warmup_s: float = WARMUP_S) -> dict[str, Any]:
    """Offered and achieved rates, latency from the scheduled start, failures, per second."""
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    due, kind, latency, late, status = (
        data["due"], data["kind"], data["latency_ms"], data["late_ms"], data["status"]
    )  # fmt: skip
    seconds = float(meta["seconds"])
    ok = (status >= 200) & (status < 300)
    sent = status != -1
    steady = due >= warmup_s
    per_kind = {}
    for k, name in enumerate(KINDS):
        mine = kind == k
        if not mine.any():
            continue
        per_kind[name] = {
            "due": int(mine.sum()),
            "ok": int((mine & ok).sum()),
            "failed": int((mine & sent & ~ok).sum()),
            "not_sent": int((mine & ~sent).sum()),
            "ok_s": round(float((mine & ok).sum()) / seconds, 1),
            "latency": latency_summary(latency[mine & ok & steady]),
        }
    result = {
        "profile": meta["profile"],
        "note": meta["note"],
        "t0_wall": meta["t0_wall"],
        "seconds": seconds,
        "offered_s": round(due.size / seconds, 1),
        "offered_peak_s": round(max(rate for _, rate in meta["offered"]), 1),
        "ok_s": round(float(ok.sum()) / seconds, 1),
        "failed": int((sent & ~ok).sum()),
        "not_sent": int((~sent).sum()),
        "generator_late_ms": latency_summary(late[sent]),
        "kinds": per_kind,
        "series": _series(meta, due, kind, latency, ok),
    }
    if meta["profile"] == "ramp":
        result["breaking_point"] = breaking_point(result["series"], meta["mix"])
    return result


def _series(
    meta: dict[str, Any], due: np.ndarray, kind: np.ndarray, latency: np.ndarray, ok: np.ndarray
) -> list[dict[str, Any]]:
    second = np.floor(due).astype(int)
    rows = []
    for s, offered in meta["offered"]:
        mask = second == s
        good = mask & ok
        row = {
            "t": s,
            "offered_s": round(offered, 1),
            "due": int(mask.sum()),
            "ok": int(good.sum()),
            "failed": int((mask & ~ok).sum()),
        }
        home = good & (kind == 0)
        posts = good & (kind == 2)
        if good.any():
            row["p50_ms"], row["p99_ms"] = (
                round(float(v), 1) for v in np.percentile(latency[good], [50, 99])
            )
        if home.any():
            row["home_p99_ms"] = round(float(np.percentile(latency[home], 99)), 1)
        if posts.any():
            row["post_p99_ms"] = round(float(np.percentile(latency[posts], 99)), 1)
        rows.append(row)
    return rows


def breaking_point(series: list[dict[str, Any]], mix: dict[str, float]) -> dict[str, Any]:
    """The first second (of three in a row) where the mix stops being served: p99 above
    BREAK_P99_MS, more than BREAK_FAILED failed, or under BREAK_ACHIEVED of the offered rate
    completed; and the best rate that was served before it."""

    def broken(row: dict[str, Any]) -> bool:
        due = max(row["due"], 1)
        return bool(
            row.get("p99_ms", float("inf")) > BREAK_P99_MS
            or row["failed"] / due > BREAK_FAILED
            or row["ok"] < BREAK_ACHIEVED * row["offered_s"]
        )

    run = 0
    for i, row in enumerate(series):
        run = run + 1 if broken(row) else 0
        if run == 3:
            first = series[i - 2]
            served = [r["ok"] for r in series[: i - 2]] or [0]
            return {
                "t": first["t"],
                "offered_requests_s": first["offered_s"],
                "offered_tweets_s": round(first["offered_s"] * mix["post_tweet"], 1),
                "best_served_requests_s": max(served),
                "rule": f"p99 > {BREAK_P99_MS:g} ms, > {BREAK_FAILED:.0%} failed, or < "
                f"{BREAK_ACHIEVED:.0%} of the offered rate served, 3 s in a row",
            }
    return {"t": None, "note": "no breaking point within the ramp; raise BENCH_RAMP_MAX_REQUESTS_S"}
