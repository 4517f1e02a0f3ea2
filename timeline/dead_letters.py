"""`timeline dead-letters list|replay`: what consumer groups set aside, and bringing it back.

A group's letters come back into that group only: its projector applies them where the
group's own consumer would have, and the group's replay cursor (a consumer group on the
dead-letter topic) commits past them once written. The log's topics are never appended to,
so no other group sees them again. A letter that still cannot be read is set aside again
(a new letter, still pending), so one bad record never holds back the others.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm

from engine.adapters import open_backend
from engine.config import Settings
from engine.dead_letters import DeadLetter, parse_letter, replay_group
from engine.errors import InvalidInput, PoisonEvent
from engine.events import DEAD_LETTER_TOPIC, decode_all
from engine.groups import group_name
from engine.metrics import Metrics
from engine.ports import Backend, LogConsumer, LogRecord, LogTail
from fanout.projections import PROJECTIONS
from fanout.projector import Decoded
from fanout.worker import ConsumerWorker, next_positions

POLL_RECORDS = 5000
POLL_MS = 500
IDLE_LIMIT_S = 30.0
Positions = dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class LetterState:
    """A record a group set aside (its newest letter), and whether it was brought back."""

    letter: DeadLetter
    letters: int
    pending: int  # letters about it not yet behind the group's replay cursor

    @property
    def replayed(self) -> bool:
        """Brought back into its group (or never needed to be)."""
        return self.pending == 0


@dataclass(frozen=True, slots=True)
class Replayed:
    """What one replay did for one group."""

    group: str
    applied: int
    unreadable: int


async def _nothing() -> None:
    return None


async def list_letters(
    settings: Settings, out: TextIO = sys.stdout, backend: Backend | None = None
) -> list[LetterState]:
    """Print every record set aside, newest letter per record, and whether it was replayed
    (on a backend of its own unless one already started is given)."""
    async with _session(settings, backend) as (_, tail):
        states = await letter_states(tail)
    print(_table(states), file=out)
    pending = sum(not s.replayed for s in states)
    print(f"{len(states)} dead-lettered records, {pending} pending replay", file=out)
    return states


async def replay(
    settings: Settings,
    group: str | None = None,
    out: TextIO = sys.stderr,
    backend: Backend | None = None,
) -> list[Replayed]:
    """Bring pending letters back into the group that failed them (every group if None)."""
    projections = {group_name(settings, p): p for p in PROJECTIONS}
    if group is not None and group not in projections:
        raise InvalidInput(f"no projection is kept by group {group!r}", code="unknown_group")
    async with _session(settings, backend) as (backend, tail):
        states = await letter_states(tail)
        pending = _pending_by_group(states, group)
        done = []
        for name, count in sorted(pending.items()):
            if name not in projections:
                print(f"skipped {count} letters of {name}: no projection is kept by it", file=out)
                continue
            done.append(await _replay_group(settings, backend, tail, name, count, out))
    for r in done:
        print(f"{r.group}: {r.applied} replayed, {r.unreadable} still unreadable", file=out)
    total = sum(r.applied for r in done)
    print(f"replayed {total} dead-lettered records", file=out)
    return done


async def letter_states(tail: LogTail) -> list[LetterState]:
    """Every record set aside, by its newest letter; replayed once every letter about it
    lies behind its group's replay cursor."""
    letters = await _read_all(tail)
    cursors = {g: await tail.committed(replay_group(g)) for g in {x.group for x in letters}}
    by_source: dict[tuple[str, str, int, int], list[DeadLetter]] = {}
    for letter in letters:
        by_source.setdefault(letter.source, []).append(letter)
    states = []
    for copies in by_source.values():
        newest = max(copies, key=lambda x: (x.at_us or 0, x.letter_partition, x.letter_offset))
        pending = sum(not _behind(x, cursors[x.group]) for x in copies)
        states.append(LetterState(newest, len(copies), pending))
    return sorted(states, key=lambda s: s.letter.source)


def _behind(letter: DeadLetter, cursor: Positions) -> bool:
    return letter.letter_offset < cursor.get((DEAD_LETTER_TOPIC, letter.letter_partition), 0)


async def _read_all(tail: LogTail) -> list[DeadLetter]:
    ends = await tail.end_offsets()
    positions = dict.fromkeys(ends, 0)
    await tail.seek(positions)
    letters: list[DeadLetter] = []
    idle_since = time.monotonic()
    while any(positions[tp] < end for tp, end in ends.items()):
        records = await tail.poll(POLL_RECORDS, POLL_MS)
        idle_since = _idle(idle_since, records)
        for r in records:
            tp = (r.topic, r.partition)
            if r.offset < ends.get(tp, 0) and (letter := parse_letter(r)) is not None:
                letters.append(letter)
            positions[tp] = max(positions.get(tp, 0), r.offset + 1)
    return letters


