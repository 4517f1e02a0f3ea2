"""One `timeline up` and two `timeline ingest` processes on one data folder, or one Kafka and
Cassandra, register users (some handles raced by two processes at once), follow, and post
single tweets, batches and keyed tweets retried once, all in parallel, while one ingest
process is SIGKILLed and started again and the others keep going.

Afterwards, read from the log and the views by an engine on the same folder or cluster:
every acknowledged id is unique; every handle maps to one user_registered event and that
user; every tweet in the log (a superset of those acknowledged: a request the killed
process died under may have landed unanswered) is in every view it belongs to, once; and
every projection equals a rebuild of it from the log.
"""

from __future__ import annotations

import asyncio
import io
import random
import signal
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.config import Settings
from engine.events import (
    MESSAGES_TOPIC,
    TWEETS_TOPIC,
    DirectMessageSent,
    Event,
    TweetPosted,
    UserRegistered,
)
from engine.records import Tweet
from engine.text import handle_key
from tests.integration.conftest import api_of, running_engine
from tests.integration.test_concurrent_ingest import Node, Run, cluster, ready, run_of
from tests.integration.test_rebuild import REBUILDABLE, _snapshot
from tests.integration.test_registrations import logged_events
from tests.support import Api, eventually, settled
from timeline.rebuild import rebuild

pytestmark = pytest.mark.integration

AUTHORS = 4  # each posts more than TIMELINE_FOLLOW_BACKFILL_COUNT (100), so lists trim
FOLLOWERS = 9
FOLLOWS_EACH = 2  # authors each follower follows
LISTS = 3  # of two authors each, owned by followers
RACED_FIRST = 8  # handles raced by two processes before the posting starts
RACED_DURING = 16  # ... and while it goes on, around the kill
WAVES = 6  # a process's posting rounds (the victim's again after its restart)
MORE_WAVES = 12  # at most, while the victim restarts: keeps every home timeline under its cap
BATCH = 20
SINGLES = 4  # per wave, the last with an Idempotency-Key retried once on another process
KILL_AFTER = 40  # tweets the victim acknowledged before it is killed, with more in flight
CATCH_UP_S = 240.0
PROJECTIONS = [*REBUILDABLE, "search", "timelines"]


@dataclass
class Ledger:
    """What the processes acknowledged."""

    victim: Node
    users: dict[str, list[str]] = field(default_factory=dict)  # handle key -> ids of 201s
    tweets: dict[str, str] = field(default_factory=dict)  # tweet id -> author id
    messages: dict[str, str] = field(default_factory=dict)  # message id -> sender id
    acks: list[str] = field(default_factory=list)  # every id acknowledged, a replay once
    victim_tweets: int = 0
    killed: bool = False  # once
    unanswered: int = 0  # requests a process died under (or refused while it was down)

    def tweeted(self, node: Node, results: Iterable[dict[str, Any]]) -> None:
        for result in results:
            if "id" in result:
                self.acks.append(result["id"])
                self.tweets[result["id"]] = result["author_id"]
                self.victim_tweets += node is self.victim
        if node is self.victim and self.victim_tweets >= KILL_AFTER and not self.killed:
            assert node.proc is not None
            node.proc.send_signal(signal.SIGKILL)  # its other requests still in flight
            self.killed = True


