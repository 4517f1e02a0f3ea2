"""The ports: small abstract classes that each backend's adapters implement."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import msgspec

from engine.events import Event, PhoneRegistered, UserRegistered, unpack_tweet
from engine.lifecycle import Lifecycle
from engine.records import DirectMessage, PageQuery, Tweet, User, UserList


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record read from the log."""

    topic: str
    partition: int
    offset: int
    value: bytes


ClaimEvent = TypeVar("ClaimEvent", UserRegistered, PhoneRegistered)


@dataclass(frozen=True, slots=True)
class Claim(Generic[ClaimEvent]):
    """A unique name (a handle, a phone number) held for good by one user, with the event that
    registers it; `registered` once the log acknowledged that event. Claims from before events
    were kept with them have no event and count as registered."""

    user_id: int
    event: ClaimEvent | None
    registered: bool


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where an appended event lies in the log."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer given to a write with an Idempotency-Key."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What is kept with an Idempotency-Key.

    The fingerprint of the request that holds the key; the lease of the request running it
    (an owner token and a deadline in Unix milliseconds, renewed while it runs); once drafted,
    its events (encoded, so their ids are fixed) with the answer their append gives; and
    `done` once that answer, or a refusal, is final.
    """

    fingerprint: bytes
    owner: str
    lease_until_ms: int
    events: bytes | None = None
    response: StoredResponse | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class CountRow:
    """One log partition's share of a user's follow counts, and the last offset applied."""

    user_id: int
    log_partition: int
    followers: int = 0
    following: int = 0
    applied_offset: int = -1


class Service(Lifecycle):
    """Anything that owns connections: start() opens them, an idempotent stop() closes them,
    `async with` does both (engine/lifecycle.py)."""


class ProjectionStore(Service):
    """A store that a projection of the log writes, which a rebuild empties and replays into."""

    @abstractmethod
    async def clear(self) -> None:
        """Empty everything this store holds, and what guards its rows (deletes, trims)."""


class EventLog(Service):
    """The append side of the log."""

    @abstractmethod
    async def ensure_topics(self) -> None:
        """Create the topics with their configured partitions and retention if missing."""

    async def append(self, event: Event) -> LogPosition:
        """Append one event; its position once the log acknowledged it (LogUnavailable if not)."""
        outcome = (await self.append_many([event]))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @abstractmethod
    async def append_many(self, events: Sequence[Event]) -> list[LogPosition | BaseException]:
        """Append several events at once; the position of each acknowledged one, else its error."""

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
    async def claim_handle(self, event: UserRegistered) -> Claim[UserRegistered]:
        """Claim the event's handle (case-insensitive) for its user, pending, unless it is
        claimed: the claim that holds it (this one if it won). A claim is never released."""

    @abstractmethod
    async def mark_registered(self, event: UserRegistered) -> None:
        """Record that the log acknowledged the event of the user's handle claim."""

    @abstractmethod
    async def handle_claim(self, handle: str) -> Claim[UserRegistered] | None:
        """The claim on a handle (case-insensitive), pending or registered, or None."""

    @abstractmethod
    async def user_claim(self, user_id: int) -> Claim[UserRegistered] | None:
        """The handle claim a user id won, pending or registered, or None."""

    @abstractmethod
    async def registered_user(self, user_id: int) -> User | None:
        """The user with this id if its claim is registered, else None (pending included)."""

    @abstractmethod
    def scan_registered(self) -> AsyncIterator[list[User]]:
        """Every registered user (pending claims left out), a page at a time, in no
        particular order: what an ingest process warms its known users from."""

    async def handle_owner(self, handle: str) -> int | None:
        """The user whose registered claim holds a handle (case-insensitive), else None."""
        claim = await self.handle_claim(handle)
        return claim.user_id if claim is not None and claim.registered else None

    @abstractmethod
    async def claim_idempotent(
        self, scope: str, key: str, fingerprint: bytes, owner: str, lease_s: float
    ) -> KeyRecord:
        """Lease a key to owner for lease_s, atomically, unless it is done, leased to another
        owner until later, or holds drafted events of another fingerprint; the record after."""

    @abstractmethod
    async def renew_idempotent(self, scope: str, key: str, owner: str, lease_s: float) -> bool:
        """Extend owner's lease of a key that is not done; False if owner no longer holds it."""

    @abstractmethod
    async def draft_idempotent(
        self, scope: str, key: str, owner: str, events: bytes, response: StoredResponse
    ) -> bool:
        """Keep the drafted events and the answer their append gives; False if not owner's."""

    @abstractmethod
    async def finish_idempotent(
        self, scope: str, key: str, owner: str, response: StoredResponse
    ) -> None:
        """Store the final answer of owner's key, kept for TIMELINE_IDEMPOTENCY_TTL_S."""

    @abstractmethod
    async def release_idempotent(self, scope: str, key: str, owner: str) -> None:
        """End owner's lease now (its request died or failed); drafted events stay kept."""