def _idle(since: float, records: Sequence[LogRecord]) -> float:
    """When polls started coming back empty; an error after IDLE_LIMIT_S of nothing."""
    now = time.monotonic()
    if records:
        return now
    if now - since > IDLE_LIMIT_S:
        raise TimeoutError(f"the dead-letter topic gave nothing for {IDLE_LIMIT_S:.0f} s")
    return since


def _pending_by_group(states: Sequence[LetterState], group: str | None) -> dict[str, int]:
    pending: dict[str, int] = {}
    for s in states:
        if s.pending and group in (None, s.letter.group):
            pending[s.letter.group] = pending.get(s.letter.group, 0) + s.pending
    return pending


async def _replay_group(
    settings: Settings, backend: Backend, tail: LogTail, group: str, count: int, out: TextIO
) -> Replayed:
    metrics = Metrics()
    projection = {group_name(settings, p): p for p in PROJECTIONS}[group]
    worker = ConsumerWorker(
        backend, metrics, group, PROJECTIONS[projection](settings, backend, metrics)
    )
    cursor = replay_group(group)
    start, ends = await tail.committed(cursor), await tail.end_offsets()
    consumer = backend.consumer(cursor, [DEAD_LETTER_TOPIC], _nothing)
    replayer = _Replayer(worker, backend, ends)
    try:
        async with consumer:
            with tqdm(total=count, unit="letter", desc=group, file=out, mininterval=0.5) as bar:
                await replayer.run(consumer, start, bar)
    finally:
        await worker.close_projector()
    return Replayed(group, replayer.applied, replayer.unreadable)


@dataclass
class _Replayer:
    """Reads the dead-letter topic up to the ends noted at the start, under a group's cursor."""

    worker: ConsumerWorker
    backend: Backend
    ends: Positions
    applied: int = 0
    unreadable: int = 0

    async def run(self, consumer: LogConsumer, start: Positions, bar: tqdm[None]) -> None:
        positions = {tp: start.get(tp, 0) for tp in self.ends}
        idle_since = time.monotonic()
        while any(positions[tp] < end for tp, end in self.ends.items()):
            records = await consumer.poll(POLL_RECORDS, POLL_MS)
            idle_since = _idle(idle_since, records)
            batch = [r for r in records if r.offset < self.ends.get((r.topic, r.partition), 0)]
            if not batch:
                continue
            before = self.applied + self.unreadable
            await self.worker.write_until_done(await self._decoded(batch))
            await consumer.commit(next_positions(batch))
            positions.update(next_positions(batch))
            bar.update(self.applied + self.unreadable - before)

    async def _decoded(self, batch: Sequence[LogRecord]) -> list[Decoded]:
        """The group's letters in the batch as events; those still unreadable set aside anew."""
        decoded: list[Decoded] = []
        for r in batch:
            letter = parse_letter(r)
            if letter is None or letter.group != self.worker.group:
                continue
            record = letter.record()
            try:
                decoded.extend((record, event) for event in decode_all(letter.value))
            except PoisonEvent as e:
                await self.backend.log.dead_letter(record, letter.group, str(e))
                self.unreadable += 1
                continue
            self.applied += 1
        return decoded


@contextlib.asynccontextmanager
async def _session(
    settings: Settings, started: Backend | None
) -> AsyncIterator[tuple[Backend, LogTail]]:
    """A backend (this one if given, else one opened for the command) and a tail of the
    dead-letter topic."""
    async with contextlib.AsyncExitStack() as stack:
        backend = started
        if backend is None:
            backend = await stack.enter_async_context(open_backend(settings, Metrics()))
        tail = await stack.enter_async_context(backend.tail([DEAD_LETTER_TOPIC]))
        yield backend, tail


def _table(states: Sequence[LetterState]) -> str:
    header = ("state", "group", "topic", "partition", "offset", "time", "reason")
    rows = [header] + [_row(s) for s in states]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    )


def _row(state: LetterState) -> tuple[str, ...]:
    x = state.letter
    at = "-" if x.at_us is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(x.at_us / 1e6))
    return (
        "replayed" if state.replayed else "pending",
        x.group,
        x.topic,
        str(x.partition),
        str(x.offset),
        at,
        x.reason,
    )
