import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.auth import find_token, open_access_warning, parse_tokens
from engine.config import Settings
from engine.errors import RateLimited
from engine.limits import PostingLimiter, parse_limits, quota_of_request
from timeline import cli
from timeline.app import PARTS
from timeline.cli import access_warning
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


# Without tokens the API may be open only on a loopback address, or with TIMELINE_AUTH=off.

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]
REACHABLE = ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "", "fe80::1"]


@pytest.mark.parametrize("host", LOOPBACK)
def test_without_tokens_a_loopback_address_runs_open_with_a_warning(host: str) -> None:
    warning = open_access_warning(host, [], "on")
    assert warning is not None and "open" in warning and "TIMELINE_TOKENS" in warning


@pytest.mark.parametrize("host", REACHABLE)
def test_without_tokens_any_other_address_is_refused_in_one_line(host: str) -> None:
    with pytest.raises(ValueError) as err:
        open_access_warning(host, [], "on")
    message = str(err.value)
    assert "\n" not in message and "TIMELINE_TOKENS" in message and "TIMELINE_AUTH=off" in message


@pytest.mark.parametrize("host", REACHABLE + LOOPBACK)
def test_auth_off_runs_open_anywhere_with_a_warning_and_tokens_need_none(host: str) -> None:
    warning = open_access_warning(host, [], "off")
    assert warning is not None and "TIMELINE_AUTH=off" in warning
    assert open_access_warning(host, parse_tokens(f"web={SECRET}:read"), "on") is None


def test_only_the_parts_that_serve_the_api_are_checked() -> None:
    settings = Settings.from_env({"TIMELINE_HOST": "0.0.0.0"})
    for parts in (("ingest",), ("readers",), PARTS):
        with pytest.raises(ValueError):
            access_warning(settings, parts)
    assert access_warning(settings, ("fanout",)) is None
    assert access_warning(settings, ("index",)) is None
    assert access_warning(settings, ()) is None  # migrate, rebuild: they listen on nothing
    with_tokens = Settings.from_env(
        {"TIMELINE_HOST": "0.0.0.0", "TIMELINE_TOKENS": f"w={SECRET}:dm"}
    )
    assert access_warning(with_tokens, PARTS) is None


@pytest.mark.parametrize(
    "env",
    [{"TIMELINE_AUTH": "maybe"}, {"TIMELINE_AUTH": "off", "TIMELINE_TOKENS": f"w={SECRET}:read"}],
)
def test_auth_setting_is_on_or_off_and_off_contradicts_tokens(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(env)


def test_the_open_warning_is_logged_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    started: list[object] = []
    monkeypatch.setattr(cli, "setup_logging", lambda settings: None)
    monkeypatch.setattr(cli.uvloop, "run", lambda coro: started.append(coro.close()))
    for name in ("TIMELINE_TOKENS", "TIMELINE_AUTH", "TIMELINE_HOST"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger="timeline"):
        assert cli.main(["up", "--host", "127.0.0.1"]) == 0
    assert started and any("the API is open" in r.getMessage() for r in caplog.records)


def test_timeline_up_on_every_address_without_tokens_exits_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}
    env["TIMELINE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "timeline", "up", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("timeline: refusing to serve the API without tokens on 0.0.0.0")
    assert list(tmp_path.iterdir()) == [], "nothing was started"


def test_the_dm_scope_is_a_scope() -> None:
    (token,) = parse_tokens(f"inbox={SECRET}:read+dm")
    assert token.scopes == {"read", "dm"}


def test_the_limiter_is_a_sliding_rate_not_a_fixed_window() -> None:
    """Four posts per 60 s: a fixed window would let 4 through at 59 s and 4 more at 60 s;
    here a place frees 15 s after it was taken up."""
    now = [59.0]
    limiter = PostingLimiter([(4, 60)], clock=lambda: now[0])
    for _ in range(4):
        limiter.take(1)
    now[0] = 60.0
    with pytest.raises(RateLimited) as err:
        limiter.take(1)
    assert err.value.retry_after_s == 14  # at 74 s the first place is free again
    now[0] = 74.0
    limiter.take(1)
    with pytest.raises(RateLimited):
        limiter.take(1)


def test_each_post_reports_the_room_left_in_its_tightest_window() -> None:
    now = [0.0]
    limiter = PostingLimiter([(2400, 86400), (50, 1800)], clock=lambda: now[0])
    with quota_of_request() as quotas:
        limiter.take(5)
    (quota,) = quotas
    assert (quota.limit, quota.remaining, quota.reset_s) == (50, 49, 36)
    headers = quota.headers()
    assert headers["RateLimit-Policy"] == "2400;w=86400, 50;w=1800"
    assert headers["X-RateLimit-Remaining"] == headers["RateLimit-Remaining"] == "49"
    with quota_of_request() as quotas:
        for _ in range(49):
            limiter.take(5)
    assert quotas[-1].remaining == 0
    limiter.take(6)  # outside a request: nothing is collected, nothing fails


def test_a_request_the_parser_refuses_is_one_warning_line_not_an_error() -> None:
    from aiohttp.http_exceptions import BadHttpMessage

    from timeline.logs import ClientMistakes

    try:
        raise BadHttpMessage("Invalid char in url query:\n\n  b'GET /?q=\\xd1'")
    except BadHttpMessage:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1,
            "Error handling request from %s", ("127.0.0.1",), sys.exc_info(),
        )  # fmt: skip
    assert ClientMistakes().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (
        "refused a malformed request from 127.0.0.1: Invalid char in url query:"
    )
    line = json.loads(JsonFormatter().format(record))
    assert "exc" not in line and line["level"] == "warning"
