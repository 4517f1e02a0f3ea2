"""What would move a missed goal: changes to the engine, each shown only when the run's own
profile (py-spy frames) or CPU table shows the cost it removes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# Where each goal is measured: the phase whose CPU to read, the part that serves it, the
# py-spy profiles taken there.
def evidence(where: str, r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(phase, part, profiles) for a goal: `key`, or `reads:<rate>`."""
    key, _, rate = where.partition(":")
    scale = r.get("run", {}).get("scale") or {}
    profiled = f"read{scale.get('read_rate_s', 1000.0):g}"  # the read profile py-spy watched
    reads = f"read{float(rate):g}" if rate else profiled
    return {
        "ingest": ("ingest", "ingest", ("ingest_batch",)),
        "posts": ("http:posts3085", "ingest", ("ingest_posts",)),
        "fanout": ("pipeline:drain", "fanout", ("fanout_drain",)),
        "fanout_cpu": ("pipeline:drain", "fanout", ("fanout_drain",)),
        "fanout_requests": ("pipeline:drain", "fanout", ("fanout_drain",)),
        "post_cpu": ("ingest", "ingest", ()),
        "page_cpu": ("pages", "readers", ()),
        "page_requests": ("pages", "readers", ()),
        "reads": (f"http:{reads}", "readers", (f"readers_{profiled}",)),
        "e2e": (f"pipeline:e2e{float(rate):g}" if rate else "pipeline:e2e", "fanout",
                ("fanout_e2e",)),
        "e2e_held": (f"pipeline:e2e{float(rate):g}" if rate else "pipeline:e2e", "fanout",
                     ("fanout_e2e",)),
    }[key]  # fmt: skip


@dataclass(frozen=True)
class Lever:
    goals: tuple[str, ...]
    frames: tuple[str, ...]  # shown when a profile of the goal has one of these in a top frame
    text: str
    min_share: float = 3.0  # percent of samples; less is noise (or a cache hit)


LEVERS = (
    Lever(
        ("fanout", "e2e"),
        ("CqlSession._execute", "CqlSession.run_batch", "CqlSession._bridge"),
        "Each follower's rows of a consumer batch are one driver request "
        "(`PostFanout.apply_posts` → `CassandraTimelines.add_home_rows` → "
        "`CqlSession.run_batch` → `_execute` → `_bridge`), so a tweet with 25 followers costs "
        "about 26 requests, and the Python around each request (binding every row into a "
        "`BatchStatement`, the driver's query plan, the asyncio bridge, protocol-v5 framing) "
        "is most of the process's CPU. Fewer, larger requests move it: a larger "
        "`TIMELINE_FANOUT_BATCH_MAX_RECORDS` gives each follower partition more rows per "
        "request when the log is behind; and the fan-out scales out, one `timeline fanout` "
        "process per log partition (6), on machines with cores to spare.",
    ),
    Lever(
        ("fanout", "e2e"),
        ("PostFanout._audience", "follower_ids"),
        "`PostFanout._audience` (fanout/posts.py) reads each author's followers "
        "(up to threshold + 1 ids) again for every batch; an audience cache in the consumer, "
        "dropped for the authors whose follow events it applies, would skip those reads.",
    ),
    Lever(
        ("ingest", "posts"),
        ("registered_user", "KnownCache", "Writer.known_user", "warm_users"),
        "`Writer.warm_users` (ingest/operations.py) reads the registry once for each author "
        "its `KnownCache` has not seen yet (a batch's unseen authors together, 64 at a time); "
        "after that an author costs nothing. A share here is the first sight of many authors "
        "(a fresh process): warming the cache from the users topic at start removes it.",
    ),
    Lever(
        ("posts", "reads"),
        ("error_middleware", "auth_middleware", "web_protocol", "RequestHandler"),
        "Each request pays aiohttp's parsing, the middlewares (`error_middleware`, "
        "`auth_middleware` in engine/http.py and engine/auth.py, with a labelled Prometheus "
        "counter and histogram per answer) and JSON: one process serves a few hundred a "
        "second here, so the record peak one tweet per request needs several `timeline "
        "ingest` processes (each leases its own worker id) — or clients that use the "
        "batch endpoint.",
    ),
    Lever(
        ("reads",),
        ("followed_among", "_celebrity_pages"),
        "The read-time merge (`ReadersRoutes._celebrity_pages`) asks `followed_among` on "
        "every page once any celebrity exists, and reads each followed celebrity's timeline: "
        "caching who follows which celebrity (it changes only by follow events) saves the "
        "first read.",
    ),
    Lever(
        ("reads",),
        ("tweet_json", "rfc3339", "unpack_tweet"),
        "Every tweet of a page is decoded from msgpack into a `Tweet` (`unpack_tweet`) and "
        "rebuilt as a JSON object (`tweet_json` in engine/http.py); storing the rendered JSON "
        "in the row takes that off the hot path.",
    ),
)


