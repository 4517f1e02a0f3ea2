"""Service tokens with scopes, from configuration, compared in constant time, never logged.

TIMELINE_TOKENS lists tokens as ``name=secret:scope+scope`` separated by commas, e.g.
``web=Zk3...:read+write+dm,ops=Q9x...:admin``. Scopes: ``read`` for GET, ``write`` for every
other method, ``dm`` to read direct messages (a route handler marked ``needs_scope("dm")``;
``read`` alone does not), ``admin`` for everything.

With no tokens configured the API is open: a process serving it may then listen only on a
loopback address (and warns at start), unless TIMELINE_AUTH=off says it is open on purpose
(see ``open_access_warning``).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from engine.errors import Forbidden, Unauthorized
from engine.http import CALLER_KEY, Handler, header_text

SCOPES = frozenset({"read", "write", "dm", "admin"})
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
AUTH_MODES = ("on", "off")
SCOPE_ATTRIBUTE = "timeline_scope"
F = TypeVar("F", bound=Callable[..., object])


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


def needs_scope(scope: str) -> Callable[[F], F]:
    """Mark a route handler as needing this scope instead of read or write by method."""
    assert scope in SCOPES

    def mark(handler: F) -> F:
        setattr(handler, SCOPE_ATTRIBUTE, scope)
        return handler

    return mark


def required_scope(request: web.Request) -> str:
    """The handler's own scope (``dm``), else read for GET and HEAD, write for the rest."""
    marked = getattr(request.match_info.handler, SCOPE_ATTRIBUTE, None)
    if isinstance(marked, str):
        return marked
    return "read" if request.method in ("GET", "HEAD") else "write"


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (also IPv4-mapped or in brackets)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def open_access_warning(host: str, tokens: Sequence[Token], auth: str) -> str | None:
    """What to log at start when the API is open, or None when tokens guard it.

    ValueError (one line) when it may not be open: no tokens on an address other than
    loopback, without TIMELINE_AUTH=off.
    """
    if tokens:
        return None
    if auth == "off":
        return (
            f"the API is open: TIMELINE_AUTH=off and TIMELINE_TOKENS is empty, so anyone who "
            f"reaches {host} may read and write everything without a token"
        )
    if not is_loopback(host):
        raise ValueError(
            f"refusing to serve the API without tokens on {host}, which is not a loopback "
            f"address: set TIMELINE_TOKENS, listen on 127.0.0.1, or set TIMELINE_AUTH=off to "
            f"run it open on purpose"
        )
    return (
        f"the API is open: TIMELINE_TOKENS is empty, so every route answers without a token "
        f"(allowed because it listens on the loopback address {host} only)"
    )


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
