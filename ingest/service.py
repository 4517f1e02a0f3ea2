"""The write side of API.md: users, follows, tweets and batches, appended to the log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
from aiohttp import web

from engine.config import Settings
from engine.errors import Conflict, InvalidInput, NotFound, TimelineError, Unavailable
from engine.events import Followed, TweetPosted, Unfollowed, UserRegistered
from engine.http import (
    body_id,
    error_payload,
    path_id,
    read_body,
    respond,
    tweet_json,
    user_json,
)
from engine.ids import IdGenerator
from engine.ports import Backend, StoredResponse
from engine.records import Mention, User
from ingest.validate import TweetDraft, finish_tweet, new_user, now_us, tweet_draft

Answer = tuple[int, Any]
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IngestService:
    """Validates each write, assigns ids, and answers only after the log acknowledged it."""

    def __init__(self, settings: Settings, backend: Backend, ids: IdGenerator) -> None:
        self.settings = settings
        self.backend = backend
        self.ids = ids

    def routes(self) -> list[web.RouteDef]:
        """The write routes of API.md."""
        return [
            web.post("/v1/users", self._idempotent(self.create_user)),
            web.put("/v1/users/{id}/following/{target_id}", self._idempotent(self.follow)),
            web.delete("/v1/users/{id}/following/{target_id}", self._idempotent(self.unfollow)),
            web.post("/v1/tweets", self._idempotent(self.post_tweet)),
            web.post("/v1/tweets/batch", self._idempotent(self.post_batch)),
        ]

    def _idempotent(
        self, handler: Callable[[web.Request], Awaitable[Answer]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is None:
                status, payload = await handler(request)
                return respond(request, payload, status)
            return await self._run_once(request, key, handler)

        return run

    async def _run_once(
        self, request: web.Request, key: str, handler: Callable[[web.Request], Awaitable[Answer]]
    ) -> web.Response:
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise InvalidInput("Idempotency-Key must be 1-255 characters", code="invalid_header")
        scope = f"{request.get('caller', 'anonymous')} {request.method} {request.path}"
        registry = self.backend.registry
        stored = await registry.begin_idempotent(scope, key)
        if stored is not None:
            return respond(request, msgpack.unpackb(stored.body, raw=False), stored.status)
        try:
            status, payload = await handler(request)
        except TimelineError as err:
            if err.status >= 500:
                await registry.abort_idempotent(scope, key)
                raise
            status, payload = err.status, error_payload(err.code, err.message)
        body = msgpack.packb(payload, use_bin_type=True)
        await registry.finish_idempotent(scope, key, StoredResponse(status, body))
        return respond(request, payload, status)

    async def create_user(self, request: web.Request) -> Answer:
        user = new_user(await read_body(request), self.ids)
        if not await self.backend.registry.claim_handle(user):
            raise Conflict(f"the handle {user.handle!r} is taken", code="handle_taken")
        event = UserRegistered(
            self.ids.next_id(), now_us(), user.id, user.handle, user.display_name
        )
        try:
            await self.backend.log.append(event)
        except TimelineError:
            await self.backend.registry.release_handle(user)
            raise
        return 201, user_json(user)

    async def follow(self, request: web.Request) -> Answer:
        return await self._graph_change(request, Followed, following=True)

    async def unfollow(self, request: web.Request) -> Answer:
        return await self._graph_change(request, Unfollowed, following=False)

    async def _graph_change(
        self, request: web.Request, kind: type[Followed], *, following: bool
    ) -> Answer:
        user_id, target_id = path_id(request, "id"), path_id(request, "target_id")
        if user_id == target_id:
            raise InvalidInput("a user cannot follow itself", code="cannot_follow_self")
        await asyncio.gather(self._known_user(user_id), self._known_user(target_id))
        await self.backend.log.append(kind(self.ids.next_id(), now_us(), user_id, target_id))
        return 200, {"user_id": str(user_id), "target_id": str(target_id), "following": following}

    async def _known_user(self, user_id: int, what: str = "user") -> User:
        user = await self.backend.registry.registered_user(user_id)
        if user is None:
            raise NotFound(f"{what} {user_id} does not exist", code="user_not_found")
        return user

    async def post_tweet(self, request: web.Request) -> Answer:
        data = await read_body(request)
        event = await self._tweet_event(data)
        await self.backend.log.append(event)
        return 202, tweet_json(event.tweet)

    async def _tweet_event(self, data: object) -> TweetPosted:
        if not isinstance(data, dict):
            raise InvalidInput("each tweet must be an object", code="invalid_body")
        author_id = body_id(data, "author_id")
        assert author_id is not None
        draft = tweet_draft(
            author_id, data.get("text"), body_id(data, "in_reply_to_id", required=False)
        )
        author, mentions = await asyncio.gather(
            self._known_user(author_id, "author"), self._resolve_mentions(draft)
        )
        tweet = finish_tweet(draft, self.ids.next_id(), author, mentions)
        return TweetPosted(tweet.id, now_us(), tweet)

    async def _resolve_mentions(self, draft: TweetDraft) -> tuple[Mention, ...]:
        owners = await asyncio.gather(
            *(self.backend.registry.handle_owner(h) for h in draft.mention_handles)
        )
        return tuple(
            Mention(uid, handle)
            for handle, uid in zip(draft.mention_handles, owners, strict=True)
            if uid is not None
        )

    async def post_batch(self, request: web.Request) -> Answer:
        data = await read_body(request)
        items = data.get("tweets")
        limit = self.settings.batch_max_tweets
        if not isinstance(items, list) or not 1 <= len(items) <= limit:
            raise InvalidInput(f"tweets must be a list of 1..{limit} tweets", code="invalid_batch")
        drafted = await asyncio.gather(
            *(self._tweet_event(i) for i in items), return_exceptions=True
        )
        events = [d for d in drafted if isinstance(d, TweetPosted)]
        appended = await self.backend.log.append_many(events)
        failures = [e for e in appended if isinstance(e, Unavailable)]
        if events and len(failures) == len(events):
            raise failures[0]  # nothing was appended: the whole request is unavailable
        errors = iter(appended)
        return 202, {"results": [self._batch_result(d, errors) for d in drafted]}

    def _batch_result(self, drafted: object, append_errors: Any) -> dict[str, Any]:
        if isinstance(drafted, TweetPosted):
            drafted = next(append_errors) or drafted
        if isinstance(drafted, TweetPosted):
            return tweet_json(drafted.tweet)
        if isinstance(drafted, TimelineError):
            return error_payload(drafted.code, drafted.message)
        assert isinstance(drafted, BaseException)
        raise drafted
