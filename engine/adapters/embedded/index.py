"""The embedded hashtag and mention indexes; a hashtag's timeline is one B-tree range."""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.embedded.base import OnDb
from engine.adapters.embedded.lww import Table
from engine.adapters.embedded.rows import (
    decode_tweet,
    fetch_all,
    page_sql,
)
from engine.events import pack_tweet
from engine.ports import (
    IndexStore,
)
from engine.records import PageQuery, Tweet

HASHTAGS = Table("hashtag_timeline", ("tag", "tweet_id"), ("body",))
MENTIONS = Table("mention_timeline", ("user_id", "tweet_id"), ("body",))


class EmbeddedIndex(OnDb, IndexStore):
    """Hashtag and mention timelines, newest first."""

    async def clear(self) -> None:
        await self._empty("hashtag_timeline", "mention_timeline")

    async def add_tag_rows(self, tag_key: str, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(tag_key, t.id, pack_tweet(t), ts) for t, ts in rows]
        await self.db.write("tag_write", lambda c: HASHTAGS.put(c, params))

    async def remove_tag_row(self, tag_key: str, tweet: Tweet, ts_us: int) -> None:
        await self.db.write(
            "tag_delete", lambda c: HASHTAGS.delete(c, [(tag_key, tweet.id, ts_us)])
        )

    async def tag_page(self, tag_key: str, query: PageQuery) -> list[Tweet]:
        sql = page_sql(HASHTAGS.name, "tag = ?")
        params = (tag_key, *query.bounds, query.count)
        rows = await self.db.read("tag_page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]

    async def add_mention_rows(self, user_id: int, rows: Sequence[tuple[Tweet, int]]) -> None:
        params = [(user_id, t.id, pack_tweet(t), ts) for t, ts in rows]
        await self.db.write("mention_write", lambda c: MENTIONS.put(c, params))

    async def remove_mention_row(self, user_id: int, tweet_id: int, ts_us: int) -> None:
        params = [(user_id, tweet_id, ts_us)]
        await self.db.write("mention_delete", lambda c: MENTIONS.delete(c, params))

    async def mention_page(self, user_id: int, query: PageQuery) -> list[Tweet]:
        sql = page_sql(MENTIONS.name, "user_id = ?")
        params = (user_id, *query.bounds, query.count)
        rows = await self.db.read("page", lambda c: fetch_all(c, sql, params))
        return [decode_tweet(r[0]) for r in rows]