@dataclass
class Client:
    """The processes as the clients of this test see them."""

    http: aiohttp.ClientSession
    ledger: Ledger
    tag: str

    async def send(
        self,
        node: Node,
        path: str,
        body: dict[str, Any] | None,
        key: str | None = None,
        method: str = "POST",
    ) -> tuple[int, dict[str, Any]]:
        """The status and body of a request; 0 when the process died under it (or hung)."""
        headers = {"Idempotency-Key": key} if key else {}
        try:
            async with self.http.request(
                method,
                node.url + path,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
            ) as resp:
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self.ledger.unanswered += 1
            return 0, {}

    async def register(self, node: Node, handle: str) -> str | None:
        status, body = await self.send(node, "/v1/users", {"handle": handle})
        if status != 201:
            assert status in (0, 409, 503), (status, body)
            return None
        self.ledger.users.setdefault(handle_key(handle), []).append(body["id"])
        self.ledger.acks.append(body["id"])
        return str(body["id"])

    async def race(self, nodes: tuple[Node, Node], handle: str) -> None:
        """Register one handle on two processes at once, in two cases."""
        await asyncio.gather(
            self.register(nodes[0], handle), self.register(nodes[1], handle.upper())
        )

    async def message(self, node: Node, sender: str, recipient: str) -> None:
        body = {"sender_id": sender, "recipient_id": recipient, "text": f"{self.tag} hello"}
        status, answer = await self.send(node, "/v1/direct_messages", body)
        if status == 202:
            self.ledger.messages[answer["id"]] = sender
            self.ledger.acks.append(answer["id"])

    def text(self, node: Node, wave: int, i: int) -> str:
        hashtag = f" #c{self.tag}{'ab'[i % 2]}" if i % 3 == 0 else ""
        return f"{self.tag} from {node.port} wave {wave} n{i}{hashtag}"

    async def batch(self, node: Node, wave: int, authors: list[str], rng: random.Random) -> None:
        tweets = [
            {"author_id": rng.choice(authors), "text": self.text(node, wave, i)}
            for i in range(BATCH)
        ]
        status, body = await self.send(node, "/v1/tweets/batch", {"tweets": tweets})
        if status == 202:
            self.ledger.tweeted(node, body["results"])

    async def single(self, node: Node, body: dict[str, Any]) -> None:
        status, answer = await self.send(node, "/v1/tweets", body)
        if status == 202:
            self.ledger.tweeted(node, [answer])

    async def keyed(self, node: Node, again: Node, body: dict[str, Any]) -> None:
        """Post with an Idempotency-Key, then retry once on another process: one tweet."""
        key = uuid.uuid4().hex
        first = await self.send(node, "/v1/tweets", body, key)
        retry = await self.send(again, "/v1/tweets", body, key)
        ids = {answer["id"] for status, answer in (first, retry) if status == 202}
        assert len(ids) <= 1, f"one key, two tweets: {ids}"
        for status, answer in (first, retry):
            if status == 202:
                self.ledger.tweeted(node, [answer])
                return

    async def wave(
        self, nodes: list[Node], node: Node, wave: int, authors: list[str], seed: int
    ) -> None:
        """A batch and a few single tweets at once on one process."""
        rng = random.Random(seed)
        again = nodes[(nodes.index(node) + 1) % len(nodes)]
        singles = [
            {"author_id": rng.choice(authors), "text": self.text(node, wave, BATCH + i)}
            for i in range(SINGLES)
        ]
        await asyncio.gather(
            self.batch(node, wave, authors, rng),
            *(self.single(node, body) for body in singles[:-1]),
            self.keyed(node, again, singles[-1]),
        )


@dataclass
class People:
    authors: list[str]
    followers: list[str]
    follows: dict[str, set[str]]  # follower -> authors
    lists: dict[str, set[str]]  # list id -> members
    tried: list[str]  # every handle registered, some on two processes at once


