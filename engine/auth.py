"""Service tokens with scopes, from configuration, compared in constant time, never logged.

TIMELINE_TOKENS lists tokens as ``name=secret:scope+scope`` separated by commas, e.g.
``web=Zk3...:read+write,ops=Q9x...:admin``. With no tokens configured the API is open.
Scopes: ``read`` for GET, ``write`` for every other method, ``admin`` for everything.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from engine.errors import Forbidden, Unauthorized
from engine.http import CALLER_KEY, Handler, header_text

SCOPES = frozenset({"read", "write", "admin"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True, slots=True)
class Token:
    """A named service token and what it may do."""

    name: str
    secret: bytes
    scopes: frozenset[str]

    def __repr__(self) -> str:  # never show the secret
        return f"Token({self.name!r}, scopes={sorted(self.scopes)})"


def parse_tokens(spec: str) -> list[Token]:
    """Tokens from the TIMELINE_TOKENS format; ValueError names the bad entry, not its secret."""
    tokens = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, rest = entry.partition("=")
        secret, _, scopes = rest.rpartition(":")
        wanted = frozenset(filter(None, scopes.split("+")))
        if not name or len(secret) < 16 or not wanted or not wanted <= SCOPES:
            raise ValueError(
                f"TIMELINE_TOKENS entry {name or '?'!r} must be name=secret:scope+scope with a "
                f"secret of 16+ characters and scopes from {sorted(SCOPES)}"
            )
        tokens.append(Token(name, secret.encode(), wanted))
    return tokens


def required_scope(request: web.Request) -> str:
    """read for GET and HEAD, write for everything else."""
    return "read" if request.method in ("GET", "HEAD") else "write"


def find_token(tokens: list[Token], presented: bytes) -> Token | None:
    """The token matching the secret; every token is compared, each in constant time."""
    found = None
    for token in tokens:
        if hmac.compare_digest(token.secret, presented):
            found = token
    return found


def auth_middleware(tokens: list[Token]) -> web.middleware:  # type: ignore[valid-type]
    """Require a bearer token with the right scope on every path but health and metrics."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tokens and request.path not in OPEN_PATHS:
            header = header_text(request, "Authorization") or ""
            scheme, _, presented = header.partition(" ")
            token = find_token(tokens, presented.strip().encode())
            if scheme.lower() != "bearer" or token is None:
                raise Unauthorized("a valid bearer token is required")
            scope = required_scope(request)
            if scope not in token.scopes and "admin" not in token.scopes:
                raise Forbidden(f"this token lacks the {scope} scope", code="insufficient_scope")
            request[CALLER_KEY] = token.name
        return await handler(request)

    return check
