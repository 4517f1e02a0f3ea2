"""`GET /v1/search/tweets?q=…`: tweets matching every term of q, newest first, paged.

q is split at spaces. A piece starting with `#` is a hashtag term (matched against the
tweets' hashtags, compared as hashtags are), one starting with `@` and a handle is a mention
term (the handle is resolved to its user, as ingest resolved the tweets' mentions; an
unknown handle matches nothing), and everything else is words (engine/terms.py). Every term
must match. q is 1..MAX_QUERY_CHARS characters and at most MAX_QUERY_TERMS distinct terms;
otherwise 400 `invalid_query` or `too_many_terms`.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass

from aiohttp import web

from engine import registrations
from engine.config import Settings
from engine.errors import InvalidInput
from engine.http import page_query, respond
from engine.ports import Backend
from engine.terms import mention_term, tag_term, words
from engine.text import AT_SIGNS, HASH_SIGNS, handle_at, hashtag_at
from readers.pages import tweet_page

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 8


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a query asks for: words and hashtag terms, and handles still to resolve."""

    terms: tuple[str, ...]
    handles: tuple[str, ...]


def parse_query(raw: str | None) -> SearchQuery:
    """The terms of q, or InvalidInput."""
    if raw is None or not raw.strip():
        raise InvalidInput("q is required and cannot be empty", code="invalid_query")
    if any(unicodedata.category(ch) == "Cs" for ch in raw):
        raise InvalidInput("q is not valid Unicode", code="invalid_query")
    text = unicodedata.normalize("NFC", raw)
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is at most {MAX_QUERY_CHARS} characters", code="invalid_query")
    terms: list[str] = []
    handles: list[str] = []
    for piece in text.split():
        rest = piece
        if piece[0] in HASH_SIGNS and (tag := hashtag_at(piece, 1)):
            terms.append(tag_term(tag))
            rest = piece[1 + len(tag) :]
        elif piece[0] in AT_SIGNS and (handle := handle_at(piece, 1)):
            handles.append(handle.lower())
            rest = piece[1 + len(handle) :]
        terms += words(rest)
    found = SearchQuery(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(handles)))
    if not found.terms and not found.handles:
        raise InvalidInput("q has no words, hashtags or handles", code="invalid_query")
    if len(found.terms) + len(found.handles) > MAX_QUERY_TERMS:
        raise InvalidInput(
            f"q has more than {MAX_QUERY_TERMS} distinct terms", code="too_many_terms"
        )
    return found


class SearchReaders:
    """Serves search over the search projection."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend

    def routes(self) -> list[web.RouteDef]:
        """The search route of API.md."""
        return [web.get("/v1/search/tweets", self.search)]

    async def search(self, request: web.Request) -> web.Response:
        parsed, query = parse_query(request.query.get("q")), page_query(request)
        owners = await asyncio.gather(
            *(registrations.handle_owner(self.backend, h) for h in parsed.handles)
        )
        if any(owner is None for owner in owners):
            return respond(request, {"tweets": []})  # nobody can be mentioned by that handle
        terms = [*parsed.terms, *(mention_term(o) for o in owners if o is not None)]
        tweets = await self.backend.search.search(terms, query.probe())
        return tweet_page(request, tweets, query.count)
