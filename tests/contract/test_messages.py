"""The MessageStore port: each participant's messages and each conversation, by cursor."""

from __future__ import annotations

from engine.ports import Backend
from engine.records import DirectMessage, PageQuery
from tests.contract.helpers import new_id, new_ids, now_us


def message(sender: int, recipient: int) -> DirectMessage:
    return DirectMessage(new_id(), sender, "გიორგი", recipient, "айгүл", "сәлем!", 1_700_000_000)


async def test_both_participants_see_a_message(backend: Backend) -> None:
    a, b = new_ids(2)
    sent = message(a, b)
    await backend.messages.put_message(sent, now_us())
    assert await backend.messages.page(a, PageQuery()) == [sent]
    assert await backend.messages.page(b, PageQuery()) == [sent]
    assert await backend.messages.page(b, PageQuery(), other_id=a) == [sent]


async def test_a_conversation_holds_only_its_two_participants(backend: Backend) -> None:
    a, b, c = new_ids(3)
    first, other, last = message(a, b), message(a, c), message(b, a)
    for m in (first, other, last):
        await backend.messages.put_message(m, now_us())
    assert await backend.messages.page(a, PageQuery()) == [last, other, first]
    assert await backend.messages.page(a, PageQuery(), other_id=b) == [last, first]
    assert await backend.messages.page(a, PageQuery(1, max_id=other.id)) == [other]
    assert await backend.messages.page(a, PageQuery(5, since_id=other.id), b) == [last]
