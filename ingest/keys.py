"""Idempotency-Key on every write route, after the IETF httpapi Idempotency-Key draft.

The body is read before the key is touched, so a client gone mid-body leaves nothing behind.
The key is then leased, not claimed for a day: a short lease (an owner token and a deadline)
renewed while the request runs and ended when it fails, so the key of a request that died
(client gone, crash, 500) is free again within TIMELINE_IDEMPOTENCY_LEASE_S. A retry with
the same key and request (sha256 of method, path and body) gets the first answer, marked
`Idempotent-Replayed: true`; another request with the key gets 422
`idempotency_key_mismatch`; a retry while the first is in progress gets 409
`idempotency_busy` with `Retry-After`.

Inside a keyed request the handler's appends are only drafted (DraftingLog). Before anything
is appended the drafted events, encoded so their ids are fixed, are kept with the key together
with the answer their append gives; then they are appended. A retry of a request that
reached this point (a 503 from the log, or a request that died) appends exactly those events
again and answers with the kept answer, so it never creates a second tweet; the first record
may still land late, so every view counts an event's ids once. Only a request that never
kept its events runs the handler afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

import msgpack
from aiohttp import web

from engine import registrations
from engine.config import Settings
from engine.errors import Busy, InvalidInput, TimelineError, Unavailable, Unprocessable
from engine.events import Event, decode, encode
from engine.http import CALLER_KEY, error_payload, pack_payload, respond
from engine.idempotency import now_ms
from engine.lifecycle import Background
from engine.ports import (
    Backend,
    EventLog,
    IngestRegistry,
    KeyRecord,
    LogPosition,
    StoredResponse,
)
from ingest.tokens import note

Answer = tuple[int, Any]
Handler = Callable[[web.Request], Awaitable[Answer]]
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_DRAFTS: ContextVar[list[Event] | None] = ContextVar("drafted_events", default=None)


def draft(events: Sequence[Event]) -> bool:
    """Inside a keyed request, keep these events as drafts of its appends (True); outside
    one, do nothing (False): the caller appends them itself."""
    drafts = _DRAFTS.get()
    if drafts is None:
        return False
    drafts.extend(events)
    return True


def fingerprint(request: web.Request, body: bytes) -> bytes:
    """What makes two requests with one key the same request: method, path and body."""
    head = f"{request.method} {request.path}\n".encode()
    return hashlib.sha256(head + body).digest()


def pack_events(events: Sequence[Event]) -> bytes:
    """Drafted events as kept with a key: their log encodings, ids included."""
    return bytes(msgpack.packb([encode(e) for e in events], use_bin_type=True))


def unpack_events(blob: bytes) -> list[Event]:
    """The events pack_events kept."""
    return [decode(b) for b in msgpack.unpackb(blob, raw=False)]


class KeyedWrites:
    """Runs write requests that carry an Idempotency-Key."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.lease_s = settings.idempotency_lease_s
        self.backend = backend

    @property
    def registry(self) -> IngestRegistry:
        """Where keys are kept."""
        return self.backend.registry

    @property
    def log(self) -> EventLog:
        """The backend's own log, which appends for real."""
        return self.backend.log

    async def run(self, request: web.Request, key: str, handler: Handler) -> web.Response:
        """The answer to a keyed request: the first one's, or this one's."""
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise InvalidInput("Idempotency-Key must be 1-255 characters", code="invalid_header")
        body = await request.read()  # all of it before the key is touched
        scope = f"{request.get(CALLER_KEY, 'anonymous')} {request.method} {request.path}"
        mine = fingerprint(request, body)
        owner = uuid.uuid4().hex
        record = await self.registry.claim_idempotent(scope, key, mine, owner, self.lease_s)
        if record.fingerprint != mine:
            raise Unprocessable(
                "this Idempotency-Key was used for another request", code="idempotency_key_mismatch"
            )
        if record.done and record.response is not None:
            return replayed(request, record.response)
        if record.owner != owner:
            raise Busy(
                "a request with this Idempotency-Key is in progress",
                code="idempotency_busy",
                retry_after_s=_seconds_left(record),
            )
        async with self._leased(scope, key, owner):
            if record.events is not None and record.response is not None:
                await self._append(unpack_events(record.events))
                await self.registry.finish_idempotent(scope, key, owner, record.response)
                return replayed(request, record.response)
            return await self._first(request, (scope, key, owner), handler)

    async def _first(
        self, request: web.Request, lease: tuple[str, str, str], handler: Handler
    ) -> web.Response:
        """Run the handler; keep its drafted events and answer with the key, then append."""
        drafts: list[Event] = []
        token = _DRAFTS.set(drafts)
        try:
            status, payload = await handler(request)
        except TimelineError as err:
            if err.status >= 500:
                raise
            drafts.clear()  # a refusal appends nothing
            status, payload = err.status, error_payload(err.code, err.message)
        finally:
            _DRAFTS.reset(token)
        answer = StoredResponse(status, pack_payload(payload))
        if drafts:
            kept = await self.registry.draft_idempotent(*lease, pack_events(drafts), answer)
            if not kept:
                raise Unavailable("the Idempotency-Key lease was lost", code="idempotency_lost")
            await self._append(drafts)
        await self.registry.finish_idempotent(*lease, answer)
        return respond(request, payload, status)

    async def _append(self, events: Sequence[Event]) -> None:
        """Append the request's events for real; their positions go into its token."""
        outcomes = await self.log.append_many(events)
        errors = [e for e in outcomes if isinstance(e, BaseException)]
        if errors:
            raise errors[0]
        for position in outcomes:
            assert isinstance(position, LogPosition)
            note(position)
        await registrations.mark_appended(self.backend, events)

    @contextlib.asynccontextmanager
    async def _leased(self, scope: str, key: str, owner: str) -> AsyncIterator[None]:
        """Renew the lease while the request runs; end it at once if the request fails."""
        try:
            async with LeaseRenewal(self.registry, (scope, key, owner), self.lease_s):
                yield
        except BaseException:
            with contextlib.suppress(TimelineError):  # it expires on its own anyway
                await self.registry.release_idempotent(scope, key, owner)
            raise


class LeaseRenewal(Background):
    """Renews one Idempotency-Key lease every third of its length, from start() until stop()
    or until the registry answers that the lease is no longer this owner's."""

    task_name = "idempotency-lease"

    def __init__(
        self, registry: IngestRegistry, lease: tuple[str, str, str], lease_s: float
    ) -> None:
        self.registry = registry
        self.lease = lease
        self.lease_s = lease_s

    async def _run(self) -> None:
        scope, key, owner = self.lease
        while True:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(TimelineError):
                if not await self.registry.renew_idempotent(scope, key, owner, self.lease_s):
                    return


def replayed(request: web.Request, stored: StoredResponse) -> web.Response:
    """The kept answer, marked as a replay."""
    response = respond(request, msgpack.unpackb(stored.body, raw=False), stored.status)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _seconds_left(record: KeyRecord) -> int:
    return max(1, math.ceil((record.lease_until_ms - now_ms()) / 1000))
