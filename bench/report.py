"""A run's results as JSON, a chart, and a short markdown summary with every ratio and goal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import NBA_FINALS_TWEETS_S, RESULTS_DIR
from bench.costs import (
    COST_ROUNDS,
    PEAK_FANOUT,
    PEAK_READS_S,
    PEAK_TWEETS_S,
    capacity,
    cost_ratio,
)
from bench.levers import evidence, levers_for
from bench.stats import ratio
from readers.celebrities import HIGH_FOLLOWER_PAGE

Result = dict[str, Any]
Met = Callable[[float, float], bool]  # (figure, ratio) -> goal met


def dig(r: Result, *path: str) -> Any:
    """r[a][b]… or None when any step is missing."""
    for key in path:
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


def goals(r: Result) -> list[Result]:
    """Each goal of the issue: the figure, its baseline, the ratio, and whether it is met."""
    scale = dig(r, "run", "scale") or {}
    factor = scale.get("rate_factor", 1.0)
    out = []

    def add(key: str, name: str, figure: Any, unit: str, base: Any, base_name: str,
            target: str, met: Met, detail: str = "") -> None:  # fmt: skip
        rt = ratio(figure, base)
        out.append(
            {
                "key": key.split(":")[0],
                "where": key,
                "goal": name,
                "figure": figure,
                "unit": unit,
                "baseline": base,
                "baseline_name": base_name,
                "ratio": rt,
                "target": target,
                "met": None if rt is None else met(figure, rt),
                "detail": detail,
            }
        )

    add("ingest", "ingest: POST /v1/tweets/batch vs raw aiokafka",
        dig(r, "ingest_batch", "tweets_s"), "tweets/s",
        dig(r, "baselines", "raw_aiokafka", "records_s"), "raw aiokafka records/s",
        ">= 0.8x", lambda v, rt: rt >= 0.8)  # fmt: skip
    add("posts", "single-tweet HTTP posts vs 3,085/s",
        dig(r, "http", "posts3085", "kinds", "post_tweet", "ok_s"), "posts/s",
        NBA_FINALS_TWEETS_S * factor, "offered posts/s", ">= 1.0x",
        lambda v, rt: rt >= 0.99)  # fmt: skip
    add("fanout", "fan-out home rows/s vs raw single-row inserts",
        dig(r, "pipeline_throughput", "rows_s"), "rows/s",
        dig(r, "baselines", "raw_cassandra_writes", "rows_s"), "raw inserts rows/s",
        ">= 1.5x", lambda v, rt: rt >= 1.5)  # fmt: skip
    for rate in (scale.get("read_rate_s", 1000.0), scale.get("read_low_rate_s")):
        if rate is None:
            continue
        name = f"home-timeline read p99 at {rate:,g} reads/s under write load vs raw read"
        http = dig(r, "http", f"read{rate:g}", "kinds", "home_timeline", "latency") or {}
        raw = dig(r, "baselines", "raw_home_reads_beside_fanout", f"{rate:g}") or {}
        detail = (
            f"Medians: {_fmt(http.get('p50_ms'))} ms through HTTP against "
            f"{_fmt(raw.get('p50_ms'))} ms raw "
            f"({_fmt(ratio(http.get('p50_ms'), raw.get('p50_ms')), 2)}x)."
        )
        if (raw.get("generator_late_p99_ms") or 0.0) > 10:
            detail += (
                f" The raw baseline itself fell behind its schedule (late p99 "
                f"{_fmt(raw['generator_late_p99_ms'])} ms): at {rate:,g}/s both sides queue on "
                "this machine, so the ratio compares two queues, not two read paths."
            )
        add(f"reads:{rate:g}", name, http.get("p99_ms"), "ms", raw.get("p99_ms"),
            "raw single-partition read p99, same rate, beside the same fan-out load",
            "<= 1.5x and < 15 ms", lambda v, rt: rt <= 1.5 and v < 15, detail)  # fmt: skip

    _cost_goals(r, add)
    e2e = r.get("pipeline_e2e")
    if e2e:
        checks = e2e_checks(e2e)
        out.append(
            {
                "key": "e2e",
                "where": f"e2e:{e2e['rate_s']:g}",
                "goal": f"end to end: {e2e['rate_s']:,.0f} tweets/s for {e2e['seconds']:g}s",
                "figure": e2e["visible"].get("p99_ms"),
                "unit": "ms p99 publish-to-visible",
                "baseline": 1000,
                "baseline_name": "1 s",
                "ratio": ratio(e2e["visible"].get("p99_ms"), 1000),
                "target": "; ".join(
                    f"{c}: {'yes' if ok else '**no**'}" for c, ok in checks.items()
                ),
                "checks": checks,
                "met": all(checks.values()),
            }
        )
    held = r.get("pipeline_held")
    if held:
        rate = held["held_rate_s"]
        tried = ", ".join(
            f"{step['rate_s']:,.0f}/s {'held' if step['held'] else 'not held'} "
            f"(p99 {_fmt(step['visible'].get('p99_ms'))} ms)"
            for step in held["steps"]
        )
        out.append(
            {
                "key": "e2e_held",
                "where": f"e2e_held:{held['steps'][-1]['rate_s']:g}",
                "goal": f"end to end: highest rate held for {held['seconds']:g}s "
                "(p99 publish-to-visible < 1 s, mean fan-out >= 20, nothing lost)",
                "figure": rate,
                "unit": "tweets/s",
                "baseline": held["goal_rate_s"],
                "baseline_name": "the seeds' peak, tweets/s",
                "ratio": ratio(rate, held["goal_rate_s"]),
                "target": f">= 1.0x; tried {tried}",
                "met": rate >= held["goal_rate_s"],
            }
        )
    return out


def e2e_checks(e2e: dict[str, Any]) -> dict[str, bool]:
    """What a pipeline run at a fixed rate must show to have held that rate."""
    on_time = e2e["publish_seconds"] <= e2e["seconds"] * 1.05 and e2e["failed_appends"] == 0
    return {
        f"published {e2e['rate_s']:,.0f}/s for {e2e['seconds']:g}s on schedule "
        f"(took {e2e['publish_seconds']:g}s)": on_time,
        f"mean fan-out {e2e['mean_fanout']} >= 20": e2e["mean_fanout"] >= 20,
        f"lost {e2e['lost']} of {e2e['tracked']} tracked deliveries "
        f"({e2e['not_seen_beyond_cap']} not seen but beyond the timeline cap, "
        f"{e2e.get('seen_only_at_end', 0)} seen only at the end)": e2e["lost"] == 0,
        f"fan-out caught up {e2e['caught_up_after_publish_s']} s after the last publish": (
            e2e["caught_up_after_publish_s"] is not None
        ),
        f"home rows {e2e['home_rows']:,} of {e2e['expected_home_rows']:,} expected": (
            e2e["home_rows"] >= e2e["expected_home_rows"]
        ),
        "publish-to-visible p99 < 1 s": e2e["visible"].get("p99_ms", 1e9) < 1000,
    }


HIGH_FOLLOWER_OPS = (HIGH_FOLLOWER_PAGE, "celeb")  # readers/celebrities.py's reads
COST_PATHS = (  # (path in r["costs"], unit, what the engine side is, what the bare side is)
    ("fanout", "home row", "`timeline fanout` draining a pre-loaded log",
     "cassandra-driver, ids-only rows, prepared unlogged per-partition batches, 64 in flight"),
    ("post", "post", "`timeline ingest`, POST /v1/tweets from 64 clients (closed loop)",
     "aiohttp handler: parse, aiokafka send_and_wait (acks=all, idempotent), 202; same client"),
    ("page", "page", "`timeline readers`, GET home_timeline (20) from 64 clients (closed loop)",
     "cassandra-driver, one home_timeline partition LIMIT 20, 64 in flight"),
    ("batch_ingest", "tweet", "`timeline ingest`, POST /v1/tweets/batch (1,000 a request)",
     "raw aiokafka producer (acks=all, idempotent)"),
)  # fmt: skip


def _cost_goals(r: Result, add: Callable[..., None]) -> None:
    """The CPU-per-unit goals: each path at most 1.5x its bare client's CPU per unit (servers
    included), Cassandra requests per fanned-out tweet and per page, batch ingest's rate."""
    costs = r.get("costs") or {}
    for path, unit, _, _ in COST_PATHS[:3]:
        c = costs.get(path) or {}
        add(f"{path}_cpu", f"{path}: CPU per {unit} (engine + servers) vs bare client",
            dig(c, "engine", "total_us"), f"CPU-us/{unit}", dig(c, "bare", "total_us"),
            f"bare CPU-us/{unit}", "<= 1.5x", lambda v, rt: rt <= 1.5)  # fmt: skip
    per_tweet = dig(costs, "fanout", "requests_per_tweet", "per_unit")
    add("fanout_requests", "fan-out: Cassandra requests per fanned-out tweet", per_tweet,
        "requests/tweet", 0.5 if per_tweet is not None else None, "target",
        "<= 0.5", lambda v, rt: v <= 0.5)  # fmt: skip
    per_page = dig(costs, "page", "requests_per_page", "per_unit")
    # the allowance: one request per page, plus one per followed high-follower author
    # whose recent tweets were not in memory (`high_follower_page`) and the held set of those
    # authors read again in the background (`celeb`); every other request counts against it
    by_op = dig(costs, "page", "requests_per_page", "by_op_per_unit") or {}
    extra = sum(by_op.get(op, 0.0) for op in HIGH_FOLLOWER_OPS)
    counts, units = (
        dig(costs, "page", "requests_per_page", "by_op"),
        dig(costs, "page", "requests_per_page", "units"),
    )
    if counts and units:  # from the counts: per-op figures are rounded each on its own
        per_page = sum(counts.values()) / units
        extra = sum(counts.get(op, 0) for op in HIGH_FOLLOWER_OPS) / units
    allowed = 1.0 + extra if per_page is not None else None
    add("page_requests", "home page: Cassandra requests per page", per_page, "requests/page",
        allowed, "target: 1 + high-follower reads per page", "<= 1 + high-follower reads",
        lambda v, rt: rt <= 1.0)  # fmt: skip
    add("ingest", "ingest (this step): POST /v1/tweets/batch vs raw aiokafka",
        dig(r, "ingest_batch", "tweets_s"), "tweets/s",
        dig(r, "baselines", "raw_aiokafka", "records_s"), "raw aiokafka records/s",
        ">= 0.6x", lambda v, rt: rt >= 0.6)  # fmt: skip