async def gather_people(client: Client, nodes: list[Node]) -> People:
    """Authors and followers registered across the processes in parallel, with handles raced
    by two processes; then every follower follows a few authors, and a few own a list of
    two authors."""
    n = len(nodes)
    plain = [f"p{client.tag}{i}" for i in range(AUTHORS + FOLLOWERS)]
    raced = [f"r{client.tag}{i}" for i in range(RACED_FIRST)]
    ids = await asyncio.gather(
        *(client.register(nodes[i % n], h) for i, h in enumerate(plain)),
        *(client.race((nodes[i % n], nodes[(i + 1) % n]), h) for i, h in enumerate(raced)),
    )
    users = [str(uid) for uid in ids[: len(plain)]]
    assert None not in ids[: len(plain)], "a registration nobody contested failed"
    authors, followers = users[:AUTHORS], users[AUTHORS:]
    rng = random.Random(11)
    follows = {f: set(rng.sample(authors, FOLLOWS_EACH)) for f in followers}

    async def follow(i: int, follower: str, author: str) -> None:
        path = f"/v1/users/{follower}/following/{author}"
        status, body = await client.send(nodes[i % n], path, None, method="PUT")
        assert status == 200, (status, body)

    async def listed(i: int, owner: str) -> tuple[str, set[str]]:
        body = {"owner_id": owner, "name": f"l{i}"}
        status, made = await client.send(nodes[i % n], "/v1/lists", body)
        assert status == 201, (status, made)
        client.ledger.acks.append(made["id"])
        members = set(rng.sample(authors, 2))
        for member in members:
            path = f"/v1/lists/{made['id']}/members/{member}"
            status, body = await client.send(nodes[(i + 1) % n], path, None, method="PUT")
            assert status == 200, (status, body)
        return made["id"], members

    edges = [(f, a) for f in followers for a in sorted(follows[f])]
    await asyncio.gather(*(follow(i, f, a) for i, (f, a) in enumerate(edges)))
    lists = dict(await asyncio.gather(*(listed(i, f) for i, f in enumerate(followers[:LISTS]))))
    return People(authors, followers, follows, lists, [*plain, *raced])


async def storm(client: Client, nodes: list[Node], people: People) -> None:
    """Every process posts in waves, and handles are raced, while the victim is killed once
    it acknowledged KILL_AFTER tweets and started again; the others keep posting until it
    is back, then a few more waves."""
    victim = client.ledger.victim
    back = asyncio.Event()
    authors = people.authors

    async def others(node: Node) -> None:
        extra = 0
        for wave in range(WAVES + MORE_WAVES):
            await client.wave(nodes, node, wave, authors, seed=node.port * 1000 + wave)
            extra += back.is_set()
            if wave >= WAVES and extra >= 2:
                return
            await asyncio.sleep(0.2)  # pacing, so the restart overlaps their posting

    async def victim_posts(first_wave: int) -> None:
        for wave in range(first_wave, first_wave + WAVES):
            if victim.proc is None or victim.proc.poll() is not None:
                return  # killed: stop until it is back
            handle = f"v{client.tag}{wave}"  # a registration in flight when it is killed
            people.tried.append(handle)
            await asyncio.gather(
                client.wave(nodes, victim, wave, authors, seed=victim.port * 1000 + wave),
                client.race((victim, nodes[wave % 2 * 2]), handle),
            )

    async def victim_life() -> None:
        await victim_posts(0)
        assert victim.proc is not None
        assert client.ledger.killed, "the victim was not killed mid-way"
        assert await asyncio.to_thread(victim.proc.wait, 60) == -signal.SIGKILL
        victim.start()  # the same command on the same folder or cluster
        await ready(client.http, victim)
        back.set()
        await victim_posts(WAVES)
        assert victim.proc.poll() is None, "the restarted victim died"

    async def races() -> None:
        pairs = [(victim, nodes[0]), (victim, nodes[2]), (nodes[0], nodes[2])]
        edges = [(a, f) for f, authors in people.follows.items() for a in sorted(authors)]
        for i in range(RACED_DURING):
            handle = f"s{client.tag}{i}"
            people.tried.append(handle)
            await asyncio.gather(
                client.race(pairs[i % len(pairs)], handle),
                client.message(pairs[i % len(pairs)][0], *edges[i % len(edges)]),
            )
            await asyncio.sleep(0.3)  # pacing: spread over the kill and the restart

    await asyncio.gather(victim_life(), races(), *(others(n) for n in nodes if n is not victim))


def registered(graph: list[Event]) -> dict[str, set[tuple[int, int]]]:
    """handle key -> the (event id, user id) of its user_registered records."""
    found: dict[str, set[tuple[int, int]]] = {}
    for e in graph:
        if isinstance(e, UserRegistered):
            found.setdefault(handle_key(e.handle), set()).add((e.event_id, e.user_id))
    return found


