"""What makes a process unready, by the parts it runs.

A readiness probe takes a process out of its Service. That helps when another process can
serve what this one cannot, and hurts when every process fails alike: an ingest process whose
log cannot take writes answers 503 `log_unavailable` with `Retry-After`, which clients retry,
while taking every ingest process out turns those clean answers into connection errors. So:

- ingest is never unready for its dependencies; `/readyz` still shows `log`, `log_writable`
  and `store`, and `timeline_log_writable` says whether the log takes writes;
- readers are unready while the store does not answer;
- fan-out and index consumers (no traffic of their own) are unready while the log or the
  store does not answer, a consumer died, or a consumer group stopped a partition at an event
  too new for this version (`consumers_unblocked`).

A process running several parts is unready when any of its parts is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

GATES = {
    "ingest": frozenset[str](),
    "readers": frozenset({"store"}),
    "fanout": frozenset({"log", "store", "consumers", "consumers_unblocked"}),
    "index": frozenset({"log", "store", "consumers", "consumers_unblocked"}),
}


def gates(parts: Iterable[str]) -> frozenset[str]:
    """The checks whose failure makes a process running these parts unready."""
    return frozenset().union(*(GATES.get(part, frozenset()) for part in parts))


def is_ready(parts: Iterable[str], checks: Mapping[str, bool]) -> bool:
    """True unless a check that gates one of the parts failed."""
    return all(checks.get(name, True) for name in gates(parts))
