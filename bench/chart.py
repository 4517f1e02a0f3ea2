"""One PNG of a run: throughput, latency and CPU over time, phases marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {
    "kafka": "#1f77b4",
    "cassandra": "#2ca02c",
    "fanout": "#ff7f0e",
    "ingest": "#d62728",
    "readers": "#9467bd",
    "bench": "#8c564b",
    "locust": "#e377c2",
    "others": "#7f7f7f",
    "steal": "#bcbd22",
}


LABEL_GAP = 0.014  # of the run's span: a 7-point vertical label's width on the chart


def draw(r: dict[str, Any], path: Path) -> None:
    """Three panels over the run's wall-clock time."""
    import matplotlib  # the bench extra's: the rest of this module needs none of it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (thr, lat, cpu) = plt.subplots(3, 1, figsize=(14, 11), sharex=True)
    _phases(r, (thr, lat, cpu))
    _pipeline(r, thr, lat)
    _http(r, thr, lat)
    _cpu(r, cpu)
    thr.set_ylabel("per second (log)")
    thr.set_yscale("log")
    thr.set_title("Throughput: home rows written, tweets published, HTTP requests offered/served")
    lat.set_ylabel("ms (log)")
    lat.set_yscale("log")
    lat.set_title("Latency: publish-to-visible and HTTP p99 (from the scheduled start)")
    cpu.set_ylabel("cores")
    cpu.set_xlabel("seconds since the run started")
    cpu.set_title("CPU by process (others: the rest of the machine)")
    for ax in (thr, lat):
        ax.grid(True, which="both", alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=7, loc="upper left", ncol=2)
    run = r.get("run", {})
    fig.suptitle(f"bench {run.get('started')} — scale {run.get('scale', {}).get('name')}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _phases(r: dict[str, Any], axes: tuple[Any, ...]) -> None:
    phases = r.get("phases", [])
    for i, ph in enumerate(phases):
        for ax in axes:
            ax.axvspan(ph["start_s"], ph["end_s"], color="#000000", alpha=0.04 if i % 2 else 0.0)
    starts = label_positions([ph["start_s"] for ph in phases])
    for ph, x in zip(phases, starts, strict=True):
        axes[-1].text(
            x, 0.98, ph["name"].replace("http:", ""), fontsize=7, rotation=90,
            transform=axes[-1].get_xaxis_transform(), va="top",
        )  # fmt: skip


def label_positions(starts: list[float], share: float = LABEL_GAP) -> list[float]:
    """Where each phase's (vertical) label goes: at its start, or just right of the label
    before it when phases start too close together for their labels to be read apart."""
    if not starts:
        return []
    gap = (max(starts) - min(starts) or 1.0) * share
    placed: list[float] = []
    for x in starts:
        placed.append(max(x, placed[-1] + gap) if placed else x)
    return placed


def _offset(r: dict[str, Any], wall: float | None) -> float:
    run_t0 = r.get("run", {}).get("t0_wall")
    return (wall - run_t0) if wall and run_t0 else 0.0


def rates(
    series: list[dict[str, Any]], key: str, window_s: float = 5.0
) -> tuple[list[float], list[float]]:
    """Per-second rates of a cumulative counter, each over the last `window_s` seconds
    (the fan-out counts rows a batch at a time, so shorter windows show only steps)."""
    xs, ys = [], []
    j = 0
    for i, row in enumerate(series):
        while series[j]["t"] < row["t"] - window_s:
            j += 1
        if i > j:
            xs.append(row["t"])
            ys.append((row[key] - series[j][key]) / (row["t"] - series[j]["t"]))
    return xs, ys


def _pipeline(r: dict[str, Any], thr: Any, lat: Any) -> None:
    drain = r.get("pipeline_throughput")
    if drain:
        off = _offset(r, drain.get("t0_wall"))
        xs, ys = rates(drain["series"], "home_rows")
        thr.plot(
            [off + x for x in xs], ys, color=COLORS["fanout"], label="fan-out drain: home rows/s"
        )
    e2e = r.get("pipeline_e2e")
    if e2e:
        off = _offset(r, e2e.get("t0_wall"))
        xs, ys = rates(e2e["fanout_series"], "home_rows", 10.0)  # a batch can take 5 s here
        thr.plot([off + x for x in xs], ys, color="#ffbb78", label="e2e: home rows/s")
        thr.hlines(
            e2e["rate_s"],
            off,
            off + e2e["seconds"],
            color="#ff9896",
            label="e2e: tweets/s published",
        )
        v = e2e["visible_series"]
        lat.plot([off + p["t"] for p in v], [p["p99_ms"] for p in v], color=COLORS["fanout"],
                 label="publish-to-visible p99")  # fmt: skip
        lat.plot([off + p["t"] for p in v], [p["p50_ms"] for p in v], color="#ffbb78",
                 label="publish-to-visible p50")  # fmt: skip


def _http(r: dict[str, Any], thr: Any, lat: Any) -> None:
    first = True
    for p in (r.get("http") or {}).values():
        off = _offset(r, p.get("t0_wall"))
        s = p["series"]
        xs = [off + row["t"] for row in s]
        thr.plot(xs, [row["offered_s"] for row in s], color="#c5b0d5", ls="--",
                 label="HTTP offered req/s" if first else None)  # fmt: skip
        thr.plot(xs, [row["ok"] for row in s], color=COLORS["readers"],
                 label="HTTP served ok/s" if first else None)  # fmt: skip
        lat.plot(xs, [row.get("home_p99_ms") for row in s], color=COLORS["readers"],
                 label="HTTP home timeline p99" if first else None)  # fmt: skip
        lat.plot(xs, [row.get("post_p99_ms") for row in s], color=COLORS["ingest"],
                 label="HTTP post p99" if first else None)  # fmt: skip
        first = False


def _cpu(r: dict[str, Any], ax: Any) -> None:
    series = r.get("cpu_series") or []
    if not series:
        return
    names = sorted({k for row in series for k in row if k not in ("t",)}, key=_order)
    xs = [row["t"] for row in series]
    stacks = [[row.get(n, 0.0) for row in series] for n in names]
    ax.stackplot(xs, stacks, labels=names, colors=[COLORS.get(n, "#17becf") for n in names])
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(names))
    cores = r.get("run", {}).get("machine", {}).get("cores")
    if cores:
        ax.axhline(cores, color="black", lw=0.8)


def _order(name: str) -> int:
    keys = list(COLORS)
    return keys.index(name) if name in keys else len(keys)
