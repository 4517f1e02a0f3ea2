"""The FollowGraph port: edges by event time with tombstones, id pages, counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from engine.errors import StoreUnavailable
from engine.ports import Backend, CountRow
from tests.contract.helpers import new_ids, now_us


async def test_edges_exist_in_both_directions_once_put(backend: Backend) -> None:
    a, b, c = new_ids(3)
    await backend.graph.put_edges([(a, b), (c, b)], [now_us(), now_us()])
    assert await backend.graph.edges_exist([(a, b), (b, a), (c, b)]) == {
        (a, b): True,
        (b, a): False,
        (c, b): True,
    }
    assert await backend.graph.following_ids(a, 10) == [b]
    assert await backend.graph.follower_ids(b, 10) == [c, a]


async def test_id_pages_are_highest_first_limited_and_max_id_inclusive(backend: Backend) -> None:
    star, *fans = new_ids(8)
    await backend.graph.put_edges([(f, star) for f in fans], [now_us()] * len(fans))
    await backend.graph.put_edges([(star, f) for f in fans], [now_us()] * len(fans))
    newest_first = sorted(fans, reverse=True)
    assert await backend.graph.follower_ids(star, 3) == newest_first[:3]
    assert await backend.graph.follower_ids(star, 3, max_id=newest_first[2]) == newest_first[2:5]
    assert await backend.graph.following_ids(star, 100, newest_first[4]) == newest_first[4:]


async def test_a_delete_removes_both_directions(backend: Backend) -> None:
    a, b = new_ids(2)
    ts = now_us()
    await backend.graph.put_edges([(a, b)], [ts])
    await backend.graph.delete_edges([(a, b)], [ts + 1])
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): False}
    assert await backend.graph.follower_ids(b, 10) == []
    assert await backend.graph.following_ids(a, 10) == []


async def test_a_delete_is_not_undone_by_an_older_or_equal_insert(backend: Backend) -> None:
    a, b = new_ids(2)
    ts = now_us()
    await backend.graph.delete_edges([(a, b)], [ts])
    await backend.graph.put_edges([(a, b)], [ts - 5])
    await backend.graph.put_edges([(a, b)], [ts])
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): False}
    assert await backend.graph.follower_ids(b, 10) == []
    await backend.graph.put_edges([(a, b)], [ts + 1])
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): True}
    assert await backend.graph.follower_ids(b, 10) == [a]


async def test_an_older_delete_leaves_a_newer_edge(backend: Backend) -> None:
    a, b = new_ids(2)
    ts = now_us()
    await backend.graph.put_edges([(a, b)], [ts])
    await backend.graph.delete_edges([(a, b)], [ts - 1])
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): True}


async def test_followed_among_picks_the_followed_candidates(backend: Backend) -> None:
    me, x, y, z = new_ids(4)
    await backend.graph.put_edges([(me, x), (me, z), (y, me)], [now_us()] * 3)
    assert sorted(await backend.graph.followed_among(me, [x, y, z])) == sorted([x, z])
    assert await backend.graph.followed_among(me, []) == []


async def test_missing_count_rows_are_zero_rows_before_any_offset(backend: Backend) -> None:
    uid = new_ids(1)[0]
    rows = await backend.graph.count_rows([(uid, 0), (uid, 1)])
    assert rows == {(uid, 0): CountRow(uid, 0), (uid, 1): CountRow(uid, 1)}
    assert rows[(uid, 0)].applied_offset == -1
    assert await backend.graph.follower_count(uid) == 0


async def test_count_rows_are_overwritten_and_summed(backend: Backend) -> None:
    uid = new_ids(1)[0]
    await backend.graph.put_count_rows([CountRow(uid, 0, 5, 1, 10), CountRow(uid, 1, 2, 0, 3)])
    await backend.graph.put_count_rows([CountRow(uid, 0, 4, 1, 11)])
    rows = await backend.graph.count_rows([(uid, 0), (uid, 1)])
    assert rows == {(uid, 0): CountRow(uid, 0, 4, 1, 11), (uid, 1): CountRow(uid, 1, 2, 0, 3)}
    assert await backend.graph.follower_count(uid) == 6


async def test_an_edge_remembers_its_newest_change_even_once_deleted(backend: Backend) -> None:
    a, b, c = new_ids(3)
    t = now_us()
    assert await backend.graph.edges_changed([(a, b)]) == {(a, b): 0}
    await backend.graph.put_edges([(a, b), (a, c)], [t, t])
    await backend.graph.delete_edges([(a, b)], [t + 10])
    await backend.graph.put_edges([(a, b)], [t + 5])  # older than the delete: stays deleted
    assert await backend.graph.edges_changed([(a, b), (a, c), (b, a)]) == {
        (a, b): t + 10,
        (a, c): t,
        (b, a): 0,
    }
    assert await backend.graph.edges_exist([(a, b)]) == {(a, b): False}


async def test_scans_give_every_live_edge_and_the_last_change_of_every_edge(
    backend: Backend,
) -> None:
    a, b, c, d = new_ids(4)
    ts = now_us()
    await backend.graph.put_edges([(a, b), (c, b), (a, d)], [ts, ts + 1, ts + 2])
    await backend.graph.delete_edges([(c, b)], [ts + 5])
    edges = {pair async for page in backend.graph.scan_edges() for pair in page}
    assert {(a, b), (a, d)} <= edges
    assert (c, b) not in edges
    changes = {
        (f, t): changed async for page in backend.graph.scan_changes() for f, t, changed in page
    }
    assert changes[(a, b)] == ts
    assert changes[(a, d)] == ts + 2
    assert changes[(c, b)] == ts + 5


@pytest.mark.parametrize("edge_write", ["INSERT INTO following", "DELETE FROM following"])
async def test_a_change_is_reported_only_once_its_edge_is_written(
    backend: Backend, kind: str, edge_write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "embedded":
        pytest.skip("the embedded store writes an edge and its change in one transaction")
    a, b = new_ids(2)
    ts = now_us()
    cql = cast(Any, backend.graph).cql  # the Cassandra adapter's session
    real = cql.run

    async def run(statement: str, params: Sequence[Any] = (), *, op: str = "query") -> Any:
        if statement.startswith(edge_write):
            raise StoreUnavailable("the write timed out")
        return await real(statement, params, op=op)

    write = backend.graph.put_edges
    if edge_write.startswith("DELETE"):
        await backend.graph.put_edges([(a, b)], [ts - 1])
        write = backend.graph.delete_edges
    with monkeypatch.context() as m:
        m.setattr(cql, "run", run)
        with pytest.raises(StoreUnavailable):
            await write([(a, b)], [ts])
    changed = await backend.graph.edges_changed([(a, b)])
    assert changed[(a, b)] < ts  # applied again in full: the edge's change is not taken as done