def levers_for(key: str, r: dict[str, Any]) -> list[str]:
    """The levers whose cost this run's profiles show, with the share they show, and what the
    CPU table says about the process that bounded the figure."""
    phase_name, part, profiles = evidence(key, r)
    key = key.partition(":")[0]
    frames: list[tuple[float, str]] = []
    for name in profiles:
        p = (r.get("profiles") or {}).get(name) or {}
        frames += [
            (share, f) for share, f in p.get("own_time", []) + p.get("total_time_project", [])
        ]
    served = key == "reads" and _served(r, phase_name.removeprefix("http:"))
    out = [*_cpu_note(r, phase_name, part, served), *_e2e_note(key, r)]
    for lever in LEVERS:
        if key not in lever.goals:
            continue
        seen = [
            (share, f)
            for share, f in frames
            if share >= lever.min_share and any(m in f for m in lever.frames)
        ]
        if seen:
            share, frame = max(seen)
            out.append(f"{lever.text} (Profile: {share:.0f}% of samples in `{frame}`.)")
    return out


def _served(r: dict[str, Any], profile: str) -> bool:
    """True when an HTTP profile got every request it offered answered."""
    p = (r.get("http") or {}).get(profile) or {}
    return bool(p) and not p["not_sent"] and p["ok_s"] >= 0.99 * p["offered_s"]


def _cpu_note(r: dict[str, Any], phase_name: str, part: str, latency: bool) -> list[str]:
    phase: dict[str, Any] = next((p for p in r.get("phases", []) if p["name"] == phase_name), {})
    cpu = phase.get("cpu")
    if not cpu:
        return []
    used = cpu["cores"].get(part, 0.0)
    if cpu["idle"] < 0.15 * cpu["machine_cores"]:
        return [
            f"The machine was saturated (idle {cpu['idle']:.2f} of {cpu['machine_cores']} "
            f"cores; `{part}` had {used:.2f}): every process here competes for the same cores, "
            "so the figure is bounded by the machine as much as by the code, and the frames "
            "below say where `" + part + "`'s share went."
        ]
    if used >= 0.75:
        return [
            f"`{part}` used {used:.2f} cores: one Python process is CPU-bound (its event loop "
            "serves HTTP, Kafka and the Cassandra connections on one thread, so about one core "
            "is all it gets)."
        ]
    if latency:
        return [
            f"Nothing was saturated (`{part}` {used:.2f} cores, {cpu['idle']:.2f} idle): the "
            "p99 is the request's own path. `ReadersRoutes.home_timeline` awaits the registry "
            "check, the page and the celebrity merge together (`asyncio.gather`), so a page "
            "costs the slowest of two or three reads where the baseline makes one, plus HTTP "
            "and JSON; the read levers below are what shorten that path."
        ]
    return [
        f"`{part}` used {used:.2f} cores with {cpu['idle']:.2f} idle and still fell behind: "
        "it waits rather than computes — on Cassandra (which had "
        f"{cpu['cores'].get('cassandra', 0.0):.2f} cores), on `TIMELINE_CASSANDRA_MAX_IN_FLIGHT` "
        "(statements in flight per process), or on Kafka's acknowledgements."
    ]


def _e2e_note(key: str, r: dict[str, Any]) -> list[str]:
    e2e = r.get("pipeline_e2e") or {}
    drain = (r.get("pipeline_throughput") or {}).get("rows_s")
    if key not in ("e2e", "e2e_held") or not e2e or not drain:
        return []
    need = e2e["rate_s"] * e2e["mean_fanout"]
    if need <= drain:
        return [
            f"{e2e['rate_s']:,.0f} tweets/s at a mean fan-out of {e2e['mean_fanout']} needs "
            f"{need:,.0f} home rows/s, and the fan-out drained a full log at {drain:,.0f} "
            "rows/s: no backlog builds, so the delay is the time each batch takes end to end "
            "(its round trips and waits), not throughput."
        ]
    return [
        f"{e2e['rate_s']:,.0f} tweets/s at a mean fan-out of {e2e['mean_fanout']} needs "
        f"{need:,.0f} home rows/s; the fan-out drained a full log at {drain:,.0f} rows/s, i.e. "
        f"{drain / e2e['mean_fanout']:,.0f} tweets/s, so the backlog grows for as long as the "
        "peak lasts and publish-to-visible grows with it; the fan-out levers below move it."
    ]