def check_ids(ledger: Ledger) -> None:
    twice = [i for i, n in Counter(ledger.acks).items() if n > 1]
    assert not twice, f"ids acknowledged more than once: {twice}"
    assert len(ledger.tweets) >= AUTHORS * BATCH * 2, "too few tweets acknowledged to tell"


async def check_handles(api: Api, ledger: Ledger, people: People, graph: list[Event]) -> None:
    """One 201 at most per handle, one event per handle in the log, and that user is the one
    the handle finds."""
    logged = registered(graph)
    assert set(logged) <= {handle_key(h) for h in people.tried}
    for key, events in logged.items():
        assert len(events) == 1, f"handle {key} registered by {len(events)} events"
    for handle in people.tried:
        acked = ledger.users.get(handle_key(handle), [])
        assert len(acked) <= 1, f"{handle} acknowledged to {acked}"
        found = await api.call("GET", f"/v1/users/by_handle/{handle}", 200, raise_for=False)
        events = logged.get(handle_key(handle), set())
        owner = {str(uid) for _, uid in events}
        assert ({found["id"]} if found else set()) == owner, (handle, found, events)
        if acked:
            assert owner == set(acked), (handle, acked, events)
    won = sum(handle_key(h) in ledger.users for h in people.tried)
    print(f"\nhandles: {won} acknowledged, {len(people.tried)} tried")


async def page_through(api: Api, path: str, key: str, **params: Any) -> list[str]:
    """Every id of a paged view, newest first, following next_max_id."""
    ids: list[str] = []
    query: dict[str, Any] = {"count": 200, **params}
    for _ in range(50):
        page = await api.get(path, **query)
        ids += [item["id"] for item in page[key]]
        if "next_max_id" not in page:
            return ids
        query["max_id"] = page["next_max_id"]
    raise AssertionError(f"{path} did not end within 50 pages")


async def holds_once(
    api: Api, path: str, want: set[str], key: str = "tweets", **params: Any
) -> None:
    """Wait until the view holds exactly these ids, each once."""

    async def diff() -> tuple[list[str], list[str], list[str]]:
        got = await page_through(api, path, key, **params)
        twice = sorted(i for i, n in Counter(got).items() if n > 1)
        return sorted(want - set(got)), sorted(set(got) - want), twice

    await eventually(diff, lambda d: d == ([], [], []), CATCH_UP_S, lambda: path, every_s=0.5)


async def check_views(api: Api, client: Client, people: People, posted: dict[int, Tweet]) -> None:
    """Every tweet of the log in the tweet store, its author's timeline, each follower's home
    timeline, its hashtag's timeline and search, once."""
    for tweet_id, author in client.ledger.tweets.items():
        assert int(tweet_id) in posted, f"acknowledged tweet {tweet_id} is not in the log"
        assert str(posted[int(tweet_id)].author_id) == author
    by_author: dict[str, set[str]] = {a: set() for a in people.authors}
    for t in posted.values():
        by_author[str(t.author_id)].add(str(t.id))
    for author, ids in by_author.items():
        await holds_once(api, f"/v1/users/{author}/tweets", ids)
        await holds_once(api, f"/v1/users/{author}/home_timeline", ids)
    for follower, authors in people.follows.items():
        want = set().union(*(by_author[a] for a in authors))
        await holds_once(api, f"/v1/users/{follower}/home_timeline", want)
    for suffix in "ab":
        tag = f"c{client.tag}{suffix}"
        want = {str(t.id) for t in posted.values() if tag in t.hashtags}
        assert want, f"no tweet has #{tag}"
        await holds_once(api, f"/v1/hashtags/{tag}/tweets", want)
        await holds_once(api, "/v1/search/tweets", want, q=f"#{tag}")
    for list_id, members in people.lists.items():
        want = set().union(*(by_author[a] for a in members))
        await holds_once(api, f"/v1/lists/{list_id}/tweets", want)
    limit = asyncio.Semaphore(16)

    async def stored(t: Tweet) -> None:
        async with limit:
            found = await api.get(f"/v1/tweets/{t.id}")
        assert found["author_id"] == str(t.author_id) and found["text"] == t.text

    await asyncio.gather(*(stored(t) for t in posted.values()))


