"""The ports: small abstract classes that each backend's adapters implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Self

from engine.events import Event
from engine.records import DirectMessage, PageQuery, Tweet, User, UserList


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record read from the log."""

    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer given to a write with an Idempotency-Key."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class CountRow:
    """One log partition's share of a user's follow counts, and the last offset applied."""

    user_id: int
    log_partition: int
    followers: int = 0
    following: int = 0
    applied_offset: int = -1


class Service(ABC):
    """Anything that owns connections: start, an idempotent stop, and `async with`."""

    @abstractmethod
    async def start(self) -> None:
        """Open connections."""

    @abstractmethod
    async def stop(self) -> None:
        """Close connections; calling it twice is fine."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class EventLog(Service):
    """The append side of the log."""

    @abstractmethod
    async def ensure_topics(self) -> None:
        """Create the topics with their configured partitions and retention if missing."""

    @abstractmethod
    async def append(self, event: Event) -> None:
        """Append one event; return only once the log acknowledged it (LogUnavailable if not)."""

    @abstractmethod
    async def append_many(self, events: Sequence[Event]) -> list[BaseException | None]:
        """Append several events at once; None for each acknowledged one, else its error."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the log answers a metadata request."""

    @abstractmethod
    async def writable(self) -> bool:
        """True when the log can take an append now, as far as a cheap probe can tell."""

    @abstractmethod
    async def dead_letter(self, record: LogRecord, group: str, reason: str) -> None:
        """Set aside a record a consumer cannot read, with where it came from and why."""


RevokeHook = Callable[[], Awaitable[None]]


class LogConsumer(Service):
    """A member of a consumer group reading some topics of the log."""

    @abstractmethod
    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        """The next records of the assigned partitions, in order within each partition."""

    @abstractmethod
    async def commit(self, positions: dict[tuple[str, int], int]) -> None:
        """Record (topic, partition) -> next offset to read, after the writes they cover."""

    @abstractmethod
    async def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet committed, per assigned (topic, partition)."""

    @abstractmethod
    async def end_offsets(self) -> dict[tuple[str, int], int]:
        """The offset after the last record of every partition of the subscribed topics."""


class LogTail(Service):
    """A reader of every partition of some topics, in no consumer group: it commits nothing
    and moves no group's partitions; it starts at the end of the log."""

    @abstractmethod
    async def seek(self, positions: dict[tuple[str, int], int]) -> None:
        """Read these (topic, partition)s from these offsets next."""

    @abstractmethod
    async def poll(self, max_records: int, timeout_ms: int) -> list[LogRecord]:
        """The next records, in order within each partition; [] after timeout_ms without any."""

    @abstractmethod
    async def end_offsets(self) -> dict[tuple[str, int], int]:
        """The offset after the last record of every partition of the topics."""

    @abstractmethod
    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The next offset a consumer group will apply, per partition of the topics it has
        committed on (partitions it never committed on are absent)."""


class IngestRegistry(Service):
    """What ingest checks before it appends: unique handles, known users, idempotency keys."""

    @abstractmethod
    async def claim_handle(self, user: User) -> bool:
        """Reserve the user's handle (case-insensitive); False if another user holds it."""

    @abstractmethod
    async def release_handle(self, user: User) -> None:
        """Give back a handle claimed for a user whose registration was not appended."""

    @abstractmethod
    async def registered_user(self, user_id: int) -> User | None:
        """The registered user with this id, or None."""

    @abstractmethod
    async def handle_owner(self, handle: str) -> int | None:
        """The id of the user holding a handle (case-insensitive), or None."""

    @abstractmethod
    async def begin_idempotent(self, scope: str, key: str) -> StoredResponse | None:
        """Claim a key: None if new, the stored answer if done; Conflict if still in flight."""

    @abstractmethod
    async def finish_idempotent(self, scope: str, key: str, response: StoredResponse) -> None:
        """Store the answer for a claimed key."""

    @abstractmethod
    async def abort_idempotent(self, scope: str, key: str) -> None:
        """Forget a claimed key whose write did not happen."""


class UserStore(Service):
    """The users projection."""

    @abstractmethod
    async def put_user(self, user: User, ts_us: int) -> None:
        """Upsert a user and its handle index."""

    @abstractmethod
    async def get_user(self, user_id: int) -> User | None:
        """A user with follow counts, or None."""

    @abstractmethod
    async def get_user_by_handle(self, handle: str) -> User | None:
        """A user by handle, case-insensitive, or None."""

    @abstractmethod
    async def get_users(self, user_ids: Sequence[int]) -> list[User]:
        """The users that exist among the ids, in the order given."""


