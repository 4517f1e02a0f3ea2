"""Cassandra adapters for phones, lists, hashtag and mention indexes, messages and trends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from engine.adapters.cassandra.lists import CassandraListTables
from engine.adapters.cassandra.store import OnSession
from engine.events import (
    PhoneRegistered,
    encode,
    pack_message,
    pack_tweet,
    unpack_message,
    unpack_tweet,
)
from engine.ids import MAX_ID, id_ms
from engine.ports import (
    Activity,
    ActivityStore,
    Claim,
    IndexStore,
    ListStore,
    MessageStore,
    PhoneBook,
    TrendRow,
    TrendStore,
    TrendTweet,
)
from engine.records import DirectMessage, PageQuery, Tweet, UserList
from engine.registrations import claim_from_row

DAY_MS = 86_400_000
ACTIVITY_IN_CHUNK = 100  # partition keys per IN query
MAX_TAG_DAYS = 3650
TREND_TWEETS_BATCH = 100  # rows of one partition per unlogged batch, well under its limit


class CassandraPhones(OnSession, PhoneBook):
    """Phone numbers claimed, and marked registered, by lightweight transaction."""

    async def claim_phone(self, event: PhoneRegistered) -> Claim[PhoneRegistered]:
        rows = await self.cql.run(
            "INSERT INTO phones (phone, user_id, event, state) VALUES (?, ?, ?, 'pending') "
            "IF NOT EXISTS",
            (event.phone, event.user_id, encode(event)),
            op="claim_phone",
        )
        if rows[0][0]:
            return Claim(event.user_id, event, False)
        # not applied: [applied], then the holder's phone, event, state, user_id
        return claim_from_row(PhoneRegistered, rows[0][-1], rows[0][2], rows[0][3])

    async def mark_registered(self, event: PhoneRegistered) -> None:
        await self.cql.run(
            "UPDATE phones SET state = 'registered' WHERE phone = ? IF user_id = ?",
            (event.phone, event.user_id),
            op="claim_phone",
        )

    async def phone_claim(self, phone: str) -> Claim[PhoneRegistered] | None:
        rows = await self.cql.run(
            "SELECT user_id, event, state FROM phones WHERE phone = ?", (phone,), op="phone_owner"
        )
        return claim_from_row(PhoneRegistered, *rows[0]) if rows else None

    async def phone_owner(self, phone: str) -> int | None:
        claim = await self.phone_claim(phone)
        return claim.user_id if claim is not None and claim.registered else None


class CassandraLists(CassandraListTables, ListStore):
    """Lists, and (in CassandraListTables) members in both directions and list timelines."""

    async def clear(self) -> None:
        await self._truncate(
            "lists", "list_members", "lists_by_member", "list_timeline", "list_author_tweets"
        )

    async def put_list(self, user_list: UserList) -> None:
        await self.cql.run(
            "INSERT INTO lists (list_id, owner_id, name, created_ms) VALUES (?, ?, ?, ?)",
            (user_list.id, user_list.owner_id, user_list.name, user_list.created_ms),
            op="lists",
        )

    async def get_list(self, list_id: int) -> UserList | None:
        rows = await self.cql.run(
            "SELECT owner_id, name, created_ms FROM lists WHERE list_id = ?",
            (list_id,),
            op="lists",
        )
        return UserList(list_id, *rows[0]) if rows else None


class CassandraIndex(OnSession, IndexStore):
    """Hashtag timelines bucketed by UTC day, and mention timelines."""

    async def clear(self) -> None:
        await self._truncate("hashtag_timeline", "hashtag_days", "mention_timeline")

    async def add_tag_rows(self, tag_key: str, rows: Sequence[tuple[Tweet, int]]) -> None:
        by_day: dict[int, list[tuple[Tweet, int]]] = {}
        for tweet, ts in rows:
            by_day.setdefault(id_ms(tweet.id) // DAY_MS, []).append((tweet, ts))
        await asyncio.gather(*(self._add_day(tag_key, d, r) for d, r in by_day.items()))

    async def _add_day(self, tag_key: str, day: int, rows: list[tuple[Tweet, int]]) -> None:
        await self.cql.run(
            "INSERT INTO hashtag_days (tag, day) VALUES (?, ?)", (tag_key, day), op="tag_write"
        )
        await self.cql.run_batch(
            "INSERT INTO hashtag_timeline (tag, day, tweet_id, body) VALUES (?, ?, ?, ?) "
            "USING TIMESTAMP ?",
            [(tag_key, day, t.id, pack_tweet(t), ts) for t, ts in rows],
            op="tag_write",
        )

    async def remove_tag_row(self, tag_key: str, tweet: Tweet, ts_us: int) -> None:
        await self.cql.run(
            "DELETE FROM hashtag_timeline USING TIMESTAMP ? "
            "WHERE tag = ? AND day = ? AND tweet_id = ?",
            (ts_us, tag_key, id_ms(tweet.id) // DAY_MS, tweet.id),
            op="tag_delete",
        )

    async def tag_page(self, tag_key: str, query: PageQuery) -> list[Tweet]:
        upper, lower = query.bounds
        days = await self.cql.run(
            "SELECT day FROM hashtag_days WHERE tag = ? AND day <= ? LIMIT ?",
            (tag_key, id_ms(upper) // DAY_MS if upper != MAX_ID else 2**31 - 1, MAX_TAG_DAYS),
            op="tag_page",
        )
        lowest_day = id_ms(lower) // DAY_MS if lower > 0 else -1
        found: list[Tweet] = []
        for (day,) in days:
            if day < lowest_day or len(found) >= query.count:
                break
            rows = await self.cql.run(
                "SELECT body FROM hashtag_timeline WHERE tag = ? AND day = ? AND tweet_id <= ? "
                "AND tweet_id > ? LIMIT ?",
                (tag_key, day, upper, lower, query.count - len(found)),
                op="tag_page",
            )
            found += [unpack_tweet(r[0]) for r in rows]
        return found

    async def add_mention_rows(self, user_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        await self.cql.run_batch(
            "INSERT INTO mention_timeline (user_id, tweet_id, body) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?",
            [(user_id, t.id, pack_tweet(t), ts) for t, ts in rows],
            op="mention_write",
        )

    async def remove_mention_row(self, user_id: int, tweet_id: int, ts_us: int) -> None:
        await self.cql.run(
            "DELETE FROM mention_timeline USING TIMESTAMP ? WHERE user_id = ? AND tweet_id = ?",
            (ts_us, user_id, tweet_id),
            op="mention_delete",
        )

    async def mention_page(self, user_id: int, query: PageQuery) -> list[Tweet]:
        upper, lower = query.bounds
        rows = await self.cql.run(
            "SELECT body FROM mention_timeline WHERE user_id = ? AND tweet_id <= ? "
            "AND tweet_id > ? LIMIT ?",
            (user_id, upper, lower, query.count),
            op="page",
        )
        return [unpack_tweet(r[0]) for r in rows]


class CassandraMessages(OnSession, MessageStore):
    """Each participant's messages, and each conversation, newest first."""

    async def clear(self) -> None:
        await self._truncate("messages_by_user", "conversations")

    async def put_message(self, message: DirectMessage, ts_us: int) -> None:
        body = pack_message(message)
        a, b = message.sender_id, message.recipient_id
        by_user = (
            "INSERT INTO messages_by_user (user_id, message_id, body) VALUES (?, ?, ?) "
            "USING TIMESTAMP ?"
        )
        convo = (
            "INSERT INTO conversations (user_id, other_id, message_id, body) "
            "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"
        )
        await asyncio.gather(
            self.cql.run(by_user, (a, message.id, body, ts_us), op="dm_write"),
            self.cql.run(by_user, (b, message.id, body, ts_us), op="dm_write"),
            self.cql.run(convo, (a, b, message.id, body, ts_us), op="dm_write"),
            self.cql.run(convo, (b, a, message.id, body, ts_us), op="dm_write"),
        )

    async def page(
        self, user_id: int, query: PageQuery, other_id: int | None = None
    ) -> list[DirectMessage]:
        upper, lower = query.bounds
        if other_id is None:
            rows = await self.cql.run(
                "SELECT body FROM messages_by_user WHERE user_id = ? AND message_id <= ? "
                "AND message_id > ? LIMIT ?",
                (user_id, upper, lower, query.count),
                op="dm_page",
            )
        else:
            rows = await self.cql.run(
                "SELECT body FROM conversations WHERE user_id = ? AND other_id = ? "
                "AND message_id <= ? AND message_id > ? LIMIT ?",
                (user_id, other_id, upper, lower, query.count),
                op="dm_page",
            )
        return [unpack_message(r[0]) for r in rows]