async def check_messages(api: Api, ledger: Ledger, sent: list[DirectMessageSent]) -> None:
    """Every message of the log in the views of its two participants, once."""
    landed = {str(m.message_id): m for m in sent}
    assert ledger.messages and set(ledger.messages) <= set(landed)
    users = {str(u) for m in sent for u in (m.sender_id, m.recipient_id)}
    for user in sorted(users):
        want = {i for i, m in landed.items() if user in (str(m.sender_id), str(m.recipient_id))}
        await holds_once(api, f"/v1/users/{user}/direct_messages", want, key="messages")


def trimmed(settings: Settings) -> dict[str, int]:
    """The tables whose partitions are trimmed to their newest rows (by tweet id), and how
    many they keep: trims are sampled, so what a trim has not removed yet beyond those differs
    between the live projection and a rebuild (the README says so)."""
    cap = settings.home_timeline_cap
    return {
        "home_timeline": cap,
        "list_timeline": cap,
        "list_author_tweets": settings.follow_backfill_count,
    }


async def comparable(engine: Any, projection: str) -> dict[str, list[tuple[Any, ...]]]:
    """A projection's rows that a rebuild must reproduce: every row, but only the newest
    rows a trimmed partition keeps."""
    tables = await _snapshot(engine, projection)
    for table, keep in trimmed(engine.settings).items():
        if table in tables:
            partitions: dict[Any, list[tuple[Any, ...]]] = {}
            for row in tables[table]:  # (partition key, tweet id, ...) on both backends
                partitions.setdefault(row[0], []).append(row)
            newest = (sorted(p, key=lambda r: -r[1])[:keep] for p in partitions.values())
            tables[table] = sorted((r for rows in newest for r in rows), key=repr)
    return tables


async def check_rebuilds(engine: Any) -> None:
    """Each projection, rebuilt from the log, equals the live one row for row (the newest
    rows, in trimmed tables)."""
    await settled(engine, quiet_s=1.0, timeout_s=120)
    live = {p: await comparable(engine, p) for p in PROJECTIONS}
    for projection, tables in live.items():
        assert any(tables.values()), f"{projection} holds no rows to compare"
    for projection in PROJECTIONS:
        await rebuild(engine.settings, projection, io.StringIO())
        again = await comparable(engine, projection)
        for table, rows in live[projection].items():
            assert again[table] == rows, f"{projection}: {table} differs after a rebuild"


@pytest.fixture
def run(backend_kind: str, tmp_path: Path) -> Iterator[Run]:
    with run_of(backend_kind, tmp_path) as started:
        yield started


async def test_processes_register_and_post_through_a_kill_and_every_view_agrees(run: Run) -> None:
    tag = uuid.uuid4().hex[:6]
    async with (
        cluster(run) as nodes,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
    ):
        client = Client(http, Ledger(victim=nodes[1]), tag)
        people = await gather_people(client, nodes)
        await storm(client, nodes, people)
    ledger = client.ledger
    check_ids(ledger)
    async with running_engine(run.settings) as engine, api_of(engine) as api:
        graph = await logged_events(engine)
        posted = {
            e.tweet.id: e.tweet
            for e in await logged_events(engine, TWEETS_TOPIC)
            if type(e) is TweetPosted
        }
        print(
            f"tweets: {len(ledger.tweets)} acknowledged, {len(posted)} in the log; "
            f"{ledger.unanswered} requests unanswered"
        )
        await check_handles(api, ledger, people, graph)
        await check_views(api, client, people, posted)
        sent = await logged_events(engine, MESSAGES_TOPIC)
        await check_messages(api, ledger, [m for m in sent if isinstance(m, DirectMessageSent)])
        await check_rebuilds(engine)