class FollowGraph(Service):
    """The follow graph projection and its counts."""

    @abstractmethod
    async def edges_exist(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bool]:
        """For (follower, followee) pairs, whether the edge exists."""

    @abstractmethod
    async def put_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        """Add (follower, followee) edges, each at its event time."""

    @abstractmethod
    async def delete_edges(self, pairs: Sequence[tuple[int, int]], ts_us: Sequence[int]) -> None:
        """Remove (follower, followee) edges, each at its event time."""

    @abstractmethod
    async def count_rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], CountRow]:
        """The count rows for (user, log partition) keys; missing ones are zero rows."""

    @abstractmethod
    async def put_count_rows(self, rows: Sequence[CountRow]) -> None:
        """Overwrite count rows."""

    @abstractmethod
    async def follower_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        """Follower ids, highest first, at most `limit`, only ids <= max_id."""

    @abstractmethod
    async def following_ids(self, user_id: int, limit: int, max_id: int | None = None) -> list[int]:
        """Ids the user follows, highest first, at most `limit`, only ids <= max_id."""

    @abstractmethod
    async def followed_among(self, user_id: int, candidates: Sequence[int]) -> list[int]:
        """Those of the candidates that the user follows."""

    @abstractmethod
    async def follower_count(self, user_id: int) -> int:
        """How many followers the user has."""