def cost_rows(r: Result) -> list[dict[str, Any]]:
    """Per path: CPU-us per unit (engine side, servers, total) for the engine and its bare
    client, the ratio of the totals, and each side's rate."""
    costs = r.get("costs") or {}
    rows = []
    for path, unit, engine_what, bare_what in COST_PATHS:
        c = costs.get(path) or {}
        engine, bare = c.get("engine") or {}, c.get("bare") or {}
        if not engine and not bare:
            continue
        rows.append(
            {
                "path": path,
                "unit": unit,
                "engine": engine,
                "bare": bare,
                "ratio": cost_ratio(engine, bare),
                "engine_what": engine_what,
                "bare_what": bare_what,
            }
        )
    return rows


def round_ratios(engine: dict[str, Any], bare: dict[str, Any]) -> list[float]:
    """Engine over bare CPU per unit in each round, when both sides were measured in rounds."""
    e, b = engine.get("rounds_total_us") or [], bare.get("rounds_total_us") or []
    return [x / y for x, y in zip(e, b, strict=False) if x is not None and y]


def peak_capacity(r: Result) -> dict[str, Any]:
    """Cores the seeds' peak needs at the engine's and at the bare clients' measured costs."""
    costs = r.get("costs") or {}

    def side(name: str) -> dict[str, Any]:
        return capacity(
            {
                "fanout_row": dig(costs, "fanout", name, "total_us"),
                "post": dig(costs, "post", name, "total_us"),
                "page": dig(costs, "page", name, "total_us"),
            }
        )

    return {"engine": side("engine"), "bare": side("bare")}