class CassandraTrends(OnSession, TrendStore):
    """Per-minute hashtag counts, one row per minute and partition, and the tweets each row
    counted (trend_tweets, one partition per row)."""

    async def clear(self) -> None:
        await self._truncate("trend_minutes", "trend_tweets")

    async def rows(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], TrendRow]:
        found = await asyncio.gather(*(self._row(key) for key in keys))
        return dict(zip(keys, found, strict=True))

    async def _row(self, key: tuple[int, int]) -> TrendRow:
        row, marks = await asyncio.gather(
            self.cql.run(
                "SELECT counts, applied_offset FROM trend_minutes "
                "WHERE minute = ? AND log_partition = ?",
                key,
                op="trends",
            ),
            self.cql.run(
                "SELECT tweet_id, delta, applied_offset FROM trend_tweets "
                "WHERE minute = ? AND log_partition = ?",
                key,
                op="trends",
            ),
        )
        tweets = {tweet_id: TrendTweet(delta, offset) for tweet_id, delta, offset in marks}
        if not row:
            return TrendRow(key[0], key[1], {}, tweets=tweets)
        return TrendRow(key[0], key[1], dict(row[0][0] or {}), row[0][1], tweets)

    async def put_rows(self, rows: Sequence[TrendRow]) -> None:
        await asyncio.gather(*(self._put_row(r) for r in rows))

    async def _put_row(self, r: TrendRow) -> None:
        marks = [(r.minute, r.log_partition, t, m.delta, m.offset) for t, m in r.tweets.items()]
        await asyncio.gather(  # first: a row's offset never covers a tweet it does not hold
            *(
                self.cql.run_batch(
                    "INSERT INTO trend_tweets (minute, log_partition, tweet_id, delta, "
                    "applied_offset) VALUES (?, ?, ?, ?, ?)",
                    marks[start : start + TREND_TWEETS_BATCH],
                    op="trends",
                )
                for start in range(0, len(marks), TREND_TWEETS_BATCH)
            )
        )
        await self.cql.run(
            "INSERT INTO trend_minutes (minute, log_partition, counts, applied_offset) "
            "VALUES (?, ?, ?, ?)",
            (r.minute, r.log_partition, {k: v for k, v in r.counts.items() if v}, r.applied_offset),
            op="trends",
        )

    async def window(self, minutes: Sequence[int]) -> dict[str, int]:
        found = await asyncio.gather(
            *(
                self.cql.run("SELECT counts FROM trend_minutes WHERE minute = ?", (m,), op="trends")
                for m in minutes
            )
        )
        # summing may touch every tag of the day: a worker thread, not the event loop
        return await asyncio.to_thread(_sum_maps, [c for rows in found for (c,) in rows if c])


