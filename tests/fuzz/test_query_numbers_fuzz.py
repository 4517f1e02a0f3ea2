"""Any text as a number in the query string: a page, or a 4xx that appends nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import LogEnd

NUMBERS = st.text(st.characters(categories=["Nd", "No", "Nl", "Zs"]), max_size=8) | st.builds(
    lambda n: "9" * n, st.integers(4290, 4310)
)


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@given(count=NUMBERS, path=st.sampled_from(["/v1/trends", "/v1/users/1/tweets"]))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_count_is_an_answer_or_invalid_count(
    count: str, path: str, served: tuple[str, LogEnd]
) -> None:
    url, log_end = served
    before = log_end.total()
    status, body = get(f"{url}{path}?{urllib.parse.urlencode({'count': count})}")
    assert status < 500, (path, count, body)
    if status == 400:
        assert body["error"] == {"code": "invalid_count", "message": body["error"]["message"]}  # type: ignore[index]
    if not (count.isascii() and count.isdigit()):
        assert status == 400, (path, count, body)
    assert log_end.total() == before