class UserStore(ProjectionStore):
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


class FollowGraph(ProjectionStore):
    """The follow graph projection and its counts."""

    @abstractmethod
    def scan_edges(self) -> AsyncIterator[list[tuple[int, int]]]:
        """Every live (follower, followee) edge, a page at a time, in no particular order:
        the snapshot a follower index starts from."""

    @abstractmethod
    def scan_changes(self) -> AsyncIterator[list[tuple[int, int, int]]]:
        """(follower, followee, time of the last change) of every edge ever changed, live or
        removed, a page at a time, in no particular order."""

    @abstractmethod
    async def edges_exist(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bool]:
        """For (follower, followee) pairs, whether the edge exists."""

    @abstractmethod
    async def edges_changed(self, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
        """For (follower, followee) pairs, the event time of the newest put or delete of the
        edge (0 if none). A change is reported only once the edge's rows are written: a put or
        delete that failed part way is either not reported or fully in place."""

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


class HomeRow(msgspec.Struct, frozen=True):
    """One row of a home timeline: the tweet's id and author, and the tweet itself
    (engine.events.pack_tweet) in a row written with it. A row of ids only is made whole from
    the tweet store (TimelineStore.get_tweets). A struct (engine/records.py says why): every
    page builds one per row read, 2.8 us for a page's 23 rows against 15.5 as a frozen
    dataclass."""

    tweet_id: int
    author_id: int
    body: bytes | None = None


class TimelineStore(ProjectionStore):
    """The tweet store and the home and user timelines."""

    home_authors_limit: ClassVar[int] = 5000  # rows home_authors reads, newest first

    @abstractmethod
    async def put_tweets(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        """Upsert tweets into the tweet store and their authors' user timelines."""

    @abstractmethod
    async def get_tweet(self, tweet_id: int) -> Tweet | None:
        """A tweet by id, or None."""

    @abstractmethod
    async def put_home_rows(self, rows: Sequence[tuple[int, Tweet, int]]) -> None:
        """Upsert (owner, tweet, event time) rows into many home timelines: the adapter
        groups them into as few writes as the store's limits allow."""

    async def add_home_rows(self, owner_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        """Upsert (tweet, event time) rows into one home timeline."""
        await self.put_home_rows([(owner_id, tweet, ts) for tweet, ts in rows])

    @abstractmethod
    async def remove_home_rows_many(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """Remove (owner, tweet id, at event time) rows from many home timelines."""

    async def remove_home_rows(self, owner_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        """Remove tweets from one home timeline."""
        await self.remove_home_rows_many([(owner_id, tid, ts_us) for tid in tweet_ids])

    @abstractmethod
    async def home_authors(self, owner_id: int) -> list[tuple[int, int]]:
        """(tweet id, author id) of a home timeline's rows, newest first, at most
        home_authors_limit (a trimmed home timeline holds fewer)."""

    @abstractmethod
    async def trim_home(self, owner_id: int, keep: int) -> int:
        """Cut a home timeline to its newest `keep` rows; how many were beyond."""

    async def home_page(self, owner_id: int, query: PageQuery) -> list[Tweet]:
        """A page of a home timeline's own rows as tweets: a row of ids only is made whole
        from the tweet store, and one whose tweet is gone is left out."""
        rows = await self.home_rows(owner_id, query)
        missing = [r.tweet_id for r in rows if r.body is None]
        found = await self.get_tweets(missing) if missing else {}
        tweets = []
        for row in rows:
            tweet = unpack_tweet(row.body) if row.body is not None else found.get(row.tweet_id)
            if tweet is not None:
                tweets.append(tweet)
        return tweets

    @abstractmethod
    async def home_rows(self, owner_id: int, query: PageQuery) -> list[HomeRow]:
        """A page of a home timeline's own rows as they are stored, newest first, in one
        request: what a page read needs when the tweets come from elsewhere."""

    @abstractmethod
    async def get_tweets(self, tweet_ids: Sequence[int]) -> dict[int, Tweet]:
        """The tweets of these ids that the tweet store holds (a deleted one is not), by id,
        in one request."""

    @abstractmethod
    async def user_page(self, author_id: int, query: PageQuery, op: str = "page") -> list[Tweet]:
        """A page of an author's own tweets; `op` names the read in the request metrics."""

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
    async def claim_phone(self, event: PhoneRegistered) -> Claim[PhoneRegistered]:
        """Claim the event's phone number for its user, pending, unless it is claimed: the
        claim that holds it (this one if it won). A claim is never released."""

    @abstractmethod
    async def mark_registered(self, event: PhoneRegistered) -> None:
        """Record that the log acknowledged the event of the phone claim."""

    @abstractmethod
    async def phone_claim(self, phone: str) -> Claim[PhoneRegistered] | None:
        """The claim on a phone number, pending or registered, or None."""

    @abstractmethod
    async def phone_owner(self, phone: str) -> int | None:
        """The user whose registered claim holds a phone number, else None."""


@dataclass(frozen=True, slots=True)
class ListCount:
    """A list's member count and the log offset of the last membership change applied."""

    list_id: int
    members: int = 0
    applied_offset: int = -1


class ListStore(ProjectionStore):
    """Lists, their members in both directions, and list timelines kept like home timelines."""

    @abstractmethod
    async def put_list(self, user_list: UserList) -> None:
        """Record a list (from its ListCreated event)."""

    @abstractmethod
    async def get_list(self, list_id: int) -> UserList | None:
        """A list by id, or None."""

    @abstractmethod
    async def set_member(
        self,
        list_id: int,
        member_id: int,
        present: bool,
        ts_us: int,
        count: ListCount | None = None,
    ) -> None:
        """Add or remove a member (both directions) at an event time; with `count`, write it
        in the same atomic write as the member's row."""

    @abstractmethod
    async def member_ids(self, list_id: int, limit: int | None = None) -> list[int]:
        """The members of a list in id order, at most `limit`."""

    @abstractmethod
    async def member_page(self, list_id: int, limit: int, max_id: int | None = None) -> list[int]:
        """Member ids, highest first, at most `limit`, only ids <= max_id."""

    @abstractmethod
    async def member_count(self, list_id: int) -> ListCount:
        """The list's count row; a zero row if none was written."""

    @abstractmethod
    async def joined_us(self, list_id: int, member_id: int) -> int | None:
        """The event time the member joined the list, or None if not a member."""

    @abstractmethod
    async def lists_of(self, member_id: int) -> dict[int, int]:
        """list id -> the event time the user joined it, for every list the user is in."""

    @abstractmethod
    async def add_list_rows(self, list_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        """Upsert (tweet, write time) rows into one list timeline, as one write to its partition."""

    @abstractmethod
    async def remove_list_rows(self, list_id: int, tweet_ids: Sequence[int], ts_us: int) -> None:
        """Remove tweets from one list timeline at a write time."""

    @abstractmethod
    async def list_authors(self, list_id: int) -> list[tuple[int, int]]:
        """(tweet id, author id) of every row in a list timeline."""

    @abstractmethod
    async def trim_list(self, list_id: int, keep: int) -> int:
        """Cut a list timeline to its newest `keep` rows; how many cuts were made (0 or 1)."""

    @abstractmethod
    async def list_page(self, list_id: int, query: PageQuery) -> list[Tweet]:
        """A page of a list timeline, newest first: one partition read."""

    @abstractmethod
    async def put_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        """Upsert tweets into their authors' recent tweets, which a new member's backfill reads."""

    @abstractmethod
    async def delete_recent(self, tweets: Sequence[Tweet], ts_us: Sequence[int]) -> None:
        """Remove tweets from their authors' recent tweets."""

    @abstractmethod
    async def recent(self, author_id: int, count: int) -> list[Tweet]:
        """An author's newest `count` recent tweets, newest first."""

    @abstractmethod
    async def trim_recent(self, author_id: int, keep: int) -> int:
        """Cut an author's recent tweets to the newest `keep`; how many cuts were made (0 or 1)."""


class IndexStore(ProjectionStore):
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


class MessageStore(ProjectionStore):
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
class CheckedTweet:
    """A tweet as ingest's checks know it: posted, perhaps deleted since. The checks keep a
    posted tweet's id alone (what a reply needs); `tweet` is the whole tweet only where they
    hold it (a deletion, or rows written before they kept ids alone), else None: a delete
    takes it from the tweet store (ingest/checks.py)."""

    tweet_id: int
    deleted: bool = False
    tweet: Tweet | None = None


class CheckStore(ProjectionStore):
    """What ingest checks before a follow-up write: tweets, follow edges and list owners.

    Kept by a consumer group of its own that does nothing else, so it lags the log little;
    every write is an upsert at its event's time, so a replay changes nothing.
    """

    @abstractmethod
    async def put_tweets(self, tweet_ids: Sequence[int]) -> None:
        """Record posted tweets by id (a tweet already deleted stays deleted)."""

    @abstractmethod
    async def delete_tweets(self, tweets: Sequence[Tweet]) -> None:
        """Record deleted tweets; a deletion is never undone."""

    @abstractmethod
    async def tweet(self, tweet_id: int) -> CheckedTweet | None:
        """A tweet posted (and perhaps deleted since), or None: whole only if deleted."""

    @abstractmethod
    async def set_edges(
        self, pairs: Sequence[tuple[int, int]], present: bool, ts_us: Sequence[int]
    ) -> None:
        """Add or remove (follower, followee) edges, each at its event time."""

    @abstractmethod
    async def follows(self, follower_id: int, followee_id: int) -> bool:
        """Whether follower_id follows followee_id."""

    @abstractmethod
    async def put_list_owners(self, owners: Sequence[tuple[int, int]]) -> None:
        """Record (list id, owner id) of created lists."""

    @abstractmethod
    async def list_owner(self, list_id: int) -> int | None:
        """The owner of a created list, or None."""


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
    Rows are written only for registered users, so a row proves the registration
    (readers/activity.py relies on it).
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
class TrendTweet:
    """A tweet a trend row counted (delta 1) or, after its delete, uncounted (delta -1), and the
    offset of the record that did it."""

    delta: int
    offset: int


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One log partition's hashtag counts for one minute, the last offset applied, and the
    tweets counted in it (a tweet's every record is in its author's partition and minute)."""

    minute: int
    log_partition: int
    counts: dict[str, int]
    applied_offset: int = -1
    tweets: dict[int, TrendTweet] = field(default_factory=dict)


class TrendStore(ProjectionStore):
    """Hashtag counts per minute and log partition, for sliding windows."""

    @abstractmethod
    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        """The rows for (minute, partition) keys, with their tweets; missing ones are empty."""

    @abstractmethod
    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        """Overwrite rows' counts and offsets, and add their tweets to those each remembers
        (each tweet's entry first, so a row's offset never covers a tweet it does not hold)."""

    @abstractmethod
    async def window(self, minutes: Sequence[int]) -> dict[str, int]:
        """Counts per hashtag summed over these minutes and every partition."""


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """A tweet to index under its search terms (words, `#tag`, `@user id`), at its event time."""

    tweet: Tweet
    terms: tuple[str, ...]
    ts_us: int


class SearchIndex(ProjectionStore):
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


@dataclass(frozen=True, slots=True)
class WorkerLease:
    """A Snowflake worker id held by one owner, with the marks that bound its ids.

    Every id an earlier holder of the worker id issued is at or below floor_ms; this holder
    issues ids only above floor_ms and at or below mark_ms, the high-water mark stored beside
    the lease (engine/worker_ids.py has the rule and its proof).
    """

    worker: int
    owner: str
    floor_ms: int
    mark_ms: int


class WorkerLeases(Service):
    """Leases of Snowflake worker ids (0..1023), each with a high-water mark that only grows.

    A lease reaches settings.worker_lease_s ahead of the time it was taken or renewed at;
    its mark is that deadline. An owner may expire (its process died); the mark never does.
    """

    @abstractmethod
    async def acquire(self, owner: str, now_ms: int, prefer: int = 0) -> WorkerLease:
        """Take a free worker id (one whose mark has passed first, scanning from `prefer`)
        and raise its mark to now_ms + the lease; IdsUnavailable if every id is held."""

    @abstractmethod
    async def renew(self, lease: WorkerLease, now_ms: int) -> WorkerLease:
        """Raise a held lease's mark to now_ms + the lease (never lower); LeaseLost if the id
        is no longer this owner's."""

    @abstractmethod
    async def release(self, lease: WorkerLease) -> None:
        """Free a held worker id at once; its mark stays (nothing if it is no longer held)."""

    @abstractmethod
    async def mark(self, worker: int) -> int:
        """The stored mark of a worker id, or -1 if it was never leased."""


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
    checks: CheckStore
    leases: WorkerLeases

    @abstractmethod
    def consumer(
        self, group: str, topics: Sequence[str], on_revoke: RevokeHook, *, gather_ms: int = 0
    ) -> LogConsumer:
        """A new member of a consumer group, not yet started. With `gather_ms`, a poll may
        wait that long for more records when few are there, so a consumer whose cost is per
        batch, not per record, writes fewer, larger batches; 0 answers with what there is."""

    @abstractmethod
    def tail(self, topics: Sequence[str]) -> LogTail:
        """A group-less reader of the topics, from their end, not yet started."""

    def claim_group(self, group: str, command: str) -> str | None:
        """Take the right to run members of a consumer group in this process: None when taken
        (or when any number of processes may, as on Kafka), else who holds it ("pid N:
        command"). `command` is what this process runs, for the message another one gets."""
        return None

    @abstractmethod
    async def ping_store(self) -> bool:
        """True when the store answers a query."""