def _sum_maps(maps: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in maps:
        total.update(counts)
    return {tag: n for tag, n in total.items() if n > 0}


class CassandraActivity(OnSession, ActivityStore):
    """home_activity: every cell written USING TIMESTAMP = the time it holds (newest wins)."""

    async def mark_read(self, user_id: int, at_us: int, *, reactivated: bool = False) -> None:
        if reactivated:
            await self.cql.run(
                "UPDATE home_activity USING TIMESTAMP ? SET last_read_us = ?, reactivated_us = ? "
                "WHERE user_id = ?",
                (at_us, at_us, at_us, user_id),
                op="activity_write",
            )
            return
        await self.cql.run(
            "UPDATE home_activity USING TIMESTAMP ? SET last_read_us = ? WHERE user_id = ?",
            (at_us, at_us, user_id),
            op="activity_write",
        )

    async def mark_rebuilt(self, user_id: int, at_us: int) -> None:
        await self.cql.run(
            "UPDATE home_activity USING TIMESTAMP ? SET rebuilt_us = ? WHERE user_id = ?",
            (at_us, at_us, user_id),
            op="activity_write",
        )

    async def activity(self, user_id: int) -> Activity | None:
        rows = await self.cql.run(
            "SELECT last_read_us, reactivated_us, rebuilt_us FROM home_activity WHERE user_id = ?",
            (user_id,),
            op="activity_read",
        )
        if not rows or not rows[0][0]:
            return None
        last, reactivated, rebuilt = rows[0]
        return Activity(user_id, last, reactivated or 0, rebuilt or 0)

    async def last_reads(self, user_ids: Sequence[int]) -> dict[int, int]:
        ids = list(dict.fromkeys(user_ids))
        chunks = [ids[i : i + ACTIVITY_IN_CHUNK] for i in range(0, len(ids), ACTIVITY_IN_CHUNK)]
        found = await asyncio.gather(
            *(
                self.cql.run(
                    "SELECT user_id, last_read_us FROM home_activity WHERE user_id IN ?",
                    (chunk,),
                    op="activity_read",
                )
                for chunk in chunks
            )
        )
        return {uid: last for rows in found for uid, last in rows if last}