def _costs(r: Result) -> list[str]:
    rows = cost_rows(r)
    if not rows:
        return []
    lines = [
        "## CPU per unit (engine against its bare client, same run, same servers)",
        "",
        "CPU seconds read from /proc over each measurement, divided by the units done; "
        "`servers` is Kafka + Cassandra, read until Cassandra was idle again after a write "
        "load (flushes and compaction included); the load generator is not counted. Other "
        "users of shared servers count on both sides alike.",
        "",
        "| path | engine CPU-us: engine / servers / total | rate /s | bare CPU-us: client / "
        "servers / total | rate /s | ratio (total) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        e, b = row["engine"], row["bare"]
        lines.append(
            f"| {row['path']} (per {row['unit']}) | {_fmt(e.get('client_us'))} / "
            f"{_fmt(e.get('servers_us'))} / **{_fmt(e.get('total_us'))}** | "
            f"{_fmt(e.get('rate_s'))} | {_fmt(b.get('client_us'))} / "
            f"{_fmt(b.get('servers_us'))} / **{_fmt(b.get('total_us'))}** | "
            f"{_fmt(b.get('rate_s'))} | {_fmt(row['ratio'], 2)}x |"
        )
    spread = [
        f"{row['path']} {', '.join(f'{x:.2f}x' for x in ratios)}"
        for row in rows
        if (ratios := round_ratios(row["engine"], row["bare"]))
    ]
    if spread:
        lines += [
            "",
            f"Measured in {COST_ROUNDS} rounds, engine and bare alternating; the ratio of each "
            f"round: {'; '.join(spread)}.",
        ]
    costs = r.get("costs") or {}
    per_tweet = dig(costs, "fanout", "requests_per_tweet") or {}
    per_page = dig(costs, "page", "requests_per_page") or {}
    per_first_page = dig(costs, "page", "requests_per_first_page") or {}
    sizes = dig(costs, "fanout", "bytes_per_row") or {}
    lines += [""]
    per_post = dig(costs, "post", "requests_per_post") or {}
    for name, req, unit in (
        ("fan-out", per_tweet, "tweet"),
        ("home page", per_page, "page"),
        ("a user's first home page in the process (the warm-up)", per_first_page, "page"),
        ("single post", per_post, "post"),
    ):
        if req:
            ops = ", ".join(f"{op} {n:g}" for op, n in list(req["by_op_per_unit"].items())[:8])
            lines.append(
                f"- {name}: **{_fmt(req.get('per_unit'), 3)} Cassandra requests per {unit}** "
                f"({_fmt(req.get('requests'))} in all; per operation: {ops or 'none'})."
            )
    if sizes:
        lines.append(
            f"- Bytes on disk per home row after a flush: engine `home_timeline` "
            f"{_fmt(sizes.get('engine'))}, bare ids-only table {_fmt(sizes.get('bare'))}."
        )
    lines += [f"- {row['path']}: engine = {row['engine_what']}; bare = {row['bare_what']}."
              for row in rows]  # fmt: skip
    waits = [
        f"{row['path']} {side} {w['waited_s']:g} s" + ("" if w.get("idle") else " (not idle)")
        for row in rows
        for side in ("engine", "bare")
        if (w := (row[side] or {}).get("cassandra_idle_wait")) and w.get("idle") is not None
    ]
    if waits:
        lines.append(f"- Waited for Cassandra to be idle after: {', '.join(waits)}.")
    return [*lines, "", *_capacity(r)]


def _capacity(r: Result) -> list[str]:
    cap = peak_capacity(r)
    e, b = cap["engine"], cap["bare"]
    names = {"fanout_row": "fan-out (home rows)", "post": "single posts", "page": "home pages"}
    lines = [
        f"### Cores for the seeds' peak ({PEAK_TWEETS_S:,.0f} tweets/s posted one a request, "
        f"fan-out {PEAK_FANOUT:g}, {PEAK_READS_S:,.0f} home pages/s), at this run's costs",
        "",
        "| work | units/s | engine cores | bare-client cores |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, name in names.items():
        lines.append(
            f"| {name} | {_fmt(e['units_s'][key], 0)} | {_fmt(e['cores'][key], 2)} | "
            f"{_fmt(b['cores'][key], 2)} |"
        )
    lines.append(
        f"| **total** | | **{_fmt(e['total_cores'], 2)}** | **{_fmt(b['total_cores'], 2)}** |"
    )
    return lines


def write(out: Path, r: Result) -> None:
    """results.json, chart.png and SUMMARY.md in `out`; the summary again as LATEST.md,
    unless the run measured an engine already running (`--target`), which is no standard
    set."""
    r["goals"] = goals(r)
    try:
        from bench.chart import draw  # matplotlib, the bench extra: only when a run is written

        draw(r, out / "chart.png")
    except Exception as e:  # a chart must never lose the figures
        r.setdefault("errors", []).append(f"chart: {e!r}")
    (out / "results.json").write_text(json.dumps(r, indent=1, default=str) + "\n")
    (out / "SUMMARY.md").write_text(summary(out, r, ""))
    if not r.get("run", {}).get("target"):
        (RESULTS_DIR / "LATEST.md").write_text(summary(out, r, f"{out.name}/"))


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _met(v: Any) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[v]


def summary(out: Path, r: Result, base: str) -> str:
    """The markdown summary; `base` is the run folder relative to where it is written."""
    run = r.get("run", {})
    scale = run.get("scale", {})
    lines = [
        f"# Benchmark run {run.get('started')} — scale `{scale.get('name')}`",
        "",
        f"Produced by `{run.get('command')}` (env: {_env(run)}) on engine "
        f"`{run.get('engine', 'unknown')}`; figures in "
        f"[{base or './'}results.json]({base}results.json), chart below.",
        "",
        *_machine(r),
        "",
        *_noise(r),
        "",
        "## Goals",
        "",
        "| goal | figure | baseline (same run) | ratio | target | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for g in r.get("goals", []):
        lines.append(
            f"| {g['goal']} | {_fmt(g['figure'])} {g['unit']} | {_fmt(g['baseline'])} "
            f"({g['baseline_name']}) | {_fmt(g['ratio'], 3)} | {g['target']} | {_met(g['met'])} |"
        )
    lines += ["", *_misses(r), "", f"![throughput, latency and CPU over the run]({base}chart.png)"]
    lines += ["", *_costs(r), "", *_figures(r), "", *_http(r), "", *_bounds(r)]
    return "\n".join(lines) + "\n"


def _phase(r: Result, name: str) -> Result:
    return next((p for p in r.get("phases", []) if p["name"] == name), {})


def _noise(r: Result) -> list[str]:
    """How much of the machine other processes and the hypervisor took while measuring."""
    shares = [
        (p["name"], p["cpu"]["others"] + p["cpu"]["steal"], p["cpu"].get("machine_cores", 0))
        for p in r.get("phases", [])
        if p.get("cpu") and p["name"] != "graph"
    ]
    if not shares:
        return []
    worst = max(shares, key=lambda x: x[1])
    mean = sum(x[1] for x in shares) / len(shares)
    cores = worst[2] or 1
    line = (
        f"Other tenants of the machine and hypervisor steal took {mean:.2f} of {cores} cores on "
        f"average while measuring (worst: {worst[1]:.2f} in `{worst[0]}`)."
    )
    if mean > NOISY_CORES:
        line = (
            f"**Noisy machine:** {line[0].lower()}{line[1:]} Absolute figures are lower than "
            "this machine gives alone; ratios between phases are affected when that share "
            "changed between them (see the CPU table)."
        )
    return [line]


def _misses(r: Result) -> list[str]:
    """For every goal missed: where the CPU went, the frames that took it, what would move it."""
    lines = []
    for g in r.get("goals", []):
        if g.get("met") is not False:
            continue
        phase_name, _, profiles = evidence(g.get("where", g["key"]), r)
        lines += [f"### Missed: {g['goal']}", ""]
        if g.get("detail"):
            lines.append(f"- {g['detail']}")
        cpu = _phase(r, phase_name).get("cpu")
        if cpu:
            procs = ", ".join(f"{k} {v:.2f}" for k, v in list(cpu["cores"].items())[:5])
            lines.append(
                f"- CPU in `{phase_name}` (cores of {cpu['machine_cores']}): {procs}; other "
                f"tenants {cpu['others']:.2f}, steal {cpu['steal']:.2f}, idle {cpu['idle']:.2f}."
            )
        for name in profiles:
            p = dig(r, "profiles", name)
            if not p or not p.get("samples"):
                continue
            own = "; ".join(f"{share:.0f}% `{frame}`" for share, frame in p["own_time"][:4])
            lines.append(f"- `{name}` own time: {own}.")
            proj = "; ".join(
                f"{share:.0f}% `{frame}`" for share, frame in p["total_time_project"][:5]
            )
            lines.append(f"- `{name}` time under project frames: {proj}.")
        lines += [f"- {text}" for text in levers_for(g.get("where", g["key"]), r)]
        lines.append("")
    return ["## What bounds the missed goals", "", *lines] if lines else []


def _env(run: Result) -> str:
    env = run.get("env") or {}
    return ", ".join(f"`{k}={v}`" for k, v in env.items()) or "none"


def _machine(r: Result) -> list[str]:
    run = r.get("run", {})
    m = run.get("machine", {})
    g = r.get("graph", {})
    scale = run.get("scale", {})
    lines = [
        f"Machine: {m.get('cores')} cores shared by Kafka, Cassandra, the engine and the load "
        f"generator; Python {m.get('python')}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m.get('load_average_at_start', []))}. "
        + (
            f"The engine measured: the one already running at {run['target']}, its graph "
            "loaded through its API."
            if run.get("target")
            else f"Keyspace `{run.get('keyspace')}`, topics `{run.get('topic_prefix')}*` "
            f"({run.get('kafka_partitions')} partitions), dropped at the end."
        ),
    ]
    if g:
        lines += [
            "",
            f"Graph: {g['users']:,} users, {g['edges']:,} follows (mean following "
            f"{g['mean_following']}, max {g['max_following']}), followers median "
            f"{g['median_followers']:g}, p99 {g['p99_followers']:g}, top "
            f"{', '.join(map(str, g['top_followers'][:5]))}; {g['celebrities']} accounts above the "
            f"celebrity threshold {g['celebrity_threshold']:,} (merged at read time); mean fan-out "
            f"of a tweet by a uniformly chosen author {g['mean_fanout']} home rows. Seed "
            f"{scale.get('seed')}.",
        ]
    if scale.get("rate_factor", 1.0) != 1.0:
        lines += ["", f"**Every HTTP profile rate is scaled by {scale['rate_factor']}.**"]
    return lines


def _figures(r: Result) -> list[str]:
    b = r.get("baselines", {})
    raw_kafka = dig(b, "raw_aiokafka", "records_s")
    java = b.get("producer_performance") or {}
    pre = r.get("pipeline_preload") or {}
    drain = r.get("pipeline_throughput") or {}
    e2e = r.get("pipeline_e2e") or {}
    visible = e2e.get("visible") or {}
    rows = [
        ("raw aiokafka producer (acks=all, idempotent)", raw_kafka, "records/s",
         f"{_fmt(dig(b, 'raw_aiokafka', 'record_bytes'))} B records"),
        ("Kafka ProducerPerformance (Java, same size)", java.get("records_s"), "records/s",
         f"p99 {_fmt(java.get('p99_latency_ms'))} ms; raw aiokafka is "
         f"{_fmt(ratio(raw_kafka, java.get('records_s')), 3)}x of it"),
        ("engine EventLog.append_many (pipeline pre-load)", pre.get("tweets_s"), "events/s",
         f"{_fmt(ratio(pre.get('tweets_s'), raw_kafka), 3)}x raw aiokafka; "
         f"{_fmt(pre.get('chunk'))} events a call"),
        ("ingest POST /v1/tweets/batch", dig(r, "ingest_batch", "tweets_s"), "tweets/s",
         f"batch p99 {_fmt(dig(r, 'ingest_batch', 'batch_latency', 'p99_ms'))} ms"),
        ("raw cassandra-driver single-row inserts", dig(b, "raw_cassandra_writes", "rows_s"),
         "rows/s", f"{_fmt(dig(b, 'raw_cassandra_writes', 'concurrency'))} in flight"),
        ("raw single-partition reads (LIMIT 20)", dig(b, "raw_cassandra_reads", "reads_s"),
         "reads/s", f"{_fmt(dig(b, 'raw_cassandra_reads', 'concurrency'))} in flight"),
        ("raw read p99 at 1,000/s, alone", dig(b, "raw_read_latency", "p99_ms"), "ms",
         f"p50 {_fmt(dig(b, 'raw_read_latency', 'p50_ms'))} ms; generator late p99 "
         f"{_fmt(dig(b, 'raw_read_latency', 'generator_late_p99_ms'))} ms"),
        *_beside_rows(b),
        ("fan-out over a pre-loaded log", drain.get("rows_s"), "home rows/s",
         f"{_fmt(drain.get('tweets_s'))} tweets/s; {_fmt(drain.get('rows_s_from_start'))} "
         f"rows/s counting start-up; {_fmt(drain.get('home_rows'))} of "
         f"{_fmt(drain.get('expected_home_rows'))} rows"),
        ("publish-to-visible p50", visible.get("p50_ms"), "ms",
         f"p99 {_fmt(visible.get('p99_ms'))} ms, max {_fmt(visible.get('max_ms'))} ms over "
         f"{_fmt(visible.get('count'))} deliveries; poll every {_fmt(e2e.get('poll_ms'), 0)} ms"),
        ("graph: follows applied by the fan-out", dig(r, "graph", "follows_applied_s"),
         "follows/s", f"appended at {_fmt(dig(r, 'graph', 'appended_events_s'))} events/s"),
    ]  # fmt: skip
    lines = ["## Figures", "", "| what | figure | | notes |", "| --- | ---: | --- | --- |"]
    lines += [f"| {a} | {_fmt(v)} | {u} | {n} |" for a, v, u, n in rows]
    return lines


def _beside_rows(b: Result) -> list[tuple[str, Any, str, str]]:
    rows = []
    for rate, x in (b.get("raw_home_reads_beside_fanout") or {}).items():
        rows.append(
            (
                f"raw home-timeline read p99 at {float(rate):,g}/s beside the fan-out",
                x.get("p99_ms"),
                "ms",
                f"p50 {_fmt(x.get('p50_ms'))} ms; generator late p99 "
                f"{_fmt(x.get('generator_late_p99_ms'))} ms; fan-out writing "
                f"{_fmt(x.get('fanout_rows_s'))} rows/s from {_fmt(x.get('write_tweets_s'))} "
                "tweets/s",
            )
        )
    return rows


def verdict(p: Result) -> str:
    """Whether a profile was served, and if not, whether the server or the generator gave."""
    late = dig(p, "generator_late_ms", "p99_ms") or 0.0
    served = p["ok_s"] >= 0.99 * p["offered_s"] and not p["not_sent"] and not p["failed"]
    p99s = [dig(k, "latency", "p99_ms") or 0.0 for k in p["kinds"].values()]
    if served and max(p99s, default=0.0) < 1000:
        return "served"
    if late > 100:
        return f"overloaded; the generator itself ran {late / 1000:,.1f} s late"
    return "overloaded"


def _http(r: Result) -> list[str]:
    http = r.get("http") or {}
    if not http:
        return []
    lines = [
        "## HTTP profiles (Locust, open loop; latency from the scheduled start, first "
        "2 s left out)",
        "",
        "| profile | offered req/s (peak) | served ok/s | home p50 / p99 ms | user p99 ms "
        "| post p99 ms | failed | not sent | generator late p99 ms | fan-out drain s | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, p in http.items():
        k = p["kinds"]
        lines.append(
            f"| {name} | {_fmt(p['offered_s'])} ({_fmt(p.get('offered_peak_s'))}) | "
            f"{_fmt(p['ok_s'])} | "
            f"{_fmt(dig(k, 'home_timeline', 'latency', 'p50_ms'))} / "
            f"{_fmt(dig(k, 'home_timeline', 'latency', 'p99_ms'))} | "
            f"{_fmt(dig(k, 'user_timeline', 'latency', 'p99_ms'))} | "
            f"{_fmt(dig(k, 'post_tweet', 'latency', 'p99_ms'))} | {_fmt(p['failed'])} | "
            f"{_fmt(p['not_sent'])} | {_fmt(dig(p, 'generator_late_ms', 'p99_ms'))} | "
            f"{_fmt(p.get('fanout_drain_s'))} | {verdict(p)} |"
        )
    lines.append("")
    for name, p in http.items():
        lines.append(f"- `{name}`: {p['note']}.")
        bp = p.get("breaking_point")
        if bp and bp.get("t") is not None:
            lines.append(
                f"  Breaking point at {_fmt(bp['offered_requests_s'])} requests/s offered "
                f"({_fmt(bp['offered_tweets_s'])} tweets/s), t={bp['t']}s; best served before it "
                f"{_fmt(bp['best_served_requests_s'])} requests/s ({bp['rule']})."
            )
        elif bp:
            lines.append(f"  {bp['note']}.")
    return lines


NOISY_CORES = 0.25


def _bounds(r: Result) -> list[str]:
    lines = [
        "## Where the CPU went (cores, average over each phase)",
        "",
        "| phase | s | by process | others | steal | idle |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for ph in r.get("phases", []):
        cpu = ph.get("cpu") or {}
        if not cpu:
            continue
        procs = ", ".join(f"{k} {v:.2f}" for k, v in cpu["cores"].items() if v >= 0.02)
        lines.append(
            f"| {ph['name']} | {cpu['seconds']:g} | {procs} | {cpu['others']:.2f} | "
            f"{cpu['steal']:.2f} | {cpu['idle']:.2f} |"
        )
    lines += [
        "",
        "`others` is CPU used by processes outside this run (other tenants of the machine); "
        "`steal` is CPU the hypervisor gave elsewhere.",
    ]
    profiles = r.get("profiles") or {}
    if profiles:
        lines += ["", "## Profiles (py-spy, 50 Hz, --nonblocking, during the phase)", ""]
    for name, p in profiles.items():
        if "error" in p or not p.get("samples"):
            lines.append(f"- `{name}`: {p.get('error', 'no samples')}")
            continue
        lines += [f"### {name} ({p['samples']} samples)", "", "Own time (where the CPU is):", ""]
        lines += [f"- {share:.1f}% `{frame}`" for share, frame in p["own_time"][:8]]
        lines += ["", "Total time in project code (what it is for):", ""]
        lines += [f"- {share:.1f}% `{frame}`" for share, frame in p["total_time_project"][:8]]
        lines.append("")
    notes = r.get("notes")
    if notes:
        lines += ["## Findings", "", *notes]
    return lines
