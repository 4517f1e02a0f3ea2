"""What every HTTP service shares: content negotiation, errors, paging, and the ops routes."""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

import msgpack
import msgspec
import orjson
from aiohttp import hdrs, web
from prometheus_client import Counter, Histogram

from engine.errors import (
    Busy,
    InvalidInput,
    RateLimited,
    TimelineError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from engine.ids import decimal, parse_id
from engine.metrics import Metrics
from engine.records import DirectMessage, Mention, PageQuery, Tweet, User
from schemas import OPENAPI_FILE
from schemas.apidoc import render_html

log = logging.getLogger(__name__)
MSGPACK = "application/msgpack"
JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CALLER_KEY = web.RequestKey("caller", str)
MAX_PAGE = 200
MAX_BODY_DEPTH = 32  # arrays and objects within each other; API bodies need 3
_JSON_DECODER = msgspec.json.Decoder()
CLIENT_CLOSED = 499  # nginx's status for a request whose client went away before the answer


def rfc3339(ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC with milliseconds (remembered for the last
    RFC3339_KEPT milliseconds asked: a batch's tweets, and a page's, share a few)."""
    text = _RFC3339.get(ms)
    if text is None:
        if len(_RFC3339) >= RFC3339_KEPT:
            _RFC3339.clear()
        text = _RFC3339[ms] = f"{_utc_second(ms // 1000)}.{ms % 1000:03d}Z"
    return text


RFC3339_KEPT = 8192
_RFC3339: dict[int, str] = {}


@functools.lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def tweet_json(tweet: Tweet) -> dict[str, Any]:
    """A tweet in the shape of API.md."""
    return {
        "id": str(tweet.id),
        "author_id": str(tweet.author_id),
        "author_handle": tweet.author_handle,
        "text": tweet.text,
        "created_at": rfc3339(tweet.created_ms),
        "in_reply_to_id": None if tweet.in_reply_to_id is None else str(tweet.in_reply_to_id),
        "entities": {
            "hashtags": list(tweet.hashtags),
            "mentions": [{"id": str(m.user_id), "handle": m.handle} for m in tweet.mentions],
            "urls": list(tweet.urls),
        },
    }


def encode_json(payload: Any) -> bytes:
    """JSON as every answer is written: compact, UTF-8, non-ASCII text as is.

    orjson writes it (the same bytes as the standard library's encoder for every answer,
    some fifteen times faster); a value it does not take (an integer beyond 64 bits, a
    type it does not know) falls back to the standard encoder, which answers as before.
    A payload may hold values already encoded (EncodedJson, see tweet_fragment)."""
    try:
        return orjson.dumps(payload, default=_fragment, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _JSON_ENCODER.encode(payload).encode()


class EncodedJson:
    """A value of an answer's payload already encoded as JSON (a tweet: tweet_fragment)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _fragment(value: Any) -> orjson.Fragment:
    """orjson's `default`: an EncodedJson is written as it is."""
    if type(value) is EncodedJson:
        return orjson.Fragment(value.raw)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decoded_fragment(value: Any) -> Any:
    """The value an EncodedJson holds, for the encoders other than orjson."""
    if type(value) is EncodedJson:
        return orjson.loads(value.raw)
    raise TypeError(f"{type(value).__name__} is not serializable")


_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_decoded_fragment
)


def pack_payload(payload: Any) -> bytes:
    """An answer's payload as msgpack (fragments of JSON decoded into it)."""
    return bytes(msgpack.packb(payload, use_bin_type=True, default=_decoded_fragment))


_dumps = orjson.dumps
_TWEET_TEMPLATE = (
    b'{"id":"%d","author_id":"%d","author_handle":%b,"text":%b,"created_at":"%b",'
    b'"in_reply_to_id":%b,"entities":{"hashtags":%b,"mentions":%b,"urls":%b}}'
)


def tweet_bytes(tweet: Tweet) -> bytes:
    """A tweet's JSON (tweet_json) encoded as in an answer: what a page of tweets is made of.

    Written from a template, its strings (and arrays of strings) encoded by orjson: the same
    bytes as encode_json(tweet_json(tweet)) in a third of the time, with no dict built."""
    try:
        reply = tweet.in_reply_to_id
        mentions = tweet.mentions
        return _TWEET_TEMPLATE % (
            tweet.id,
            tweet.author_id,
            _dumps(tweet.author_handle),
            _dumps(tweet.text),
            rfc3339(tweet.created_ms).encode(),
            b"null" if reply is None else b'"%d"' % reply,
            _dumps(tweet.hashtags) if tweet.hashtags else b"[]",
            _mentions_bytes(mentions) if mentions else b"[]",
            _dumps(tweet.urls) if tweet.urls else b"[]",
        )
    except TypeError:  # a string orjson refuses (a lone surrogate): the general way
        return encode_json(tweet_json(tweet))


def _mentions_bytes(mentions: Sequence[Mention]) -> bytes:
    return b"[%b]" % b",".join(
        b'{"id":"%d","handle":%b}' % (m.user_id, _dumps(m.handle)) for m in mentions
    )


def tweet_fragment(tweet: Tweet) -> EncodedJson:
    """A tweet for an answer's payload, already encoded (tweet_bytes)."""
    return EncodedJson(tweet_bytes(tweet))


def user_json(user: User) -> dict[str, Any]:
    """A user in the shape of API.md."""
    return {
        "id": str(user.id),
        "handle": user.handle,
        "display_name": user.display_name,
        "created_at": rfc3339(user.created_ms),
        "followers_count": user.followers_count,
        "following_count": user.following_count,
    }


def message_json(message: DirectMessage) -> dict[str, Any]:
    """A direct message in API answers."""
    return {
        "id": str(message.id),
        "sender_id": str(message.sender_id),
        "sender_handle": message.sender_handle,
        "recipient_id": str(message.recipient_id),
        "recipient_handle": message.recipient_handle,
        "text": message.text,
        "created_at": rfc3339(message.created_ms),
    }


MSGPACK_TYPES = (MSGPACK, "application/x-msgpack")


def wants_msgpack(request: web.Request) -> bool:
    """True when the client's Accept prefers msgpack to JSON (q-values honoured)."""
    accept = request.headers.get("Accept", "")
    return "msgpack" in accept and prefers_msgpack(accept)


@functools.lru_cache(maxsize=256)
def prefers_msgpack(accept: str) -> bool:
    """Whether an Accept header asks for msgpack (application/msgpack or x-msgpack) at a
    q-value above 0 and at least JSON's (application/json, else application/* or */*)."""
    q_msgpack, q_json, q_any = 0.0, None, 0.0
    for media_range in accept.split(","):
        media, _, params = media_range.partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0  # a q-value that is not one: the range counts for nothing
        if media in MSGPACK_TYPES:
            q_msgpack = max(q_msgpack, q)
        elif media == JSON:
            q_json = q if q_json is None else max(q_json, q)
        elif media in ("application/*", "*/*"):
            q_any = max(q_any, q)
    return q_msgpack > 0 and q_msgpack >= (q_any if q_json is None else q_json)


def encode_body(payload: Any, as_msgpack: bool) -> tuple[bytes, str]:
    """Payload bytes and their content type."""
    if as_msgpack:
        return pack_payload(payload), MSGPACK
    return encode_json(payload) + b"\n", JSON  # a JSON answer ends its line, as curl shows it


NEGOTIATED = {"Vary": "Accept"}  # the answer's type follows the request's Accept


def respond(request: web.Request, payload: Any, status: int = 200) -> web.Response:
    """Answer with JSON, or msgpack when the client asked for it."""
    body, content_type = encode_body(payload, wants_msgpack(request))
    return web.Response(body=body, status=status, content_type=content_type, headers=NEGOTIATED)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON or msgpack object; InvalidInput when it is neither."""
    as_msgpack = _body_is_msgpack(request)
    raw = await request.read()
    try:
        if as_msgpack:
            data, check_text = msgpack.unpackb(raw, raw=False), False
        else:
            data, check_text = _json_body(raw)
    except UnicodeDecodeError as e:
        raise InvalidInput("the body is not valid UTF-8", code="invalid_encoding") from e
    except RecursionError as e:
        raise _too_deep() from e
    except (ValueError, msgpack.UnpackException) as e:
        raise InvalidInput(
            "the body is not a valid JSON or msgpack document", code="invalid_body"
        ) from e
    if not isinstance(data, dict):
        raise InvalidInput("the body must be an object", code="invalid_body")
    _check_tree(data, check_text=check_text)
    return data


def _json_body(raw: bytes) -> tuple[Any, bool]:
    """A JSON body, and whether its strings still need the Unicode check.

    msgspec reads it (several times faster than the standard library, the same values for
    every body it takes: integers of any size, the last of repeated keys) and refuses what
    the standard library would take or refuse with another error (a lone surrogate escape,
    NaN, a number beyond a float, deep nesting): such a body is read again by the standard
    library, so that it is answered as before. Strict UTF-8 decoding refuses surrogates: a
    string can then hold one only from a \\u escape, so only such bodies have their text
    checked."""
    try:
        return _JSON_DECODER.decode(raw), False  # it takes no string that is not Unicode text
    except (msgspec.DecodeError, RecursionError):
        return json.loads(raw.decode("utf-8")), b"\\u" in raw


def _body_is_msgpack(request: web.Request) -> bool:
    """Whether the body is msgpack (else JSON, also when no Content-Type is sent);
    UnsupportedMediaType for any other type."""
    if hdrs.CONTENT_TYPE not in request.headers:
        return False
    media = request.content_type
    if media in MSGPACK_TYPES:
        return True
    if media == JSON or (media.startswith("application/") and media.endswith("+json")):
        return False
    raise UnsupportedMediaType(
        f"the body must be application/json or application/msgpack, not {media}"
    )


def _too_deep() -> InvalidInput:
    return InvalidInput(
        f"the body nests arrays and objects more than {MAX_BODY_DEPTH} deep", code="invalid_body"
    )


def _check_tree(data: Any, *, check_text: bool = True) -> None:
    """Refuse bodies nested deeper than MAX_BODY_DEPTH, and (with check_text) strings that
    are not Unicode text (JSON can escape lone surrogates); without recursion, whatever the
    depth. Only arrays and objects are stacked: a body of many strings costs one pass."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            if check_text:
                for key in value:
                    if isinstance(key, str):
                        _check_unicode(key)
            items: Any = value.values()
        else:
            items = value
        for item in items:
            if isinstance(item, str):
                if check_text:
                    _check_unicode(item)
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput("the body holds invalid Unicode", code="invalid_encoding") from e


def header_text(request: web.Request, name: str) -> str | None:
    """A request header, or None; InvalidInput (invalid_header) when its bytes are not UTF-8."""
    value = request.headers.get(name)
    if value is not None:
        try:
            value.encode("utf-8")  # aiohttp keeps bytes that are not UTF-8 as surrogates
        except UnicodeEncodeError as e:
            raise InvalidInput(
                f"the {name} header is not valid UTF-8", code="invalid_header"
            ) from e
    return value


def query_int(request: web.Request, name: str, default: int, highest: int, code: str) -> int:
    """A whole number 1..highest from the query string, written in ASCII digits."""
    raw = request.query.get(name)
    if raw is None:
        return default
    value = decimal(raw, max_digits=19)
    if value is None or not 1 <= value <= highest:
        raise InvalidInput(f"{name} must be 1..{highest}", code=code)
    return value


def path_id(request: web.Request, name: str) -> int:
    """A Snowflake id from the URL path."""
    return parse_id(request.match_info[name], what=name)


def body_id(data: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """A Snowflake id from a body field, given as a decimal string or an integer."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", code="missing_field")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"{name} must be an id", code="invalid_id")
    return parse_id(str(value), what=name)


def page_query(request: web.Request) -> PageQuery:
    """count / max_id / since_id from the query string."""
    q = request.query
    count = query_int(request, "count", 20, MAX_PAGE, "invalid_count")
    max_id = parse_id(q["max_id"], what="max_id") if "max_id" in q else None
    since_id = parse_id(q["since_id"], what="since_id") if "since_id" in q else None
    return PageQuery(count, max_id, since_id)


def page_json(items: list[Any], count: int, key: str, last_id: int | None) -> dict[str, Any]:
    """A page; next_max_id only when there is more (the caller fetched count + 1 items)."""
    page: dict[str, Any] = {key: items[:count]}
    if len(items) > count and last_id is not None:
        page["next_max_id"] = str(last_id - 1)
    return page


def respond_tweets(
    request: web.Request, tweets: Sequence[bytes], count: int, last_id: int | None
) -> web.Response:
    """A page of tweets already encoded (tweet_bytes), newest first, with count + 1 of them
    when there is more: the answer respond() gives for the page_json of their tweet_json, the
    JSON joined from the encoded tweets without encoding any of them again."""
    if wants_msgpack(request):
        return respond(
            request, page_json([json.loads(t) for t in tweets], count, "tweets", last_id)
        )
    body = b'{"tweets":[' + b",".join(tweets[:count]) + b"]"
    if len(tweets) > count and last_id is not None:
        body += b',"next_max_id":"%d"' % (last_id - 1)
    return web.Response(body=body + b"}\n", content_type=JSON, headers=NEGOTIATED)


def error_payload(code: str, message: str) -> dict[str, Any]:
    """The error shape of API.md."""
    return {"error": {"code": code, "message": message}}


def error_response(request: web.Request, err: TimelineError) -> web.Response:
    """A TimelineError as its HTTP answer."""
    response = respond(request, error_payload(err.code, err.message), err.status)
    if isinstance(err, Unavailable | RateLimited | Busy):
        response.headers["Retry-After"] = str(err.retry_after_s)
    if isinstance(err, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="timeline"'

    return response


REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 200
access_log = logging.getLogger("timeline.access")


def request_id(request: web.Request, make: bool) -> str | None:
    """The client's X-Request-Id (printable ASCII, at most MAX_REQUEST_ID characters), else
    a new one when `make`, else None."""
    given = request.headers.get(REQUEST_ID_HEADER)
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return uuid.uuid4().hex if make else None


def error_middleware(metrics: Metrics, access: bool = False) -> web.middleware:  # type: ignore[valid-type]
    """Turn errors into API.md's error shape, and count every answer in `metrics` (each
    series looked up once, as the same labels give the same series).

    Every answer echoes the request's X-Request-Id, and every log line written while the
    request runs carries it (timeline/logs.py). With `access` (TIMELINE_ACCESS_LOG=on), a
    request without one gets one made, and each answer is logged on `timeline.access`:
    method, route template, status, latency, bytes, request id."""
    timers: dict[tuple[str, str], Histogram] = {}
    counters: dict[tuple[tuple[str, str], int], Counter] = {}

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        rid = request_id(request, access)
        reset = REQUEST_ID.set(rid) if rid is not None else None
        try:
            response = await _answered(request, handler, metrics)
        finally:
            if reset is not None:
                REQUEST_ID.reset(reset)
        if rid is not None and not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
        key = (request.method, route_name)
        timer = timers.get(key)
        if timer is None:
            timer = timers[key] = metrics.http_seconds.labels(*key)
        counter = counters.get((key, response.status))
        if counter is None:
            labels = (*key, str(response.status))
            counter = counters[key, response.status] = metrics.http_requests.labels(*labels)
        counter.inc()
        elapsed = time.perf_counter() - started
        timer.observe(elapsed)
        if access:
            body = getattr(response, "body", None)
            sent = len(body) if isinstance(body, bytes | bytearray) else response.content_length
            access_log.info(
                "%s %s %d %.1f ms",
                request.method,
                route_name,
                response.status,
                elapsed * 1000,
                extra={
                    "access": {
                        "method": request.method,
                        "route": route_name,
                        "status": response.status,
                        "ms": round(elapsed * 1000, 3),
                        "bytes": sent,
                        "request_id": rid,
                    }
                },
            )
        return response

    return answer


async def _answered(request: web.Request, handler: Handler, metrics: Metrics) -> web.StreamResponse:
    """The handler's answer, or the error shape of what it raised."""
    try:
        response = await handler(request)
    except TimelineError as err:
        response = error_response(request, err)
        metrics.errors.labels(err.code).inc()
    except ConnectionResetError:  # the client went away mid-request: no answer, no error
        response = web.Response(status=CLIENT_CLOSED)
    except web.HTTPException as exc:
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = respond(request, error_payload(code, exc.reason), exc.status)
        if hdrs.ALLOW in exc.headers:  # 405: the methods the route takes
            response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
        metrics.errors.labels(code).inc()
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = respond(request, error_payload("internal_error", "internal error"), 500)
        metrics.errors.labels("internal_error").inc()
    return response


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def ops_routes(
    metrics: Metrics, ready: Callable[[], Awaitable[tuple[bool, dict[str, bool]]]]
) -> list[web.RouteDef]:
    """/healthz, /readyz (ready() gives the verdict and every check), /metrics, /openapi.json."""

    async def healthz(request: web.Request) -> web.Response:
        return respond(request, {"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        ok, checks = await ready()
        return respond(request, {"ready": ok, "checks": checks}, 200 if ok else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    document = json.loads(OPENAPI_FILE.read_bytes())
    served: dict[str, bytes] = {}

    async def openapi(request: web.Request) -> web.Response:
        """The document with `servers` naming this process as the request reached it."""
        url = f"{request.scheme}://{request.host}"
        body = served.get(url)
        if body is None:
            here = {"url": url, "description": "this process (TIMELINE_HOST, TIMELINE_PORT)"}
            body, _ = encode_body({**document, "servers": [here]}, False)
            if len(served) < 64:  # a few names reach one process; others are made each time
                served[url] = body
        return web.Response(body=body, content_type=JSON)

    page: list[bytes] = []

    async def docs(request: web.Request) -> web.Response:
        """The API reference as one page (schemas/apidoc.py), rendered once, no outside assets."""
        if not page:
            page.append(render_html(document).encode())
        return web.Response(body=page[0], content_type="text/html", charset="utf-8")

    return [
        web.get("/docs", docs),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics_page),
        web.get("/openapi.json", openapi),
    ]
