"""The write operations: validate, check against the registry, append; shared by HTTP and SMS."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence

from engine import registrations
from engine.cache import KnownCache, TtlCache
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, TimelineError
from engine.events import (
    DirectMessageSent,
    Event,
    Followed,
    ListCreated,
    ListMemberAdded,
    ListMemberRemoved,
    PhoneRegistered,
    TweetDeleted,
    TweetPosted,
    Unfollowed,
    UserRegistered,
)
from engine.ids import IdGenerator, id_ms
from engine.limits import PostingLimiter
from engine.ports import Backend, LogPosition
from engine.records import Mention, Tweet, User, UserList
from engine.text import handle_key, is_valid_handle, normalize_text
from ingest.checks import FollowUpChecks
from ingest.keys import draft
from ingest.together import TurnAppends
from ingest.tokens import note
from ingest.validate import (
    DirectMessageParts,
    TweetDraft,
    direct_message_parts,
    finish_tweet,
    new_user,
    normalize_name,
    now_us,
    tweet_draft,
)

log = logging.getLogger(__name__)
PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")
WARM_CONCURRENCY = 64
UNKNOWN_HANDLE_S = 5.0
"""How long a mention of a handle nobody holds is resolved to no one without asking the
registry again, from the read that found nobody. A handle registered meanwhile through
another ingest process is linked in mentions once that time has passed (through this one,
at once); a direct message to a handle, or a lookup of it, always asks the registry."""


class Writer:
    """Every write the API offers; each returns only after the log acknowledged its event."""

    def __init__(
        self,
        backend: Backend,
        ids: IdGenerator,
        limiter: PostingLimiter,
        checks: FollowUpChecks,
    ) -> None:
        self.backend = backend
        self.ids = ids
        self.limiter = limiter
        self.checks = checks
        # Users are never unregistered and handles never change owner: found ones are cached,
        # which also lets known authors post while the store is down.
        self._users: KnownCache[int, User] = KnownCache()
        self._handles: KnownCache[str, int] = KnownCache()
        self._unknown_handles: TtlCache[str, bool] = TtlCache(UNKNOWN_HANDLE_S)
        self._posts: TurnAppends | None = None  # made at the first post: backend.log then

    def _event_ids(self) -> tuple[int, int]:
        return self.ids.next_id(), now_us()

    async def append(self, event: Event) -> LogPosition | None:
        """Append one event; its position goes into the answer's consistency token. Inside a
        request with an Idempotency-Key it is only drafted (None): the request keeps it with
        the key, then appends it (ingest.keys)."""
        if draft([event]):
            return None
        if type(event) is TweetPosted:  # many at once under load: together, as packs
            if self._posts is None:
                self._posts = TurnAppends(self.backend.log)
            position = await self._posts.append(event)
        else:
            position = await self.backend.log.append(event)
        note(position)
        return position

    async def append_many(
        self, events: Sequence[Event]
    ) -> list[LogPosition | BaseException | None]:
        """Append several events (each its position, or its error; None when drafted); the
        positions of those acknowledged go into the token."""
        if draft(events):
            return [None] * len(events)
        outcomes: list[LogPosition | BaseException | None] = list(
            await self.backend.log.append_many(events)
        )
        # events appended together share a record's position (a pack): each noted once
        shared = {id(o): o for o in outcomes if isinstance(o, LogPosition)}
        for position in shared.values():
            note(position)
        return outcomes

    async def _append_own(self, event: Event) -> bool:
        """Append a claim's own event: True once the log has it, False if only drafted."""
        return await self.append(event) is not None

    async def register_user(self, data: dict[str, object]) -> User:
        """Claim the handle, append, mark (engine.registrations): a handle whose claim is
        pending is settled for its first claimant before this one gets handle_taken."""
        user = new_user(data, self.ids)
        event = UserRegistered(*self._event_ids(), user.id, user.handle, user.display_name)
        holder = await registrations.register_handle(self.backend, event, self._append_own)
        self._unknown_handles.discard(handle_key(user.handle))
        if holder.user_id != user.id:
            raise Conflict(f"the handle {user.handle!r} is taken", code="handle_taken")
        return user

    async def _registered_user(self, user_id: int) -> User | None:
        return await registrations.registered_user(self.backend, user_id)

    async def known_user(self, user_id: int, what: str = "user") -> User:
        user = await self._users.get(user_id, self._registered_user)
        if user is None:
            raise NotFound(f"{what} {user_id} does not exist", code="user_not_found")
        return user

    async def user_by_handle(self, handle: str) -> User:
        owner = await self._handle_owner(handle) if is_valid_handle(handle) else None
        if owner is None:
            raise NotFound(f"no user has the handle {handle!r}", code="user_not_found")
        return await self.known_user(owner)

    async def change_follow(self, user_id: int, target_id: int, follow: bool) -> None:
        if user_id == target_id:
            raise InvalidInput("a user cannot follow itself", code="cannot_follow_self")
        await asyncio.gather(self.known_user(user_id), self.known_user(target_id))
        kind = Followed if follow else Unfollowed
        await self.append(kind(*self._event_ids(), user_id, target_id))

    async def post_event(self, author_id: int, text: object, reply_to: int | None) -> Event:
        """The event a post becomes: a tweet, or a direct message for `d <handle> <text>`."""
        drafted = self.draft_post(author_id, text, reply_to)
        return drafted if isinstance(drafted, Event) else await self.complete_post(drafted)

    def draft_post(
        self,
        author_id: int,
        text: object,
        reply_to: int | None,
        ts_us: int | None = None,
        tweet_id: int | None = None,
    ) -> Event | TweetDraft | DirectMessageParts:
        """A post checked and drafted without waiting for anything: its tweet when the caches
        settle its author and mentions and it answers no tweet (most posts), else what
        complete_post() finishes with the reads it needs. InvalidInput for a bad text.
        `ts_us` stamps its event (the posts of a batch share their request's), else now;
        `tweet_id` is its id if it becomes a tweet here (a batch takes its ids at once)."""
        body = normalize_text(text)
        dm = direct_message_parts(body)
        if dm is not None:
            return DirectMessageParts(author_id, *dm)
        draft = tweet_draft(author_id, body, reply_to)
        if reply_to is not None:
            return draft
        mentions = self._cached_mentions(draft.mention_handles)
        author = self._users.peek(author_id) if mentions is not None else None
        if author is None or mentions is None:
            return draft
        return self._posted(draft, author, mentions, ts_us, tweet_id)

    async def complete_post(
        self, drafted: TweetDraft | DirectMessageParts, tweet_id: int | None = None
    ) -> Event:
        """The event of a post draft_post() left waiting on reads: its author, its mentions,
        the tweet it answers, or a direct message's recipient (`tweet_id` as draft_post's)."""
        if isinstance(drafted, DirectMessageParts):
            recipient = await self._dm_recipient(drafted.handle)
            return await self.message_event(drafted.sender_id, recipient.id, drafted.text)
        author, mentions, _ = await asyncio.gather(
            self.known_user(drafted.author_id, "author"),
            self._resolve_mentions(drafted),
            self._check_reply(drafted.in_reply_to_id),
        )
        return self._posted(drafted, author, mentions, tweet_id=tweet_id)

    def _posted(
        self,
        draft: TweetDraft,
        author: User,
        mentions: tuple[Mention, ...],
        ts_us: int | None = None,
        tweet_id: int | None = None,
    ) -> Event:
        self.limiter.take(author.id)
        tweet = finish_tweet(
            draft, self.ids.next_id() if tweet_id is None else tweet_id, author, mentions
        )
        return TweetPosted(tweet.id, now_us() if ts_us is None else ts_us, tweet)

    async def _dm_recipient(self, handle: str) -> User:
        """The user a direct-message command names; a handle nobody has refuses the command."""
        try:
            return await self.user_by_handle(handle)
        except NotFound as e:
            raise InvalidInput(
                f"'d {handle}' is a direct message, but no user has that handle",
                code="invalid_direct_message",
            ) from e

    async def warm_users(self, user_ids: Iterable[int]) -> None:
        """Look up the users the cache does not know yet, concurrently (a batch's authors)."""
        missing = [u for u in dict.fromkeys(user_ids) if not self._users.knows(u)]
        for start in range(0, len(missing), WARM_CONCURRENCY):
            chunk = missing[start : start + WARM_CONCURRENCY]
            await asyncio.gather(*(self._users.get(u, self._registered_user) for u in chunk))

    async def warm_from_registry(self, within_s: float) -> int:
        """Learn registered users from the registry, up to the cache's size and for at most
        `within_s` seconds, so that a fresh process's first posts read nothing; how many
        were learnt. A store that cannot be read leaves the rest to the lookups."""
        learnt = 0
        try:
            async with asyncio.timeout(within_s):
                async for page in self.backend.registry.scan_registered():
                    for user in page[: self._users.size - learnt]:
                        self._users.remember(user.id, user)
                        self._handles.remember(handle_key(user.handle), user.id)
                        learnt += 1
                    if learnt >= self._users.size:
                        break
        except (TimeoutError, TimelineError) as e:
            log.warning("known users warmed in part (%d): %r", learnt, e)
        return learnt

    async def _check_reply(self, reply_to: int | None) -> None:
        if reply_to is None:
            return
        found = await self.checks.tweet(reply_to)
        if found is None or found.deleted:
            raise NotFound(f"tweet {reply_to} does not exist", code="in_reply_to_not_found")

    async def _resolve_mentions(self, draft: TweetDraft) -> tuple[Mention, ...]:
        owners = await asyncio.gather(*(self._mention_owner(h) for h in draft.mention_handles))
        return tuple(
            Mention(uid, handle)
            for handle, uid in zip(draft.mention_handles, owners, strict=True)
            if uid is not None
        )

    def _cached_mentions(self, handles: Sequence[str]) -> tuple[Mention, ...] | None:
        """The mentions, when the caches know every handle's owner or that it has none."""
        mentions = []
        for handle in handles:
            key = handle_key(handle)
            owner = self._handles.peek(key)
            if owner is not None:
                mentions.append(Mention(owner, handle))
            elif not self._unknown_handles.peek(key):
                return None
        return tuple(mentions)

    async def _handle_owner(self, handle: str) -> int | None:
        return await self._handles.get(handle_key(handle), self._settled_handle_owner)

    async def _mention_owner(self, handle: str) -> int | None:
        """The user a mention names, or None: a handle found unheld a moment ago is not read
        again before UNKNOWN_HANDLE_S has passed."""
        key = handle_key(handle)
        if self._unknown_handles.peek(key):
            return None
        issued_at = self._unknown_handles.now()
        owner = await self._handles.get(key, self._settled_handle_owner)
        if owner is None:
            self._unknown_handles.put(key, True, issued_at)
        return owner

    async def _settled_handle_owner(self, handle: str) -> int | None:
        return await registrations.handle_owner(self.backend, handle)

    async def post(self, author_id: int, text: object, reply_to: int | None) -> Event:
        event = await self.post_event(author_id, text, reply_to)
        await self.append(event)
        return event

    async def message_event(self, sender_id: int, recipient_id: int, text: object) -> Event:
        body = normalize_text(text)
        if sender_id == recipient_id:
            raise InvalidInput("a user cannot message itself", code="cannot_message_self")
        sender, recipient = await asyncio.gather(
            self.known_user(sender_id, "sender"), self.known_user(recipient_id, "recipient")
        )
        if not await self.checks.follows(recipient_id, sender_id):
            raise Forbidden(
                f"@{recipient.handle} does not follow @{sender.handle}", code="not_followed"
            )
        self.limiter.take(sender_id)
        return DirectMessageSent(
            *self._event_ids(),
            self.ids.next_id(),
            sender.id,
            sender.handle,
            recipient.id,
            recipient.handle,
            body,
        )

    async def delete_tweet(self, tweet_id: int) -> Tweet:
        found = await self.checks.tweet(tweet_id)
        whole = None if found is None or found.deleted else await self.checks.whole_tweet(found)
        if whole is None:
            raise NotFound(f"tweet {tweet_id} does not exist", code="not_found")
        await self.append(TweetDeleted(self.ids.next_id(), now_us(), whole))
        return whole

    async def create_list(self, owner_id: int, name: object) -> UserList:
        clean = normalize_name(name, "name", 25)
        await self.known_user(owner_id, "owner")
        list_id = self.ids.next_id()
        user_list = UserList(list_id, owner_id, clean, id_ms(list_id))
        await self.append(ListCreated(*self._event_ids(), list_id, owner_id, clean))
        return user_list

    async def set_list_member(self, list_id: int, member_id: int, present: bool) -> int:
        """Add or remove a member; the list's owner."""
        owner_id, _ = await asyncio.gather(
            self.checks.list_owner(list_id), self.known_user(member_id, "member")
        )
        if owner_id is None:
            raise NotFound(f"list {list_id} does not exist", code="list_not_found")
        kind = ListMemberAdded if present else ListMemberRemoved
        await self.append(kind(*self._event_ids(), list_id, owner_id, member_id))
        return owner_id

    async def register_phone(self, user_id: int, phone: object) -> str:
        if not isinstance(phone, str) or not PHONE_RE.fullmatch(phone):
            raise InvalidInput(
                "phone must be an E.164 number like +77011234567", code="invalid_phone"
            )
        await self.known_user(user_id)
        event = PhoneRegistered(*self._event_ids(), user_id, phone)
        if (
            await registrations.register_phone(self.backend, event, self._append_own)
        ).user_id != user_id:
            raise Conflict("this phone number belongs to another user", code="phone_taken")
        return phone