class TimelineStore(Service):
    """The tweet store and the home and user timelines."""

    @abstractmethod
    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        """Upsert tweets into the tweet store and their authors' user timelines."""

    @abstractmethod
    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        """A tweet by id, or None."""

    @abstractmethod
    async def add_home_rows(self, owner_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        """Upsert (tweet, event time) rows into one home timeline, as one write to its partition."""

    @abstractmethod
    async def remove_home_rows(self, owner_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        """Remove tweets from one home timeline."""

    @abstractmethod
    async def home_authors(self, owner_id: int) -> list[tuple[int, int]]:
        """(tweet id, author id) of every row in a home timeline."""

    @abstractmethod
    async def trim_home(self, owner_id: int, keep: int) -> int:
        """Cut a home timeline to its newest `keep` rows; how many were beyond."""

    @abstractmethod
    async def home_page(self, owner_id: int, query: PageQuery) -> list[Tweet]:
        """A page of a home timeline's own rows."""

    @abstractmethod
    async def user_page(self, author_id: int, query: PageQuery) -> list[Tweet]:
        """A page of an author's own tweets."""

    @abstractmethod
    async def delete_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        """Remove tweets from the tweet store and their authors' timelines."""

    @abstractmethod
    async def mark_celebrity(self, author_id: int) -> None:
        """Record that an author is no longer fanned out (readers merge them)."""

    @abstractmethod
    async def celebrities(self) -> set[int]:
        """Every author that readers merge at read time."""


class PhoneBook(Service):
    """Phone numbers registered for the SMS gateway: unique, each to one user."""

    @abstractmethod
    async def claim_phone(self, phone: str, user_id: int) -> bool:
        """Give a phone number to a user; False if another user holds it."""

    @abstractmethod
    async def phone_owner(self, phone: str) -> int | None:
        """The user a phone number belongs to, or None."""


class ListStore(Service):
    """Lists of authors and their members; readers merge the members' timelines."""

    @abstractmethod
    async def put_list(self, user_list: UserList) -> None:
        """Record a list (ingest writes it before appending, so members can be added at once)."""

    @abstractmethod
    async def get_list(self, list_id: int) -> UserList | None:
        """A list by id, or None."""

    @abstractmethod
    async def set_member(self, list_id: int, member_id: int, present: bool, ts_us: int) -> None:
        """Add or remove a list member at an event time."""

    @abstractmethod
    async def member_ids(self, list_id: int) -> list[int]:
        """Every member of a list."""


class IndexStore(Service):
    """Hashtag timelines (bucketed by day) and mention timelines."""

    @abstractmethod
    async def add_tag_rows(self, tag_key: str, rows: Sequence[tuple[Tweet, int]]) -> None:
        """Upsert (tweet, event time) rows into a hashtag's timeline."""

    @abstractmethod
    async def remove_tag_row(self, tag_key: str, tweet: Tweet, ts_us: int) -> None:
        """Remove a tweet from a hashtag's timeline."""

    @abstractmethod
    async def tag_page(self, tag_key: str, query: PageQuery) -> list[Tweet]:
        """A page of a hashtag's timeline, across day buckets."""

    @abstractmethod
    async def add_mention_rows(self, user_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        """Upsert (tweet, event time) rows into a user's mentions timeline."""

    @abstractmethod
    async def remove_mention_row(self, user_id: int, tweet_id: int, ts_us: int) -> None:
        """Remove a tweet from a user's mentions timeline."""

    @abstractmethod
    async def mention_page(self, user_id: int, query: PageQuery) -> list[Tweet]:
        """A page of a user's mentions."""


class MessageStore(Service):
    """Direct messages, readable only by their two participants."""

    @abstractmethod
    async def put_message(self, message: DirectMessage, ts_us: int) -> None:
        """Upsert a message into both participants' views."""

    @abstractmethod
    async def page(
        self, user_id: int, query: PageQuery, other_id: int | None = None
    ) -> list[DirectMessage]:
        """Messages sent or received by a user, or only those with other_id, newest first."""


@dataclass(frozen=True, slots=True)
class Activity:
    """When a user last read their home timeline, was last reactivated, and last rebuilt (µs)."""

    user_id: int
    last_read_us: int
    reactivated_us: int = 0
    rebuilt_us: int = 0


class ActivityStore(Service):
    """Read-side state, not a projection of the log: when users last read their home timeline.

    Every field keeps the newest time written to it (last write wins, with the time itself as
    the write timestamp), so writes may arrive in any order and a replay changes nothing.
    """

    @abstractmethod
    async def mark_read(self, user_id: int, at_us: int, *, reactivated: bool = False) -> None:
        """Record a home read (or a registration) at at_us; reactivated also marks a return."""

    @abstractmethod
    async def mark_rebuilt(self, user_id: int, at_us: int) -> None:
        """Record that a rebuild of the user's home timeline started at at_us."""

    @abstractmethod
    async def activity(self, user_id: int) -> Activity | None:
        """A user's activity, or None if no read or registration is known."""

    @abstractmethod
    async def last_reads(self, user_ids: Sequence[int]) -> dict[int, int]:
        """user id -> last read time, for those of the ids that have one."""


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One log partition's hashtag counts for one minute, and the last offset applied."""

    minute: int
    log_partition: int
    counts: dict[str, int]
    applied_offset: int = -1


class TrendStore(Service):
    """Hashtag counts per minute and log partition, for sliding windows."""

    @abstractmethod
    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        """The rows for (minute, partition) keys; missing ones are empty."""

    @abstractmethod
    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        """Overwrite rows."""

    @abstractmethod
    async def window(self, minutes: Sequence[int]) -> dict[str, int]:
        """Counts per hashtag summed over these minutes and every partition."""


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """A tweet to index under its search terms (words, `#tag`, `@user id`), at its event time."""

    tweet: Tweet
    terms: tuple[str, ...]
    ts_us: int


class SearchIndex(Service):
    """Full-text search over tweets: each tweet under its terms, pages newest first."""

    @abstractmethod
    async def add(self, entries: Sequence[SearchEntry]) -> None:
        """Upsert tweets under their terms, each at its event time."""

    @abstractmethod
    async def remove(self, tweets: Sequence[tuple[Tweet, int]]) -> None:
        """Remove (tweet, event time) entries; writes at or before that time stay removed."""

    @abstractmethod
    async def search(self, terms: Sequence[str], query: PageQuery) -> list[Tweet]:
        """A page of the tweets indexed under every one of the terms, newest first."""


class Backend(Service):
    """The adapters of one backend, wired to each other and started together."""

    log: EventLog
    registry: IngestRegistry
    users: UserStore
    graph: FollowGraph
    timelines: TimelineStore
    phones: PhoneBook
    lists: ListStore
    index: IndexStore
    messages: MessageStore
    trends: TrendStore
    activity: ActivityStore
    search: SearchIndex

    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str], on_revoke: RevokeHook) -> LogConsumer:
        """A new member of a consumer group, not yet started."""

    @abstractmethod
    def tail(self, topics: Sequence[str]) -> LogTail:
        """A group-less reader of the topics, from their end, not yet started."""

    @abstractmethod
    async def ping_store(self) -> bool:
        """True when the store answers a query."""

    @abstractmethod
    async def truncate(self, tables: Sequence[str]) -> None:
        """Empty projection tables before a rebuild replays the log into them."""
