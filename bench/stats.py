"""Latency summaries and per-second series, computed the same way for every benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def latency_summary(ms: Sequence[float] | np.ndarray) -> dict[str, float | int]:
    """count, mean, p50, p90, p99, p99.9 and max of latencies in milliseconds."""
    a = np.asarray(ms, dtype=float)
    if a.size == 0:
        return {"count": 0}
    p50, p90, p99, p999 = np.percentile(a, [50, 90, 99, 99.9])
    return {
        "count": int(a.size),
        "mean_ms": round(float(a.mean()), 3),
        "p50_ms": round(float(p50), 3),
        "p90_ms": round(float(p90), 3),
        "p99_ms": round(float(p99), 3),
        "p999_ms": round(float(p999), 3),
        "max_ms": round(float(a.max()), 3),
    }


def per_second(
    t_s: np.ndarray, latency_ms: np.ndarray | None = None, ok: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Events per whole second since t=0: count, failures, and latency p50/p99 when given."""
    if t_s.size == 0:
        return []
    seconds = np.floor(t_s).astype(int)
    rows = []
    for s in range(int(seconds.min()), int(seconds.max()) + 1):
        mask = seconds == s
        row: dict[str, Any] = {"t": s, "count": int(mask.sum())}
        if ok is not None:
            row["failed"] = int((~ok[mask]).sum())
        if latency_ms is not None and mask.any():
            p50, p99 = np.percentile(latency_ms[mask], [50, 99])
            row["p50_ms"], row["p99_ms"] = round(float(p50), 2), round(float(p99), 2)
        rows.append(row)
    return rows


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is zero."""
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)
