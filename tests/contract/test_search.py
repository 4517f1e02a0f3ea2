"""The SearchIndex port: every term must match, any script, any case, newest first, by cursor.

The terms come from engine/terms.py on both backends (tweet_terms when indexing, words and
tag_term when asking), so one suite proves both adapters give the same answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from engine.adapters.cassandra import search as cassandra_search
from engine.ids import make_id
from engine.ports import Backend, SearchEntry
from engine.records import Mention, PageQuery, Tweet
from engine.terms import mention_term, tag_term, tweet_terms, words
from tests.contract.helpers import ids_of, new_id, now_us

HOUR_MS = 3_600_000
GEORGIAN = "ეს სისტემა საშუალებას აძლევს მომხმარებელს შეინარჩუნოს საკუთარი მიკრობლოგი"
KAZAKH = "Сәлем! Қысқа мәтіндік жазбалар жазуға арналған веб-сайт"


def unique(base: str) -> str:
    """A word no other test indexes: the base with a hex tail (one run of word characters)."""
    return f"{base}{uuid.uuid4().hex[:10]}"


def a_tweet(
    text: str,
    tweet_id: int | None = None,
    hashtags: tuple[str, ...] = (),
    mentions: tuple[Mention, ...] = (),
) -> Tweet:
    tid = new_id() if tweet_id is None else tweet_id
    return Tweet(tid, 42, "author", text, 1_700_000_000_000, None, hashtags, mentions)


def entries(tweets: list[Tweet], ts_us: int | None = None) -> list[SearchEntry]:
    ts = now_us() if ts_us is None else ts_us
    return [SearchEntry(t, tweet_terms(t), ts) for t in tweets]


def hours_apart(n: int, step_hours: int = 1) -> list[int]:
    """n tweet ids `step_hours` apart, oldest first, the newest an hour ago."""
    now_ms = time.time_ns() // 1_000_000
    return [make_id(now_ms - (n - i) * step_hours * HOUR_MS, 9, i) for i in range(n)]


async def find(backend: Backend, query: str, page: PageQuery | None = None) -> list[int]:
    return ids_of(await backend.search.search(words(query), page or PageQuery(200)))


@pytest.fixture(params=["rare", "walk"])
def rare_limit(request: pytest.FixtureRequest) -> Iterator[str]:
    """Cassandra answers rare queries from one index-wide read, others by walking the hours;
    a limit of 2 makes every query here take the walk."""
    saved = cassandra_search.RARE_LIMIT
    if request.param == "walk":
        cassandra_search.RARE_LIMIT = 2
    yield str(request.param)
    cassandra_search.RARE_LIMIT = saved


def test_words_are_folded_runs_of_letters_marks_and_digits_in_any_script() -> None:
    assert words("СӘЛЕМ, Сәлем! сәлем") == ["сәлем"]
    assert words("ᲛᲘᲙᲠᲝᲑᲚᲝᲒᲘ მიკრობლოგი") == ["მიკრობლოგი"]
    assert words("Straße hello_world x2 नमस्ते") == ["strasse", "hello_world", "x2", "नमस्ते"]
    tweet = a_tweet("Сәлем #Твиттер @bob", hashtags=("Твиттер",), mentions=(Mention(7, "bob"),))
    assert tweet_terms(tweet) == ("сәлем", "твиттер", "bob", "#твиттер", "@7")


async def test_kazakh_and_georgian_words_match_in_any_case(backend: Backend) -> None:
    mark = unique("белгі")
    kz, ka = a_tweet(f"{KAZAKH} {mark}"), a_tweet(f"{GEORGIAN} {mark}")
    await backend.search.add(entries([kz, ka]))
    assert await find(backend, f"сәлем {mark}") == [kz.id]
    assert await find(backend, f"СӘЛЕМ {mark.upper()}") == [kz.id]
    assert await find(backend, f"ЖАЗБАЛАР {mark}") == [kz.id]
    assert await find(backend, f"მიკრობლოგი {mark}") == [ka.id]
    assert await find(backend, f"{'მიკრობლოგი'.upper()} {mark}") == [ka.id]
    assert await find(backend, mark) == [ka.id, kz.id]


async def test_every_word_must_match(backend: Backend) -> None:
    a, b, c = unique("алма"), unique("ბანი"), unique("coal")
    ab, bc, abc = a_tweet(f"{a} {b}"), a_tweet(f"{b} {c}"), a_tweet(f"{c}, {b}; {a}")
    await backend.search.add(entries([ab, bc, abc]))
    assert await find(backend, f"{a} {b}") == [abc.id, ab.id]
    assert await find(backend, f"{b} {c}") == [abc.id, bc.id]
    assert await find(backend, f"{a} {b} {c}") == [abc.id]
    assert await find(backend, f"{a} {unique('жоқ')}") == []
    assert await backend.search.search([], PageQuery()) == []


async def test_hashtag_and_mention_terms_match_entities_only(backend: Backend) -> None:
    tag, uid = unique("Твиттер"), new_id()
    tagged = a_tweet(f"#{tag} hi", hashtags=(tag,))
    worded = a_tweet(f"{tag.lower()} hi")
    mentioning = a_tweet(f"@someone {tag}", mentions=(Mention(uid, "someone"),))
    await backend.search.add(entries([tagged, worded, mentioning]))
    found = await backend.search.search([tag_term(tag.upper())], PageQuery())
    assert ids_of(found) == [tagged.id]
    assert await find(backend, tag) == [mentioning.id, worded.id, tagged.id]
    by_mention = await backend.search.search([mention_term(uid), *words(tag)], PageQuery())
    assert ids_of(by_mention) == [mentioning.id]
    assert found[0] == tagged  # the whole tweet comes back


async def test_pages_go_newest_first_across_hours_and_days(
    backend: Backend, rare_limit: str
) -> None:
    common, rare = unique("жиі"), unique("сирек")
    ids = hours_apart(30, step_hours=5)  # six days, one tweet every five hours
    tweets = [a_tweet(f"{common} {rare if i % 10 == 0 else ''}", tid) for i, tid in enumerate(ids)]
    await backend.search.add(entries(tweets))
    newest = ids[::-1]
    assert await find(backend, common, PageQuery(7)) == newest[:7]
    assert await find(backend, common, PageQuery(7, max_id=newest[6] - 1)) == newest[7:14]
    assert await find(backend, common, PageQuery(200)) == newest
    assert await find(backend, common, PageQuery(5, since_id=newest[3])) == newest[:3]
    assert await find(backend, common, PageQuery(2, newest[10], newest[12])) == newest[10:12]
    rare_ids = [t for i, t in enumerate(ids) if i % 10 == 0][::-1]
    assert await find(backend, f"{rare} {common}", PageQuery(2)) == rare_ids[:2]
    assert await find(backend, rare, PageQuery(2, max_id=rare_ids[1] - 1)) == rare_ids[2:]


async def test_a_removed_tweet_is_never_found_again_by_older_writes(backend: Backend) -> None:
    word = unique("өшті")
    gone, kept = a_tweet(word), a_tweet(word)
    posted_at = now_us()
    await backend.search.add(entries([gone, kept], posted_at))
    await backend.search.remove([(gone, posted_at + 10)])
    assert await find(backend, word) == [kept.id]
    await backend.search.remove([(gone, posted_at + 10)])  # the delete replayed
    await backend.search.add(entries([gone, kept], posted_at))  # the post replayed after it
    assert await find(backend, word) == [kept.id]


async def test_a_delete_applied_before_its_post_keeps_the_post_out(backend: Backend) -> None:
    word = unique("ერთი")
    late = a_tweet(word)
    posted_at = now_us()
    await backend.search.remove([(late, posted_at + 10)])
    await backend.search.add(entries([late], posted_at))
    assert await find(backend, word) == []


async def test_replayed_posts_are_found_once(backend: Backend) -> None:
    word = unique("қайта")
    tweets = [a_tweet(f"{word} {i}") for i in range(3)]
    posted_at = now_us()
    for _ in range(3):
        await backend.search.add(entries(tweets, posted_at))
    await backend.search.add(entries(tweets[:1], posted_at - 5))  # an older write loses
    assert await find(backend, word) == ids_of(tweets)[::-1]
    assert await find(backend, f"{word} 0") == [tweets[0].id]
