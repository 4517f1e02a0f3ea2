import json
import logging

import pytest

from engine.auth import find_token, parse_tokens
from engine.config import Settings
from engine.errors import RateLimited
from engine.limits import PostingLimiter, parse_limits
from timeline.logs import JsonFormatter

pytestmark = pytest.mark.unit
SECRET = "s3cr3t-0123456789abcdef"


def test_tokens_parse_with_scopes_and_match_by_secret() -> None:
    tokens = parse_tokens(f"web={SECRET}:read+write, ops=another-secret-1234567:admin")
    assert [(t.name, sorted(t.scopes)) for t in tokens] == [
        ("web", ["read", "write"]),
        ("ops", ["admin"]),
    ]
    assert find_token(tokens, SECRET.encode()).name == "web"  # type: ignore[union-attr]
    assert find_token(tokens, b"nope") is None
    assert SECRET not in repr(tokens)


@pytest.mark.parametrize(
    "spec", ["web=short:read", f"web={SECRET}:root", f"={SECRET}:read", f"web={SECRET}:"]
)
def test_bad_token_specs_are_refused_without_echoing_the_secret(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_tokens(spec)
    assert SECRET not in str(err.value)
    with pytest.raises(ValueError):
        Settings.from_env({"TIMELINE_TOKENS": spec})


def test_limits_parse_and_off() -> None:
    assert parse_limits("2400/86400,50/1800") == [(2400, 86400), (50, 1800)]
    assert parse_limits("off") == []
    with pytest.raises(ValueError):
        parse_limits("ten/60")


def test_limiter_counts_each_window_and_says_when_to_retry() -> None:
    now = [1000.0]
    limiter = PostingLimiter([(3, 60), (5, 3600)], clock=lambda: now[0])
    for _ in range(3):
        limiter.take(7)
    with pytest.raises(RateLimited) as err:
        limiter.take(7)
    assert err.value.status == 429 and 1 <= err.value.retry_after_s <= 61
    limiter.take(8)  # another user has its own windows
    now[0] += 60
    limiter.take(7)
    limiter.take(7)
    with pytest.raises(RateLimited):
        limiter.take(7)  # the hourly window is full: 5 taken


def test_json_log_lines() -> None:
    record = logging.LogRecord("timeline", logging.INFO, __file__, 1, "hello %s", ("Әлем",), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello Әлем" and line["level"] == "info" and line["ts"].endswith("+00:00")
