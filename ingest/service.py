"""The write side of API.md over HTTP; each answer comes after the log acknowledged the event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from engine.config import Settings
from engine.consistency import HEADER, encode_token
from engine.errors import InvalidInput, TimelineError, Unavailable
from engine.events import DirectMessageSent, Event, TweetPosted
from engine.http import (
    EncodedJson,
    body_id,
    error_payload,
    header_text,
    message_json,
    path_id,
    read_body,
    respond,
    tweet_fragment,
    user_json,
)
from engine.ids import IdGenerator
from engine.limits import PostingLimiter, parse_limits, quota_of_request
from engine.ports import Backend
from engine.progress import LogProgress
from ingest.checks import FollowUpChecks
from ingest.keys import IDEMPOTENCY_HEADER, Answer, Handler, KeyedWrites
from ingest.lists import require_room
from ingest.operations import Writer
from ingest.sms import SmsGateway
from ingest.tokens import collecting
from ingest.validate import now_us


def event_json(event: Event) -> dict[str, Any] | EncodedJson:
    """A post's answer: the tweet (already encoded), or the direct message it became."""
    if isinstance(event, DirectMessageSent):
        return message_json(event.message())
    assert isinstance(event, TweetPosted)
    return tweet_fragment(event.tweet)


class IngestRoutes:
    """The write routes: validates each write, assigns ids, and answers only after the log
    acknowledged it; the backend they write through owns the connections."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        ids: IdGenerator,
        progress: LogProgress,
    ) -> None:
        self.settings = settings
        self.backend = backend
        limiter = PostingLimiter(parse_limits(settings.rate_limits))
        checks = FollowUpChecks(backend, progress, settings)
        self.keyed = KeyedWrites(settings, backend)
        self.writer = Writer(backend, ids, limiter, checks)
        self.sms = SmsGateway(self.writer, backend)

    def routes(self) -> list[web.RouteDef]:
        """The write routes of API.md."""
        once = self._idempotent
        return [
            web.post("/v1/users", once(self.create_user)),
            web.put("/v1/users/{id}/following/{target_id}", once(self.follow)),
            web.delete("/v1/users/{id}/following/{target_id}", once(self.unfollow)),
            web.put("/v1/users/{id}/phone", once(self.register_phone)),
            web.post("/v1/tweets", once(self.post_tweet)),
            web.post("/v1/tweets/batch", once(self.post_batch)),
            web.delete("/v1/tweets/{id}", once(self.delete_tweet)),
            web.post("/v1/direct_messages", once(self.send_message)),
            web.post("/v1/lists", once(self.create_list)),
            web.put("/v1/lists/{list_id}/members/{user_id}", once(self.add_member)),
            web.delete("/v1/lists/{list_id}/members/{user_id}", once(self.remove_member)),
            web.post("/v1/sms/inbound", once(self.sms_inbound)),
        ]

    def _idempotent(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def run(request: web.Request) -> web.Response:
            with collecting() as written, quota_of_request() as quotas:
                key = idempotency_key(request)
                if key is None:
                    status, payload = await handler(request)
                    response = respond(request, payload, status)
                else:
                    response = await self.keyed.run(request, key, handler)
            if written and response.status < 300:
                response.headers[HEADER] = encode_token(written)
            if len(quotas) == 1:  # one post (a batch of many says nothing per user)
                response.headers.update(quotas[0].headers())
            return response

        return run

    async def create_user(self, request: web.Request) -> Answer:
        return 201, user_json(await self.writer.register_user(await read_body(request)))

    async def follow(self, request: web.Request) -> Answer:
        return await self._follow(request, True)

    async def unfollow(self, request: web.Request) -> Answer:
        return await self._follow(request, False)

    async def _follow(self, request: web.Request, follow: bool) -> Answer:
        user_id, target_id = path_id(request, "id"), path_id(request, "target_id")
        await self.writer.change_follow(user_id, target_id, follow)
        return 200, {"user_id": str(user_id), "target_id": str(target_id), "following": follow}

    async def register_phone(self, request: web.Request) -> Answer:
        user_id = path_id(request, "id")
        phone = await self.writer.register_phone(user_id, (await read_body(request)).get("phone"))
        return 200, {"user_id": str(user_id), "phone": phone}

    async def post_tweet(self, request: web.Request) -> Answer:
        data = await read_body(request)
        return 202, event_json(await self.writer.post(*_post_fields(data)))

    async def post_batch(self, request: web.Request) -> Answer:
        items = (await read_body(request)).get("tweets")
        limit = self.settings.batch_max_tweets
        if not isinstance(items, list) or not 1 <= len(items) <= limit:
            raise InvalidInput(f"tweets must be a list of 1..{limit} tweets", code="invalid_batch")
        drafted = await self._batch_events(items)
        events = [d for d in drafted if isinstance(d, Event)]
        appended = await self.writer.append_many(events)
        failures = [e for e in appended if isinstance(e, Unavailable)]
        if events and len(failures) == len(events):
            raise failures[0]  # nothing was appended: the whole request is unavailable
        outcome = iter(appended)
        return 202, {"results": [_batch_result(d, outcome) for d in drafted]}

    async def _batch_events(self, items: list[Any]) -> list[Event | BaseException]:
        """Each item's event or refusal, in order.

        Each item's ids are read once; the batch's authors are looked up together; then
        items that are not replies are drafted one after another, without a coroutine each
        when the caches settle them (Writer.draft_post), and replies (which read the tweet
        they answer) concurrently.
        """
        fields: list[PostFields | BaseException] = []
        for item in items:
            try:
                fields.append(_post_fields(_item_object(item)))
            except Exception as e:  # refused items are answered one by one
                fields.append(e)
        await self.writer.warm_users(f[0] for f in fields if not isinstance(f, BaseException))
        drafted: list[Event | BaseException | None] = [None] * len(items)
        replies: list[tuple[int, PostFields]] = []
        stamp = now_us()  # the batch's events share their time (an event's time is its append's)
        # the ids of the posts that may become tweets here, taken at once (one a refused post
        # leaves unused is a gap, as ids have wherever a worker issued none)
        ids = iter(self.writer.ids.next_ids(sum(type(f) is tuple and f[2] is None for f in fields)))
        for i, f in enumerate(fields):
            if isinstance(f, BaseException):
                drafted[i] = f
                continue
            if f[2] is not None:
                replies.append((i, f))
                continue
            try:
                tweet_id = next(ids)
                draft = self.writer.draft_post(*f, stamp, tweet_id)
                drafted[i] = (
                    draft
                    if isinstance(draft, Event)
                    else await self.writer.complete_post(draft, tweet_id)
                )
            except Exception as e:
                drafted[i] = e
        answers = await asyncio.gather(
            *(self.writer.post_event(*f) for _, f in replies), return_exceptions=True
        )
        for (i, _), answer in zip(replies, answers, strict=True):
            drafted[i] = answer
        return [d for d in drafted if d is not None]

    async def delete_tweet(self, request: web.Request) -> Answer:
        tweet = await self.writer.delete_tweet(path_id(request, "id"))
        return 202, {"id": str(tweet.id), "deleted": True}

    async def send_message(self, request: web.Request) -> Answer:
        data = await read_body(request)
        sender, recipient = body_id(data, "sender_id"), body_id(data, "recipient_id")
        assert sender is not None and recipient is not None
        event = await self.writer.message_event(sender, recipient, data.get("text"))
        await self.writer.append(event)
        return 202, event_json(event)

    async def create_list(self, request: web.Request) -> Answer:
        data = await read_body(request)
        owner = body_id(data, "owner_id")
        assert owner is not None
        user_list = await self.writer.create_list(owner, data.get("name"))
        return 201, list_json(user_list.id, user_list.owner_id, user_list.name)

    async def add_member(self, request: web.Request) -> Answer:
        return await self._member(request, True)

    async def remove_member(self, request: web.Request) -> Answer:
        return await self._member(request, False)

    async def _member(self, request: web.Request, present: bool) -> Answer:
        list_id, user_id = path_id(request, "list_id"), path_id(request, "user_id")
        if present:
            await require_room(self.backend.lists, list_id, user_id, self.settings.list_max_members)
        await self.writer.set_list_member(list_id, user_id, present)
        return 200, {"list_id": str(list_id), "user_id": str(user_id), "member": present}

    async def sms_inbound(self, request: web.Request) -> Answer:
        return 200, await self.sms.handle(await read_body(request))


def idempotency_key(request: web.Request) -> str | None:
    """The Idempotency-Key header, or None; InvalidInput (invalid_header) unless it is
    printable ASCII, as a structured-field string must be."""
    key = header_text(request, IDEMPOTENCY_HEADER)
    if key is not None and not all(" " <= ch <= "~" for ch in key):
        raise InvalidInput(
            "Idempotency-Key must be printable ASCII characters", code="invalid_header"
        )
    return key


def list_json(list_id: int, owner_id: int, name: str) -> dict[str, Any]:
    """A list in API answers."""
    return {"id": str(list_id), "owner_id": str(owner_id), "name": name}


PostFields = tuple[int, object, int | None]  # author, text, the tweet it answers


def _post_fields(data: dict[str, Any]) -> PostFields:
    author_id = body_id(data, "author_id")
    assert author_id is not None
    return author_id, data.get("text"), body_id(data, "in_reply_to_id", required=False)


def _item_object(item: object) -> dict[str, Any]:
    """A batch item, which must be an object."""
    if not isinstance(item, dict):
        raise InvalidInput("each tweet must be an object", code="invalid_body")
    return item


def _batch_result(drafted: object, appended: Any) -> dict[str, Any] | EncodedJson:
    if isinstance(drafted, Event):
        outcome = next(appended)
        if not isinstance(outcome, BaseException):  # appended (or drafted, in a keyed request)
            return event_json(drafted)
        drafted = outcome
    if isinstance(drafted, TimelineError):
        return error_payload(drafted.code, drafted.message)
    assert isinstance(drafted, BaseException)
    raise drafted
